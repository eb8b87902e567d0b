/**
 * Who is this request, and may it have its configuration? Bcfg2's AuthenticateConnection
 * as a pure function, with the departures in decision 13 (docs/decisions.md)–15:
 *  - a uuid client's source address is checked too (unless floating);
 *  - a certificate-only client needs no Authorization header;
 *  - no reverse DNS: an address must be listed in clients.xml (client or Alias), or the client floats;
 *  - only clients listed in clients.xml authenticate (decision 8 (docs/decisions.md));
 *  - bootstrap state comes from the server's own store (the caller passes bootstrapDone).
 * The reason in a failure is for the server's log only; the client sees a bare 401.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { AuthType, ClientAuth } from '../types.js';

/** How the client was identified: certificate CN, source address (user root), uuid, or client name as user. */
export type AuthMethod = 'cert' | 'address' | 'uuid' | 'name';

export interface Credentials {
  /**
   * The peer certificate, when the client presented one: trusted when it chains to the CA and is
   * valid for client authentication now; otherwise `problem` says why (OpenSSL's code, for the log).
   */
  readonly cert: { readonly commonNames: readonly string[]; readonly trusted: boolean; readonly problem?: string } | null;
  /** HTTP Basic credentials, when sent. */
  readonly basic: { readonly user: string; readonly password: string } | null;
  /** Source IP address of the connection. */
  readonly address: string;
}

export interface AuthPolicy {
  /** [communication] password */
  readonly globalPassword: string | null;
  /** [communication] authentication (default cert+password) */
  readonly defaultAuth: AuthType;
}

export type AuthDecision =
  | {
      readonly ok: true;
      readonly client: string;
      readonly method: AuthMethod;
      readonly authType: AuthType;
      /** A bootstrap client that used its password: this run is the one bootstrap run. */
      readonly bootstrapRun: boolean;
    }
  | { readonly ok: false; readonly client: string | null; readonly method: AuthMethod | null; readonly reason: string };

/** Lookup tables over the clients' auth records; build once per inventory. */
export interface AuthIndex {
  /** Lower-cased client names and alias names → the client. */
  readonly byName: ReadonlyMap<string, ClientAuth>;
  readonly byUuid: ReadonlyMap<string, ClientAuth>;
  /** Normalised address → the clients that own it (their own address or an alias's). */
  readonly byAddress: ReadonlyMap<string, readonly ClientAuth[]>;
}

/**
 * `::ffff:1.2.3.4` (an IPv4 peer on a dual-stack socket) is 1.2.3.4; an IPv6 address is written
 * the one canonical way (`2001:DB8:0::1` is `2001:db8::1`), as the socket reports it.
 */
export function normalizeAddress(address: string): string {
  const a = address.trim().toLowerCase();
  if (a.startsWith('::ffff:') && a.includes('.')) return a.slice(7);
  // (URL cannot parse a zone id such as %eth0; such an address is compared as written.)
  return isIP(a) === 6 && !a.includes('%') ? new URL(`http://[${a}]/`).hostname.slice(1, -1) : a;
}

export function indexClients(clients: readonly ClientAuth[]): AuthIndex {
  const byName = new Map<string, ClientAuth>();
  const byUuid = new Map<string, ClientAuth>();
  const byAddress = new Map<string, ClientAuth[]>();
  for (const c of clients) byName.set(c.hostname.toLowerCase(), c);
  for (const c of clients) {
    // A client's own name wins over another client's alias of the same name.
    for (const a of c.aliases) if (!byName.has(a.name.toLowerCase())) byName.set(a.name.toLowerCase(), c);
    if (c.uuid) byUuid.set(c.uuid, c);
    for (const addr of new Set(c.addresses.map(normalizeAddress))) {
      const owners = byAddress.get(addr) ?? [];
      if (!owners.includes(c)) owners.push(c);
      byAddress.set(addr, owners);
    }
  }
  return { byName, byUuid, byAddress };
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time string comparison (over fixed-length hashes, so lengths do not leak either). */
export function secretEquals(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** Split an `Authorization: Basic …` header at the first `:` (RFC 7617; decision 14 (docs/decisions.md)). */
export function parseBasic(header: string | undefined): { user: string; password: string } | null {
  if (!header) return null;
  const m = /^\s*basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** An empty password (`password=""`, `password =`) is no password: it never authenticates anyone. */
const isSet = (password: string | null): password is string => password !== null && password !== '';

function passwordMatches(client: ClientAuth, given: string, policy: AuthPolicy): boolean {
  // Evaluate both comparisons so the time taken does not say which password was tried.
  const own = isSet(client.password) && secretEquals(given, client.password);
  const global = isSet(policy.globalPassword) && secretEquals(given, policy.globalPassword);
  return client.secure ? own : own || global;
}

export function authenticate(
  creds: Credentials,
  index: AuthIndex,
  policy: AuthPolicy,
  bootstrapDone: (client: string) => boolean,
): AuthDecision {
  const address = normalizeAddress(creds.address);
  let method: AuthMethod;
  let client: ClientAuth | undefined;
  const fail = (reason: string): AuthDecision => ({ ok: false, client: client?.hostname ?? null, method: method ?? null, reason });

  // 1. Identify the client.
  if (creds.cert) {
    method = 'cert';
    if (!creds.cert.trusted) return fail(`certificate not trusted (${creds.cert.problem ?? 'not issued by the CA, or expired'})`);
    if (creds.cert.commonNames.length !== 1) return fail('certificate must carry exactly one common name');
    client = index.byName.get(creds.cert.commonNames[0]!.toLowerCase());
    if (!client) return fail('certificate common name is not a client in clients.xml');
    const user = creds.basic?.user;
    if (user !== undefined && user !== 'root' && index.byName.get(user.toLowerCase()) !== client && index.byUuid.get(user) !== client) {
      return fail('user does not match the certificate');
    }
  } else if (!creds.basic) {
    method = 'address';
    return fail('no certificate and no credentials');
  } else if (creds.basic.user === 'root') {
    method = 'address';
    const owners = index.byAddress.get(address) ?? [];
    if (owners.length === 0) return fail('no client listed at this address (bindery does no reverse DNS)');
    if (owners.length > 1) return fail('several clients share this address; they must use a uuid');
    client = owners[0];
  } else {
    client = index.byUuid.get(creds.basic.user);
    method = client ? 'uuid' : 'name';
    client ??= index.byName.get(creds.basic.user.toLowerCase());
    if (!client) return fail('user is neither a uuid nor a client in clients.xml');
  }
  const c = client!;

  // 2–3. The client's auth type.
  const authType = c.auth ?? policy.defaultAuth;
  if (authType === 'cert' && method !== 'cert') return fail('auth="cert": a certificate is required');
  if (authType === 'bootstrap' && method !== 'cert' && bootstrapDone(c.hostname)) {
    return fail('auth="bootstrap": the password run is used up; a certificate is required');
  }

  // 4. The source address, for every method (decision 13 (docs/decisions.md)).
  if (!c.floating && !c.addresses.some((a) => normalizeAddress(a) === address)) {
    return fail(c.addresses.length ? 'address is not the client\'s (nor an alias\'s) and the client is not floating' : 'client has no address in clients.xml and is not floating (bindery does no reverse DNS)');
  }

  // 5. A certificate suffices for cert and bootstrap.
  if (method === 'cert' && authType !== 'cert+password') return { ok: true, client: c.hostname, method, authType, bootstrapRun: false };

  // 6. The password.
  if (c.secure && !isSet(c.password)) return fail('secure client has no password of its own');
  if (!creds.basic) return fail(method === 'cert' ? 'auth="cert+password": the password must be given with the certificate' : 'no password');
  if (!passwordMatches(c, creds.basic.password, policy)) return fail(c.secure ? 'wrong password (secure: only the client\'s own password)' : 'wrong password');
  return { ok: true, client: c.hostname, method, authType, bootstrapRun: authType === 'bootstrap' && method !== 'cert' };
}
