/** Reading Bundler/: every bundle file parsed once, its Path names checked. */
import { posix } from 'node:path';
import { BinderyError } from '../errors.js';
import type { RepoModel } from '../repo/index.js';
import { parseXml, type XmlElement } from '../xml/index.js';

export interface Bundle {
  readonly name: string;
  /** Repo-relative, e.g. Bundler/web.xml */
  readonly file: string;
  readonly root: XmlElement;
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

/** A Genshi-templated bundle (bindery does not render those). */
export function isGenshi(b: Bundle): boolean {
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

