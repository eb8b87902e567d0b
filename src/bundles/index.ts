/**
 * Bundler: which Path entries a client gets.
 * Only `Path` entries are bindery's business; other entries are reported as skipped.
 */
import { posix } from 'node:path';
import { BinderyError, type Diagnostic } from '../errors.js';
import type { RepoModel } from '../repo/index.js';
import type { ClientMetadata, PathEntry } from '../types.js';
import { clientConditions, parseXml, xmlMatch, type XmlElement } from '../xml/index.js';
import { fnmatchRegExp } from './fnmatch.js';

export interface Bundle {
  readonly name: string;
  /** Repo-relative, e.g. Bundler/web.xml */
  readonly file: string;
  readonly root: XmlElement;
}

export interface SkippedEntry {
  readonly bundle: string;
  readonly tag: string;
  readonly name: string;
}

export interface ClientPlan {
  readonly paths: readonly PathEntry[];
  readonly skipped: readonly SkippedEntry[];
  readonly diagnostics: readonly Diagnostic[];
}

const GENSHI_NS = 'http://genshi.edgewall.org/';
const BUNDLE_FILE = /^(.+)\.(xml|genshi)$/;

/**
 * Every `Bundler/<name>.xml` (and legacy `.genshi`) of the scanned repository, parsed once;
 * null without a Bundler/ directory. Path names are checked here, in every branch of the
 * file, so a bad one is an error whichever clients reach it.
 */
export function loadBundles(repo: Pick<RepoModel, 'pluginFiles' | 'plugins'>): ReadonlyMap<string, Bundle> | null {
  if (!repo.plugins.has('Bundler')) return null;
  const bundles = new Map<string, Bundle>();
  const files = [...repo.pluginFiles.values()].filter((f) => posix.dirname(f.rel) === 'Bundler').sort((a, b) => (a.rel < b.rel ? -1 : 1));
  for (const f of files) {
    const m = BUNDLE_FILE.exec(posix.basename(f.rel));
    if (!m) continue;
    const file = f.rel;
    const name = m[1]!;
    const other = bundles.get(name);
    if (other) {
      throw new BinderyError('REPO', `two files for bundle "${name}": ${other.file} and ${file}`, { file }, 'keep one file per bundle name');
    }
    const bundle: Bundle = { name, file, root: parseXml(f.data.toString('utf8'), file) };
    if (!isGenshi(bundle)) checkEntries(bundle.root, file);
    bundles.set(name, bundle);
  }
  return bundles;
}

function isGenshi(b: Bundle): boolean {
  return b.file.endsWith('.genshi') || Object.entries(b.root.attrs).some(([k, v]) => (k === 'xmlns' || k.startsWith('xmlns:')) && v === GENSHI_NS);
}

/** Path names must be absolute, free of `..` components and NUL; RequiredBundle needs a name. */
function checkEntries(el: XmlElement, file: string): void {
  for (const c of el.children) {
    if (c.name === 'Path') {
      const { name, glob, altsrc } = c.attrs;
      if (glob === undefined) {
        if (!name) throw new BinderyError('REPO', '<Path> without a name (or glob)', { file, line: c.line }, 'give the Path a name="/absolute/path" attribute');
        checkPathName(name, 'name', file, c.line);
      }
      if (altsrc !== undefined) checkPathName(altsrc, 'altsrc', file, c.line);
    } else if (c.name === 'RequiredBundle' && !c.attrs.name) {
      throw new BinderyError('REPO', '<RequiredBundle> without a name', { file, line: c.line }, 'name the bundle it requires: <RequiredBundle name="…"/>');
    }
    checkEntries(c, file);
  }
}

function checkPathName(value: string, attr: string, file: string, line: number): void {
  const problem = value.includes('\0')
    ? 'contains a NUL character'
    : !value.startsWith('/')
      ? 'is not an absolute path'
      : value.split('/').includes('..')
        ? 'has a ".." component'
        : null;
  if (problem) {
    throw new BinderyError('REPO', `Path ${attr}="${value.replace(/\0/g, '\\0')}" ${problem}`, { file, line, path: value.replace(/\0/g, '\\0') }, 'Path names are absolute client-side paths such as /etc/motd, without ".." components');
  }
}

/**
 * The Path entries one client gets: its bundles (sorted), then bundles they require, each once.
 * Contents are filtered with XMLMatch; `glob=` is expanded (fnmatch) against
 * `knownPaths`. A path in two bundles is kept once, for the first bundle.
 */
export function planClient(bundles: ReadonlyMap<string, Bundle>, metadata: ClientMetadata, knownPaths: readonly string[]): ClientPlan {
  const host = metadata.hostname;
  const paths = new Map<string, PathEntry>();
  const skipped: SkippedEntry[] = [];
  const diagnostics: Diagnostic[] = [];
  const queue = [...metadata.bundles];
  const queued = new Set(queue);
  const cond = clientConditions(metadata);

  const add = (entry: PathEntry, file: string, line: number) => {
    const first = paths.get(entry.name);
    if (!first) paths.set(entry.name, entry);
    else if ((first.altsrc ?? null) !== (entry.altsrc ?? null)) {
      diagnostics.push({
        code: 'conflicting-altsrc',
        message: `${entry.name} is in bundle "${first.bundle}"${first.altsrc ? ` with altsrc ${first.altsrc}` : ' without altsrc'} and in bundle "${entry.bundle}"${entry.altsrc ? ` with altsrc ${entry.altsrc}` : ' without altsrc'}; the first is used`,
        file,
        line,
        host,
        path: entry.name,
      });
    }
  };

  for (let i = 0; i < queue.length; i++) {
    const name = queue[i]!;
    const bundle = bundles.get(name);
    if (!bundle) {
      diagnostics.push({ code: 'missing-bundle', message: `bundle "${name}" of client ${host} has no file Bundler/${name}.xml; it is skipped`, host });
      continue;
    }
    if (isGenshi(bundle)) {
      diagnostics.push({ code: 'unsupported-bundle-template', message: `bundle "${name}" is a Genshi template, which bindery does not render; it is skipped`, file: bundle.file, host });
      continue;
    }
    for (const el of xmlMatch(bundle.root, cond).children) {
      if (el.name === 'Path') {
        const { glob, altsrc } = el.attrs;
        const names = glob === undefined ? [el.attrs.name!] : expandGlob(glob, knownPaths);
        if (names.length === 0) {
          diagnostics.push({ code: 'glob-no-match', message: `<Path glob="${glob}"> in bundle "${name}" matches no known entry`, file: bundle.file, line: el.line, host });
        }
        for (const n of names) add(altsrc === undefined ? { name: n, bundle: name } : { name: n, altsrc, bundle: name }, bundle.file, el.line);
      } else if (el.name === 'RequiredBundle') {
        const required = el.attrs.name!;
        if (!queued.has(required)) {
          queued.add(required);
          queue.push(required);
        }
      } else if (el.name.endsWith(':include')) {
        diagnostics.push({ code: 'unsupported-xinclude', message: `<${el.name}> in a bundle is not followed; put the entries in the bundle file`, file: bundle.file, line: el.line, host });
      } else if (el.name !== 'Bundle') {
        // `<Bundle name=…/>` is 1.4's inherit_modification marker, not an entry.
        skipped.push({ bundle: name, tag: el.name, name: el.attrs.name ?? '' });
      }
    }
  }
  return { paths: [...paths.values()], skipped, diagnostics };
}

function expandGlob(glob: string, knownPaths: readonly string[]): string[] {
  const re = fnmatchRegExp(glob);
  return knownPaths.filter((p) => re.test(p)).sort();
}
