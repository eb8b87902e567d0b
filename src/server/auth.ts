/**
 * Who is this request, and may it have its configuration? Bcfg2's AuthenticateConnection
 * as a pure function, with the departures in decision 13 (docs/decisions.md)–15:
 *  - a uuid client's source address is checked too (unless floating);
 *  - a certificate-only client needs no Authorization header;
 *  - an address clients.xml does not list is checked by reverse DNS, forward-confirmed (the
 *    name must resolve back to the address; Bcfg2 trusts the PTR record alone);
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
  /**
   * The address's DNS names, forward-confirmed (each resolves back to the address); undefined
   * while not looked up. Needed only for an address clients.xml does not list.
   */
  readonly names?: readonly string[];
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
  | {
      readonly ok: false;
      readonly client: string | null;
      readonly method: AuthMethod | null;
      readonly reason: string;
      /** Set when the decision needs the address's DNS names (Credentials.names): look them up and ask again. */
      readonly needsNames?: true;
    };

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

/** Compared against when there is nothing to compare with, so that path costs what the others do. */
const NO_PASSWORD = '\u0000bindery: no password\u0000';

/**
 * Every decision compares the given password exactly twice (the client's own, the global one),
 * whatever step it ends at: an unknown user, a wrong address and a wrong password take the same
 * time, so timing does not tell an attacker which names exist or where they are.
 */
function passwordChecker(given: string) {
  let compared = 0;
  const equals = (expected: string | null) => {
    compared++;
    const same = secretEquals(given, isSet(expected) ? expected : NO_PASSWORD);
    return same && isSet(expected);
  };
  return {
    matches(client: ClientAuth, policy: AuthPolicy): boolean {
      const own = equals(client.password);
      const global = equals(policy.globalPassword);
      return client.secure ? own : own || global;
    },
    /** Do the comparisons this decision has not done yet. */
    pad(): void {
      while (compared < 2) equals(null);
    },
  };
}

export function authenticate(
  creds: Credentials,
  index: AuthIndex,
  policy: AuthPolicy,
  bootstrapDone: (client: string) => boolean,
): AuthDecision {
  const address = normalizeAddress(creds.address);
  const passwords = passwordChecker(creds.basic?.password ?? '');
  let method: AuthMethod;
  let client: ClientAuth | undefined;
  const fail = (reason: string): Extract<AuthDecision, { ok: false }> => {
    passwords.pad();
    return { ok: false, client: client?.hostname ?? null, method: method ?? null, reason };
  };
  /** The source address's forward-confirmed DNS names are needed: the caller resolves them and asks again. */
  const lookUp = (): AuthDecision => ({ ...fail('the source address must be resolved (reverse DNS)'), needsNames: true });
  /** The clients the source address's DNS names stand for (a name or an alias's name). */
  const resolvedClients = (names: readonly string[]) => [...new Set(names.map((n) => index.byName.get(n.toLowerCase())).filter((c) => c !== undefined))];

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
    if (owners.length > 1) return fail('several clients share this address; they must use a uuid');
    if (owners.length === 1) client = owners[0];
    else {
      if (!creds.names) return lookUp();
      const named = resolvedClients(creds.names);
      if (named.length === 0) return fail(creds.names.length ? `no client listed at this address, and its DNS name (${creds.names.join(', ')}) is no client` : 'no client listed at this address, and it has no forward-confirmed DNS name');
      if (named.length > 1) return fail('the address\'s DNS names stand for several clients; they must use a uuid');
      client = named[0];
    }
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

  // 4. The source address, for every method (decision 13 (docs/decisions.md)). An address listed
  // in clients.xml belongs to its clients only; an unlisted one must resolve to the client's name.
  const owners = index.byAddress.get(address);
  if (!c.floating && !owners?.includes(c)) {
    if (owners) return fail('address is another client\'s, not this one\'s (nor an alias\'s), and the client is not floating');
    if (!creds.names) return lookUp();
    if (!resolvedClients(creds.names).includes(c)) {
      return fail(creds.names.length ? `address resolves to ${creds.names.join(', ')}, not to this client (nor an alias), and the client is not floating` : 'address is not the client\'s and has no forward-confirmed DNS name, and the client is not floating');
    }
  }

  // 5. A certificate suffices for cert and bootstrap.
  if (method === 'cert' && authType !== 'cert+password') return { ok: true, client: c.hostname, method, authType, bootstrapRun: false };

  // 6. The password.
  if (c.secure && !isSet(c.password)) return fail('secure client has no password of its own');
  if (!creds.basic) return fail(method === 'cert' ? 'auth="cert+password": the password must be given with the certificate' : 'no password');
  if (!passwords.matches(c, policy)) return fail(c.secure ? 'wrong password (secure: only the client\'s own password)' : 'wrong password');
  return { ok: true, client: c.hostname, method, authType, bootstrapRun: authType === 'bootstrap' && method !== 'cert' };
}
