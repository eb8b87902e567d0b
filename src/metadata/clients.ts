import { BinderyError, type Diagnostic } from '../errors.js';
import type { AuthType } from '../types.js';
import type { MNode } from './tree.js';

/** What clients.xml says about one client, merged over every `<Client>` of that name. */
export interface ClientRecord {
  readonly hostname: string;
  /** `profile` attributes in document order (normally one). */
  readonly profiles: readonly { readonly group: string; readonly file: string; readonly line: number }[];
  readonly auth: AuthType | null;
  /** The client's own uuid (the first one it names that no later client takes). */
  readonly uuid: string | null;
  readonly password: string | null;
  readonly version: string | null;
  readonly secure: boolean;
  readonly floating: boolean;
  /** Client address plus alias addresses, document order, no repeats. */
  readonly addresses: readonly string[];
  readonly aliases: readonly { name: string; address: string | null }[];
  readonly file: string;
  readonly line: number;
}

const AUTH_TYPES: readonly string[] = ['cert', 'cert+password', 'bootstrap'] satisfies AuthType[];

const isTrue = (v: string | undefined): boolean => (v ?? '').toLowerCase() === 'true';

function* clientElements(n: MNode): Generator<MNode> {
  for (const c of n.children) {
    if (c.el.name === 'Client') yield c;
    yield* clientElements(c);
  }
}

interface Building {
  hostname: string;
  profiles: { group: string; file: string; line: number }[];
  auth: AuthType | null;
  uuids: string[];
  password: string | null;
  version: string | null;
  secure: boolean;
  floating: boolean;
  addresses: string[];
  aliases: { name: string; address: string | null }[];
  file: string;
  line: number;
}

/**
 * Every `<Client>` anywhere in clients.xml (nesting means nothing), in document order. Names
 * and alias names are lower-cased. A repeated client merges as Bcfg2 does: profiles and
 * addresses accumulate, `secure`/`floating` hold if any element says so, the last
 * password/auth/version wins. A uuid or alias named by two clients belongs to the later one.
 */
export function readClients(root: MNode, diagnostics: Diagnostic[]): ClientRecord[] {
  if (root.el.name !== 'Clients') {
    throw new BinderyError('METADATA', `the root element is <${root.el.name}>, expected <Clients>`, { file: root.file, line: root.el.line }, 'wrap the clients in <Clients>…</Clients>');
  }
  const byName = new Map<string, Building>();
  const uuidOwner = new Map<string, string>();
  const aliasOwner = new Map<string, string>();
  const claim = (owner: Map<string, string>, what: string, key: string, at: { file: string; line: number; host: string }) => {
    const prev = owner.get(key);
    if (prev !== undefined && prev !== at.host) {
      diagnostics.push({ code: `duplicate-${what}`, message: `${what} "${key}" is given to both ${prev} and ${at.host}; it belongs to ${at.host} (the later one)`, ...at });
    }
    owner.set(key, at.host);
  };

  for (const n of clientElements(root)) {
    const a = n.el.attrs;
    const where = { file: n.file, line: n.el.line };
    if (!a.name) throw new BinderyError('METADATA', '<Client> without a name', where, 'give every client a name="…" attribute');
    const hostname = a.name.toLowerCase();
    const at = { ...where, host: hostname };
    if (a.auth !== undefined && !AUTH_TYPES.includes(a.auth)) {
      throw new BinderyError('METADATA', `client ${hostname}: unknown auth="${a.auth}"`, at, 'auth must be cert, cert+password or bootstrap (or leave it out to use [communication] authentication)');
    }
    if (!a.profile) {
      throw new BinderyError('METADATA', `client ${hostname} has no profile`, at, 'set profile="<group>" to a group declared in Metadata/groups.xml');
    }
    let c = byName.get(hostname);
    if (c) {
      diagnostics.push({ code: 'duplicate-client', message: `client ${hostname} is listed again (first at ${c.file}:${c.line}); the entries are merged`, ...at });
    } else {
      c = { hostname, profiles: [], auth: null, uuids: [], password: null, version: null, secure: false, floating: false, addresses: [], aliases: [], ...where };
      byName.set(hostname, c);
    }
    c.profiles.push({ group: a.profile, ...where });
    if (a.auth !== undefined) c.auth = a.auth as AuthType;
    if (a.uuid !== undefined) {
      c.uuids.push(a.uuid);
      claim(uuidOwner, 'uuid', a.uuid, at);
    }
    if (a.password !== undefined) c.password = a.password;
    if (a.version !== undefined) c.version = a.version;
    c.secure ||= isTrue(a.secure);
    c.floating ||= a.location === 'floating' || isTrue(a.floating);
    if (a.address !== undefined) c.addresses.push(a.address);
    for (const al of n.children) {
      if (al.el.name !== 'Alias') continue;
      const name = al.el.attrs.name?.toLowerCase();
      const alAt = { file: al.file, line: al.el.line, host: hostname };
      if (!name) throw new BinderyError('METADATA', `client ${hostname}: <Alias> without a name`, alAt, 'give the alias a name="…" attribute');
      const address = al.el.attrs.address ?? null;
      c.aliases.push({ name, address });
      claim(aliasOwner, 'alias', name, alAt);
      if (address !== null) c.addresses.push(address);
    }
  }

  for (const c of byName.values()) {
    for (const al of c.aliases) {
      if (al.name !== c.hostname && byName.has(al.name)) {
        diagnostics.push({ code: 'alias-shadows-client', message: `alias "${al.name}" of client ${c.hostname} is also a client name; looking up that name finds ${aliasOwner.get(al.name)}`, file: c.file, line: c.line, host: c.hostname });
      }
    }
  }
  return [...byName.values()].map(({ uuids, ...c }) => ({
    ...c,
    uuid: uuids.find((u) => uuidOwner.get(u) === c.hostname) ?? null,
    addresses: [...new Set(c.addresses)],
    aliases: c.aliases.filter((al, i) => aliasOwner.get(al.name) === c.hostname && c.aliases.findIndex((x) => x.name === al.name) === i),
  }));
}
