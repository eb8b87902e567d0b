import { BinderyError, type Diagnostic } from '../errors.js';
import { flatMatch, clientConditions, parseXml, type XmlElement } from '../xml/index.js';
import type { Config } from '../config/index.js';
import type { FileInfo, RepoFile } from '../types.js';
import type { MatchSubject } from '../repo/index.js';

export function defaultInfo(config: Config): FileInfo {
  return { owner: config.mdata.owner, group: config.mdata.group, mode: config.mdata.mode, extra: { ...config.mdata.extra } };
}

/** Copy the attributes of an Info element (or legacy info keys) over the defaults. */
function withAttributes(base: FileInfo, attrs: Readonly<Record<string, string>>): FileInfo {
  const extra: Record<string, string> = { ...base.extra };
  let { owner, group, mode, encoding } = base;
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'owner') owner = v;
    else if (k === 'group') group = v;
    else if (k === 'mode') mode = v;
    else if (k === 'perms') continue; // Bcfg2 1.3 and later ignore the pre-1.3 name (decision 18 (docs/decisions.md))
    else if (k === 'encoding') encoding = v;
    else extra[k] = v;
  }
  return encoding === undefined ? { owner, group, mode, extra } : { owner, group, mode, encoding, extra };
}

/**
 * info.xml, the 1.4 rule (decision 5 (docs/decisions.md)): flatten in document order skipping non-matching
 * Group/Client/Path containers; the first Info wins whole; several matching is a warning;
 * none is a bind failure.
 */
export function infoFromXml(root: XmlElement, file: string, subject: MatchSubject, realname: string, defaults: FileInfo, warn: (d: Diagnostic) => void, host: string): FileInfo {
  const cond = clientConditions(subject, { tag: 'Path', matches: (el) => (el.attrs.name ?? '') === realname });
  const infos = flatMatch(root, cond).filter((el) => el.name === 'Info');
  if (infos.length === 0) {
    throw new BinderyError('BIND', 'no Info in info.xml applies to this client and path', { file, host, path: realname }, 'add an unconditional <Info/> or one whose Group/Client/Path conditions match');
  }
  if (infos.length > 1) {
    warn({ code: 'info-ambiguous', message: `${infos.length} Info elements apply; the first (line ${infos[0]!.line}) wins`, file, line: infos[0]!.line, host, path: realname });
  }
  warnPerms(root, file, warn);
  return withAttributes(defaults, infos[0]!.attrs);
}

/** One warning per info.xml that still says perms= (the first Info that does), whoever it applies to. */
function warnPerms(root: XmlElement, file: string, warn: (d: Diagnostic) => void): void {
  const find = (el: XmlElement): XmlElement | undefined => (el.name === 'Info' && el.attrs.perms !== undefined ? el : el.children.map(find).find(Boolean));
  const el = find(root);
  if (el) {
    warn({ code: 'info-perms-ignored', message: `perms="${el.attrs.perms}" is ignored, as Bcfg2 1.3 and later ignore it: rename it to mode="${el.attrs.perms}" to apply it`, file, line: el.line });
  }
}

/** Legacy `info` / `:info` files: `key: value` lines, no conditions. */
export function infoFromLegacy(text: string, file: string, defaults: FileInfo, warn: (d: Diagnostic) => void): FileInfo {
  const keys = ['owner', 'group', 'mode', 'secontext', 'paranoid', 'sensitive', 'encoding', 'important', 'mtime'];
  const attrs: Record<string, string> = {};
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const m = /^(\w+):\s*(\S+)/.exec(line);
    if (m?.[1] === 'perms') {
      warn({ code: 'info-perms-ignored', message: `"perms: ${m[2]}" is ignored, as Bcfg2 1.3 and later ignore it: rename it to "mode: ${m[2]}" to apply it`, file, line: i + 1 });
      return;
    }
    if (!m || !keys.includes(m[1]!)) {
      warn({ code: 'legacy-info-line', message: `unrecognised line ignored (expected one of ${keys.join(', ')} followed by ":")`, file, line: i + 1 });
      return;
    }
    const value = m[1] === 'mode' || m[1] === 'mtime' ? (/^\w+/.exec(m[2]!)?.[0] ?? m[2]!) : m[2]!;
    attrs[m[1]!] = value;
  });
  if (attrs.mode && attrs.mode.length === 3) attrs.mode = '0' + attrs.mode;
  return withAttributes(defaults, attrs);
}

/** Parse an info.xml once (the caller caches), checking its root. */
export function parseInfoXml(file: RepoFile): XmlElement {
  const root = parseXml(file.data.toString('utf8'), file.rel);
  if (root.name !== 'FileInfo') {
    throw new BinderyError('XML', `info.xml root must be <FileInfo>, found <${root.name}>`, { file: file.rel, line: root.line }, 'wrap the Info elements in <FileInfo>…</FileInfo>');
  }
  return root;
}
