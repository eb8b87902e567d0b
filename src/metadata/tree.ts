import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { globbySync, isDynamicPattern } from 'globby';
import { BinderyError, type Diagnostic } from '../errors.js';
import { parseXml, type XmlElement } from '../xml/index.js';

/**
 * An element of groups.xml / clients.xml after XInclude, with its parent and the file it came
 * from (an included element keeps its own file and line, so errors point at the right place).
 */
export interface MNode {
  readonly el: XmlElement;
  readonly file: string;
  readonly parent: MNode | null;
  readonly children: readonly MNode[];
}

const XINCLUDE_NS = 'http://www.w3.org/2001/XInclude';

/** Reads the documents an `xi:include` names: repo-relative file names for an href. */
export interface IncludeReader {
  /** Repo-relative files matching `href` (a glob is allowed), relative to `fromFile`; sorted. */
  resolve(href: string, fromFile: string, line: number): string[];
  read(file: string): string;
}

/**
 * Build the node tree of one document, following `xi:include` (the parser runs without
 * namespaces, so the tag is literally `<prefix>:include` for a prefix bound to XInclude).
 * Without a reader (the pure parse) an include is left out with a warning.
 */
export function buildTree(root: XmlElement, file: string, reader: IncludeReader | null, diagnostics: Diagnostic[]): MNode {
  const walk = (el: XmlElement, from: string, parent: MNode | null, inherited: ReadonlySet<string>, stack: readonly string[]): MNode => {
    const children: MNode[] = [];
    const node: MNode = { el, file: from, parent, children };
    children.push(...expand(el.children, from, node, withXIncludePrefixes(el, inherited), stack));
    return node;
  };

  /** Nodes for a list of sibling elements, with each include replaced by what it includes. */
  const expand = (els: readonly XmlElement[], from: string, parent: MNode, inherited: ReadonlySet<string>, stack: readonly string[]): MNode[] =>
    els.flatMap((c) => {
      const scope = withXIncludePrefixes(c, inherited);
      return isXInclude(c, 'include', scope) ? include(c, from, parent, scope, stack) : [walk(c, from, parent, inherited, stack)];
    });

  const include = (inc: XmlElement, from: string, parent: MNode, scope: ReadonlySet<string>, stack: readonly string[]): MNode[] => {
    const href = inc.attrs.href;
    if (!href) throw new BinderyError('METADATA', `<${inc.name}> without href`, { file: from, line: inc.line }, 'name the included file with href="…"');
    if (!reader) {
      diagnostics.push({ code: 'xinclude-ignored', message: `<${inc.name} href="${href}"> is not followed when parsing text alone`, file: from, line: inc.line });
      return [];
    }
    const files = reader.resolve(href, from, inc.line);
    if (files.length === 0) {
      const fallback = inc.children.find((c) => isXInclude(c, 'fallback', scope));
      if (fallback) return expand(fallback.children, from, parent, scope, stack);
      diagnostics.push({ code: 'xinclude-no-match', message: `<${inc.name} href="${href}"> matches no file; nothing included`, file: from, line: inc.line });
      return [];
    }
    return files.map((f) => {
      if (stack.includes(f)) {
        throw new BinderyError('METADATA', `XInclude loop: ${[...stack, f].join(' → ')}`, { file: from, line: inc.line }, 'remove the include that leads back to an including file');
      }
      return walk(parseXml(reader.read(f), f), f, parent, new Set(), [...stack, f]);
    });
  };

  return walk(root, file, null, new Set(), [file]);
}

function prefixOf(tag: string): string {
  const i = tag.indexOf(':');
  return i < 0 ? '' : tag.slice(0, i);
}

function localName(tag: string): string {
  return tag.slice(tag.indexOf(':') + 1);
}

/** Prefixes bound to the XInclude namespace in scope at `el`; `xi` is always accepted. */
function withXIncludePrefixes(el: XmlElement, inherited: ReadonlySet<string>): ReadonlySet<string> {
  let out: Set<string> | null = null;
  for (const [k, v] of Object.entries(el.attrs)) {
    if (k.startsWith('xmlns:') && v === XINCLUDE_NS) (out ??= new Set(inherited)).add(k.slice(6));
  }
  return out ?? inherited;
}

function isXInclude(el: XmlElement, local: 'include' | 'fallback', prefixes: ReadonlySet<string>): boolean {
  const p = prefixOf(el.name);
  return localName(el.name) === local && p !== '' && (p === 'xi' || prefixes.has(p));
}

/** XIncludes read from disk: href relative to the including file, globs allowed, never outside the repository. */
export function diskIncludeReader(repoDir: string): IncludeReader {
  const root = realpathSync(repoDir);
  return {
    resolve(href, fromFile, line) {
      const base = dirname(join(root, fromFile));
      const matches = isDynamicPattern(href, { cwd: base })
        ? globbySync(href, { cwd: base, absolute: true, onlyFiles: true })
        : existsSync(resolve(base, href)) ? [resolve(base, href)] : [];
      return matches
        .map((abs) => {
          const rel = relative(root, realpathSync(abs));
          if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
            throw new BinderyError('REPO', `xi:include href="${href}" leads outside the repository`, { file: fromFile, line }, 'keep included files inside the repository');
          }
          return rel.split(sep).join(posix.sep);
        })
        .sort();
    },
    read(file) {
      return readFileSync(join(root, file), 'utf8');
    },
  };
}
