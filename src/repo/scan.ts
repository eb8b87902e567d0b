import { lstat, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep, posix, isAbsolute } from 'node:path';
import { globby } from 'globby';
import pLimit from 'p-limit';
import { BinderyError, type Diagnostic } from '../errors.js';
import type { Config } from '../config/index.js';
import type { CfgFile, EntrySet, RepoFile } from '../types.js';
import { classifyFile } from './classify.js';

/** The whole repository as read once: every Cfg file classified into its entry set. */
export interface RepoModel {
  readonly root: string;
  readonly files: ReadonlyMap<string, RepoFile>;
  /** Keyed by client-side path (/etc/motd), sorted. */
  readonly entrySets: ReadonlyMap<string, EntrySet>;
  readonly diagnostics: readonly Diagnostic[];
}

/** fnmatch-style glob (as in [server] ignore_files) to a RegExp over one name. */
function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const ch of glob) re += ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${re}$`);
}

export function ignoreMatcher(globs: readonly string[]): (relPath: string) => boolean {
  const res = globs.map(globToRegExp);
  return (relPath) => relPath.split('/').some((part) => res.some((r) => r.test(part)));
}

/** Refuse anything that resolves outside the repository (symlinks included). */
async function insideRepo(root: string, rel: string): Promise<string> {
  const abs = join(root, rel);
  const st = await lstat(abs);
  if (!st.isSymbolicLink()) return abs;
  let target: string;
  try {
    target = await realpath(abs);
  } catch {
    throw new BinderyError('REPO', 'symbolic link points to nothing', { file: rel }, 'remove the dangling link or point it at a file inside the repository');
  }
  const within = relative(root, target);
  if (within.startsWith('..') || isAbsolute(within)) {
    throw new BinderyError('REPO', 'symbolic link points outside the repository; refused', { file: rel }, 'copy the file into the repository instead of linking to it');
  }
  return abs;
}

/** Read one repository file, refusing links out of the repository; null when it is not a regular file. */
async function readRepoFile(repoRoot: string, rel: string): Promise<RepoFile | null> {
  if (rel.includes('\0')) throw new BinderyError('REPO', 'file name contains a NUL byte', { file: rel });
  const abs = await insideRepo(repoRoot, rel);
  const st = await stat(abs).catch(() => null);
  if (!st || !st.isFile()) return null;
  try {
    return { rel, abs, data: await readFile(abs), mode: st.mode };
  } catch (e) {
    throw new BinderyError('REPO', `cannot read file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: rel }, 'fix its permissions so the build user can read it');
  }
}

/** Group files by directory into classified entry sets. */
function classify(files: Iterable<RepoFile>, diagnostics: Diagnostic[]): Map<string, EntrySet> {
  const byDir = new Map<string, RepoFile[]>();
  for (const f of files) {
    const dir = posix.dirname(f.rel);
    if (dir === 'Cfg') {
      diagnostics.push({ code: 'cfg-file-outside-entry', message: 'file directly in Cfg/ belongs to no entry set; ignored', file: f.rel });
      continue;
    }
    const list = byDir.get(dir) ?? [];
    list.push(f);
    byDir.set(dir, list);
  }
  const entrySets = new Map<string, EntrySet>();
  for (const dir of [...byDir.keys()].sort()) {
    const basename = posix.basename(dir);
    const sets: Record<CfgFile['role'], CfgFile[]> = { generator: [], delta: [], validator: [], info: [], creator: [] };
    for (const file of byDir.get(dir)!.sort((a, b) => (a.rel < b.rel ? -1 : 1))) {
      const c = classifyFile(basename, posix.basename(file.rel));
      if (c === 'ignored') continue;
      if (c === null) {
        diagnostics.push({ code: 'unknown-cfg-file', message: `no handler owns this file name; ignored (expected ${basename}, ${basename}.G<NN>_<group>, ${basename}.H_<host>, a template/.crypt/.cat/.diff variant, :test, info.xml, …)`, file: file.rel });
        continue;
      }
      sets[c.role].push({ ...c, file });
    }
    const name = '/' + dir.slice('Cfg/'.length);
    entrySets.set(name, { name, dir, basename, generators: sets.generator, deltas: sets.delta, validators: sets.validator, infos: sets.info, creators: sets.creator });
  }
  return entrySets;
}

/** Read every file under Cfg/ once and classify it. */
export async function scanRepo(root: string, config: Config, opts: { concurrency?: number } = {}): Promise<RepoModel> {
  const repoRoot = await realpath(root).catch(() => {
    throw new BinderyError('REPO', 'repository directory does not exist', { file: root }, 'pass the path of a Bcfg2 repository (the directory holding Metadata/ and Cfg/)');
  });
  const ignored = ignoreMatcher(config.server.ignoreFiles);
  let paths: string[];
  try {
    paths = await globby('Cfg/**', { cwd: repoRoot, dot: true, onlyFiles: false, followSymbolicLinks: false, markDirectories: true });
  } catch (e) {
    throw new BinderyError('REPO', `cannot list Cfg/: ${(e as Error).message}`, { file: 'Cfg' }, 'check the permissions of the repository');
  }
  // Directories are listed only to find symlinked ones; files are what we read.
  const candidates = paths.filter((p) => !p.endsWith('/') && !ignored(p.slice('Cfg/'.length))).sort();
  const limit = pLimit(opts.concurrency ?? 32);
  const files = (await Promise.all(candidates.map((rel) => limit(() => readRepoFile(repoRoot, rel))))).filter((f): f is RepoFile => f !== null);
  const diagnostics: Diagnostic[] = [];
  const entrySets = classify(files, diagnostics);
  return { root: repoRoot, files: new Map(files.map((f) => [f.rel, f])), entrySets, diagnostics };
}

/**
 * The model with some files added (the key phase's output): only those files are read, and
 * only their entry sets classified again; everything else is shared with `repo`.
 */
export async function addFiles(repo: RepoModel, rels: readonly string[]): Promise<RepoModel> {
  const added = (await Promise.all(rels.map((rel) => readRepoFile(repo.root, rel)))).filter((f): f is RepoFile => f !== null);
  if (added.length === 0) return repo;
  const files = new Map(repo.files);
  for (const f of added) files.set(f.rel, f);
  const dirs = new Set(added.map((f) => posix.dirname(f.rel)));
  const touched = [...files.values()].filter((f) => dirs.has(posix.dirname(f.rel)));
  const diagnostics: Diagnostic[] = [];
  const entrySets = new Map(repo.entrySets);
  for (const [name, set] of classify(touched, diagnostics)) entrySets.set(name, set);
  const sorted = new Map([...entrySets].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  // The touched directories' findings are replaced by the new classification's.
  const kept = repo.diagnostics.filter((d) => !d.file || !dirs.has(posix.dirname(d.file)));
  return { root: repo.root, files, entrySets: sorted, diagnostics: [...kept, ...diagnostics] };
}

/** A repo-relative POSIX path for messages, whatever the platform separator. */
export function repoRelative(root: string, abs: string): string {
  return relative(root, abs).split(sep).join('/');
}
