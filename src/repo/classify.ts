import type { CfgFileKind, CfgRole, Specificity } from '../types.js';

export interface Classification {
  readonly kind: CfgFileKind;
  readonly role: CfgRole;
  readonly specificity: Specificity;
}

/** Files named exactly so in any entry set; always of specificity "all". */
const FIXED_NAMES: Readonly<Record<string, { kind: CfgFileKind; role: CfgRole }>> = {
  'authorized_keys.xml': { kind: 'authorized_keys.xml', role: 'generator' },
  'authorizedkeys.xml': { kind: 'authorized_keys.xml', role: 'generator' },
  'info.xml': { kind: 'info.xml', role: 'info' },
  info: { kind: 'legacy-info', role: 'info' },
  ':info': { kind: 'legacy-info', role: 'info' },
  'privkey.xml': { kind: 'privkey.xml', role: 'creator' },
  'pubkey.xml': { kind: 'pubkey.xml', role: 'creator' },
  'sslcert.xml': { kind: 'sslcert.xml', role: 'creator' },
  'sslkey.xml': { kind: 'sslkey.xml', role: 'creator' },
};

/**
 * Specific handlers in Bcfg2's dispatch order (priority, then handler name): the first whose
 * extension matches owns the file. Templates keep their extension last (`x.H_h.genshi`).
 */
const EXTENSIONS: readonly { ext: string; kind: CfgFileKind; role: CfgRole }[] = [
  { ext: 'cat', kind: 'cat', role: 'delta' },
  { ext: 'diff', kind: 'diff', role: 'delta' },
  { ext: 'cheetah.crypt', kind: 'cheetah.crypt', role: 'generator' },
  { ext: 'crypt.cheetah', kind: 'cheetah.crypt', role: 'generator' },
  { ext: 'genshi.crypt', kind: 'genshi.crypt', role: 'generator' },
  { ext: 'crypt.genshi', kind: 'genshi.crypt', role: 'generator' },
  { ext: 'liquid.crypt', kind: 'liquid.crypt', role: 'generator' },
  { ext: 'crypt.liquid', kind: 'liquid.crypt', role: 'generator' },
  { ext: 'cheetah', kind: 'cheetah', role: 'generator' },
  { ext: 'crypt', kind: 'crypt', role: 'generator' },
  { ext: 'genshi', kind: 'genshi', role: 'generator' },
  { ext: 'liquid', kind: 'liquid', role: 'generator' },
];

/** Template partials that live beside templates and are never entries themselves. */
const IGNORED_SUFFIXES = ['.genshi_include', '.liquid_include', '.cheetah_include'];

/** Template kinds Bcfg2 has and bindery does not render, with what to use instead. */
const UNSUPPORTED_TEMPLATES: readonly { ext: RegExp; message: (liquid: string) => string }[] = [
  { ext: /\.jinja2(\.crypt)?$|\.crypt\.jinja2$/, message: (liquid) => `Jinja2 templates are not supported, use .liquid: rewrite this file in Liquid as ${liquid} (bindery migrate converts Genshi and Cheetah, not Jinja2)` },
];

/** Why a file that looks like a template is not rendered, or null. */
export function unsupportedTemplate(fileName: string): string | null {
  const t = UNSUPPORTED_TEMPLATES.find((u) => u.ext.test(fileName));
  return t ? t.message(fileName.split('/').pop()!.replace(t.ext, '.liquid')) : null;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `<base>`, `<base>.H_<host>`, `<base>.G<NN>_<group>`, then `.<ext>` when given. */
function specificMatch(base: string, name: string, ext: string | null): Specificity | null {
  const re = new RegExp(`^${escapeRe(base)}(?:|\\.H_(\\S+?)|\\.G(\\d+)_(\\S+?))${ext === null ? '' : '\\.' + escapeRe(ext)}$`);
  const m = re.exec(name);
  if (!m) return null;
  if (m[1] !== undefined) return { kind: 'host', host: m[1] };
  if (m[2] !== undefined) return { kind: 'group', group: m[3]!, prio: Number.parseInt(m[2], 10) };
  return { kind: 'all' };
}

/**
 * Which handler owns `fileName` in an entry set whose directory is named `basename`
 *. 'ignored' = silently not a Cfg file; null = no handler (a warning).
 */
export function classifyFile(basename: string, fileName: string): Classification | 'ignored' | null {
  const fixed = FIXED_NAMES[fileName];
  if (fixed) return { ...fixed, specificity: { kind: 'all' } };
  const test = specificMatch(':test', fileName, null);
  if (test) return { kind: 'test', role: 'validator', specificity: test };
  for (const h of EXTENSIONS) {
    const spec = specificMatch(basename, fileName, h.ext);
    if (spec) return { kind: h.kind, role: h.role, specificity: spec };
  }
  if (IGNORED_SUFFIXES.some((s) => fileName.endsWith(s))) return 'ignored';
  // motd.G50_web.jinja2 is a template Bcfg2 renders, not a plain file for a group "web.jinja2".
  if (unsupportedTemplate(fileName)) return null;
  const plain = specificMatch(basename, fileName, null);
  if (plain) return { kind: 'plain', role: 'generator', specificity: plain };
  return null;
}
