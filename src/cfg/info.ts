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
    else if (k === 'mode' || k === 'perms') mode = v;
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
  return withAttributes(defaults, infos[0]!.attrs);
}

/** Legacy `info` / `:info` files: `key: value` lines, no conditions. */
export function infoFromLegacy(text: string, file: string, defaults: FileInfo, warn: (d: Diagnostic) => void): FileInfo {
  const keys = ['owner', 'group', 'mode', 'secontext', 'paranoid', 'sensitive', 'encoding', 'important', 'mtime'];
  const attrs: Record<string, string> = {};
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const m = /^(\w+):\s*(\S+)/.exec(line);
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
