import { BinderyError } from '../errors.js';

/**
 * bcfg2.conf as Bcfg2 reads it: Python 3's `configparser.ConfigParser()` with its defaults
 * (basic interpolation, strict, `=` and `:` delimiters, whole-line `#`/`;` comments, option
 * names lower-cased, a [DEFAULT] section every other section inherits).
 */

/** Python's str.isspace() set: what str.strip() and the regex \s remove (not JavaScript's \s). */
const PY_SPACE = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');
const RSTRIP = new RegExp(`[${PY_SPACE}]+$`);
const NONSPACE = new RegExp(`[^${PY_SPACE}]`);
const SECTION = /^\[(.+)\]/;
const OPTION = new RegExp(`^(.*?)[${PY_SPACE}]*([=:])[${PY_SPACE}]*(.*)$`);
const KEY = /^%\(([^)]+)\)s/;
const MAX_DEPTH = 10;

const strip = (s: string) => s.replace(STRIP, '');

interface RawOption {
  /** Lines of the value, joined with "\n" (trailing empty lines dropped) once the file is read. */
  lines: string[];
  readonly line: number;
}

type RawSection = Map<string, RawOption>;

const HINT = 'bcfg2.conf is read as Python\'s ConfigParser reads it: "[section]" lines, then "name = value" or "name: value"';

/** The options of each section as written, [DEFAULT] apart; values not yet interpolated. */
function readSections(text: string, file: string): { defaults: RawSection; sections: Map<string, RawSection> } {
  const defaults: RawSection = new Map();
  const sections = new Map<string, RawSection>();
  const added = new Set<string>();
  let current: RawSection | null = null;
  let sectionName = '';
  let option: RawOption | null = null;
  let indent = 0;
  // Python reads text files with universal newlines; a byte-order mark is tolerated.
  const lines = text.replace(/^\ufeff/, '').split(/\r\n|\r|\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, i) => {
    const at = { file, line: i + 1 };
    const comment = strip(line).startsWith('#') || strip(line).startsWith(';');
    const value = comment ? '' : strip(line);
    if (value === '') {
      // A blank line belongs to the value being read (a comment line does not).
      if (!comment && option) option.lines.push('');
      return;
    }
    const lineIndent = NONSPACE.exec(line)?.index ?? 0;
    if (current && option && lineIndent > indent) {
      option.lines.push(value);
      return;
    }
    indent = lineIndent;
    const sec = SECTION.exec(value);
    if (sec) {
      sectionName = sec[1]!;
      option = null;
      if (sectionName === 'DEFAULT') {
        current = defaults;
        return;
      }
      if (added.has(sectionName)) throw new BinderyError('CONFIG', `section [${sectionName}] appears twice`, at, 'merge the two sections into one (Python\'s ConfigParser refuses a repeated section)');
      added.add(sectionName);
      current = new Map();
      sections.set(sectionName, current);
      return;
    }
    if (!current) throw new BinderyError('CONFIG', 'option outside of any [section]', at, HINT);
    const opt = OPTION.exec(value);
    if (!opt || opt[1] === '') throw new BinderyError('CONFIG', `cannot parse line: ${opt ? 'the option has no name' : 'expected "name = value"'}`, at, HINT);
    const name = opt[1]!.replace(RSTRIP, '').toLowerCase();
    const key = `${sectionName}\0${name}`;
    if (added.has(key)) throw new BinderyError('CONFIG', `option "${name}" appears twice in [${sectionName}] (option names ignore case)`, at, 'keep one of them (Python\'s ConfigParser refuses a repeated option)');
    added.add(key);
    option = { lines: [strip(opt[3]!)], line: i + 1 };
    current.set(name, option);
  });
  return { defaults, sections };
}

const joined = (o: RawOption) => o.lines.join('\n').replace(RSTRIP, '');

/**
 * `%(name)s` and `%%` of one value, as BasicInterpolation does: names are looked up in the
 * section, then [DEFAULT], lower-cased; substituted values are interpolated in turn.
 */
function interpolate(value: string, lookup: (name: string) => string | undefined, fail: (why: string) => never, depth = 1): string {
  if (depth > MAX_DEPTH) fail(`interpolation nests more than ${MAX_DEPTH} levels deep (a %(name)s loop?)`);
  let out = '';
  let rest = value;
  while (rest) {
    const p = rest.indexOf('%');
    if (p < 0) return out + rest;
    out += rest.slice(0, p);
    rest = rest.slice(p);
    const c = rest[1];
    if (c === '%') {
      out += '%';
      rest = rest.slice(2);
    } else if (c === '(') {
      const m = KEY.exec(rest);
      if (!m) fail(`bad interpolation reference at character ${value.length - rest.length + 1} (write %(name)s)`);
      const name = m[1]!.toLowerCase();
      rest = rest.slice(m[0].length);
      const v = lookup(name);
      if (v === undefined) fail(`%(${name})s names no option of this section or of [DEFAULT]`);
      out += v.includes('%') ? interpolate(v, lookup, fail, depth + 1) : v;
    } else {
      // The value may be a secret: say where, not what.
      fail(`the "%" at character ${value.length - rest.length + 1} must be followed by "%" or "("`);
    }
  }
  return out;
}

export interface IniOptions {
  /**
   * Sections whose values must all interpolate: an error there names file and line. In other
   * sections a value that does not interpolate is left out, as Python only fails on reading it.
   */
  readonly needed?: (section: string) => boolean;
}

/**
 * Every section (not DEFAULT) and option with its final value: [DEFAULT] options are in every
 * section unless it sets them, values are interpolated, as `ConfigParser.get()` returns them.
 */
export function parseIni(text: string, file: string, opts: IniOptions = {}): Record<string, Record<string, string>> {
  const { defaults, sections } = readSections(text, file);
  const out: Record<string, Record<string, string>> = {};
  for (const [name, options] of sections) {
    const lookup = (key: string) => {
      const o = options.get(key) ?? defaults.get(key);
      return o === undefined ? undefined : joined(o);
    };
    const values: Record<string, string> = {};
    // Python's order: the section's own options, then the [DEFAULT] ones it does not set.
    for (const [key, o] of [...options, ...[...defaults].filter(([k]) => !options.has(k))]) {
      try {
        values[key] = interpolate(joined(o), lookup, (why) => {
          throw new BinderyError('CONFIG', `[${name}] ${key}: ${why}`, { file, line: o.line }, 'write a literal "%" as "%%"');
        });
      } catch (e) {
        if (opts.needed?.(name) ?? true) throw e;
      }
    }
    out[name] = values;
  }
  return out;
}
