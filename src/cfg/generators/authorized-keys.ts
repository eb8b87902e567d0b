/**
 * Cfg's authorized_keys.xml generator: an authorized_keys file assembled from Allow elements,
 * each the public key another client (or group) gets, or a literal key.
 */
import sshpk from 'sshpk';
import { BinderyError, type Diagnostic } from '../../errors.js';
import type { Config } from '../../config/index.js';
import { clientConditions, parseXml, xmlMatch, type XmlElement } from '../../xml/index.js';
import type { CfgFile, ClientMetadata } from '../../types.js';

/** What an Allow needs to know about the other clients. */
export interface AllowContext {
  readonly clients: readonly ClientMetadata[];
  groupMetadata(group: string): ClientMetadata;
  findClient(name: string): ClientMetadata | undefined;
  readonly config: Config;
}

export interface AuthorizedKeysContext extends AllowContext {
  /** Bind a public key path as that client; null = no key (the bind failed). */
  bindPublicKey(path: string, as: ClientMetadata): Buffer | null;
}

/** One public key an Allow refers to: bind `from` as `as`. */
export interface AllowTarget {
  readonly from: string;
  readonly as: ClientMetadata;
  /** `as` is the stand-in metadata of a group (group= without members="all"). */
  readonly synthetic: boolean;
}

export function parseAuthorizedKeys(file: CfgFile): XmlElement {
  const root = parseXml(file.file.data.toString('utf8'), file.file.rel);
  if (root.name !== 'AuthorizedKeys') {
    throw new BinderyError('BIND', `root element is <${root.name}>, expected <AuthorizedKeys>`, { file: file.file.rel, line: root.line }, 'authorized_keys.xml starts with <AuthorizedKeys>');
  }
  return root;
}

/**
 * The Allow elements that apply to a client, in Bcfg2's XMLMatch order, their own children
 * (Option in Group/Client) filtered too; nested AuthorizedKeys (1.4) are transparent.
 */
export function matchingAllows(root: XmlElement, m: ClientMetadata): XmlElement[] {
  return xmlMatch(root, clientConditions(m, { tag: 'AuthorizedKeys', matches: () => true })).children.filter((c) => c.name === 'Allow');
}

/** The client-side path of an entry set from one of its files: Cfg/root/.ssh/authorized_keys/x → /root/.ssh/authorized_keys. */
function entryPath(file: CfgFile): string {
  return file.file.rel.slice('Cfg'.length, file.file.rel.lastIndexOf('/'));
}

/**
 * Whose key an `<Allow from=…>` means for client m, or why it is skipped.
 * Beyond Bcfg2: `group="g" members="all"` means the key of every client in g.
 */
export function allowTargets(allow: XmlElement, m: ClientMetadata, ctx: AllowContext, file: CfgFile): { targets: AllowTarget[]; skipped?: Omit<Diagnostic, 'file' | 'line' | 'host' | 'path'> } {
  const from = allow.attrs.from!;
  const { host, group, members } = allow.attrs;
  const loc = { file: file.file.rel, line: allow.line, host: m.hostname, path: entryPath(file) };
  if (members !== undefined && (members !== 'all' || group === undefined || host !== undefined)) {
    throw new BinderyError('BIND', `members="${members}" is only understood as members="all" together with group= (and without host=)`, loc, 'write <Allow from="…" group="g" members="all"/>');
  }
  if (host !== undefined) {
    const target = ctx.findClient(host.toLowerCase());
    if (!target) return { targets: [], skipped: { code: 'authorized-keys-unknown-host', message: `Allow host="${host}": no such client in clients.xml; skipped` } };
    return { targets: [{ from, as: target, synthetic: false }] };
  }
  if (group !== undefined) {
    if (members === 'all') {
      const all = ctx.clients.filter((c) => c.groups.includes(group)).sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
      if (all.length === 0) return { targets: [], skipped: { code: 'authorized-keys-empty-group', message: `Allow group="${group}" members="all": the group has no clients; skipped` } };
      return { targets: all.map((as) => ({ from, as, synthetic: false })) };
    }
    return { targets: [{ from, as: ctx.groupMetadata(group), synthetic: true }] };
  }
  const category = allow.attrs.category ?? ctx.config.sshkeys.category;
  if (category && !m.categories[category]) {
    return { targets: [], skipped: { code: 'authorized-keys-no-group-in-category', message: `Allow from="${from}": this client has no group in category "${category}"; skipped` } };
  }
  return { targets: [{ from, as: m, synthetic: false }] };
}

/** sshd options: Option children (and the deprecated Params attributes first, with a warning). */
function options(allow: XmlElement, loc: Omit<Diagnostic, 'code' | 'message'>, warn: (d: Diagnostic) => void): string[] {
  const out: string[] = [];
  for (const c of allow.children) {
    if (c.name === 'Params') {
      warn({ code: 'authorized-keys-params-deprecated', message: '<Params> is deprecated; use <Option name="…" value="…"/>', ...loc, line: c.line });
      for (const [k, v] of Object.entries(c.attrs)) out.push(v ? `${k}=${v}` : k);
    }
  }
  for (const c of allow.children) {
    if (c.name !== 'Option') continue;
    // A dropped option could be a restriction (command=, from=): refuse rather than widen access.
    if (!c.attrs.name) throw new BinderyError('BIND', '<Option> without name=', { ...loc, line: c.line }, 'give every Option a name, e.g. <Option name="no-pty"/>');
    // Values are emitted verbatim, as Bcfg2 does: quote them in the XML when sshd needs quotes.
    out.push(c.attrs.value ? `${c.attrs.name}=${c.attrs.value}` : c.attrs.name);
  }
  return out;
}

/**
 * Assemble authorized_keys for one client: one line per
 * usable Allow, "options key", joined with "\n" and no trailing newline. Allows without a
 * usable key are skipped with a warning; they never fail the entry.
 */
export function authorizedKeys(file: CfgFile, m: ClientMetadata, ctx: AuthorizedKeysContext): { data: Buffer; diagnostics: Diagnostic[] } {
  const root = parseAuthorizedKeys(file);
  const diagnostics: Diagnostic[] = [];
  const warn = (d: Diagnostic) => diagnostics.push(d);
  const path = entryPath(file);
  const lines: string[] = [];
  for (const allow of matchingAllows(root, m)) {
    const loc = { file: file.file.rel, line: allow.line, host: m.hostname, path };
    const opts = options(allow, loc, warn).join(',');
    const keys: string[] = [];
    if (allow.attrs.from !== undefined) {
      const { targets, skipped } = allowTargets(allow, m, ctx, file);
      if (skipped) warn({ ...skipped, ...loc });
      for (const t of targets) {
        const who = t.synthetic ? `group ${t.as.profile}` : t.as.hostname;
        const bound = ctx.bindPublicKey(t.from, t.as);
        if (bound === null) {
          warn({ code: 'authorized-keys-no-key', message: `no key found at ${t.from} for ${who}; skipped`, ...loc });
        } else if (bound.toString('utf8').trim() === '') {
          warn({ code: 'authorized-keys-empty-key', message: `empty public key at ${t.from} for ${who}; skipped`, ...loc });
        } else {
          keys.push(bound.toString('utf8').trim());
        }
      }
    } else if (allow.leadingText.trim() !== '') {
      const key = allow.leadingText.trim();
      if (!parsesAsPublicKey(key)) warn({ code: 'authorized-keys-bad-literal', message: 'the literal key does not parse as an SSH public key; sshd will ignore the line', ...loc });
      keys.push(key);
    } else {
      warn({ code: 'authorized-keys-empty-allow', message: 'ignoring empty Allow tag (no from= and no key text)', ...loc });
    }
    for (const key of keys) lines.push(`${opts} ${key}`.trim());
  }
  return { data: Buffer.from(lines.join('\n'), 'utf8'), diagnostics };
}

function parsesAsPublicKey(text: string): boolean {
  try {
    sshpk.parseKey(text, 'ssh');
    return true;
  } catch {
    return false;
  }
}
