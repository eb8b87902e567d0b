import { realpath } from 'node:fs/promises';
import { join, posix, isAbsolute } from 'node:path';
import pLimit from 'p-limit';
import { BinderyError, type Diagnostic } from '../errors.js';
import type { Config } from '../config/index.js';
import type { CfgFile, EntrySet, RepoFile } from '../types.js';
import { classifyFile, unsupportedTemplate } from './classify.js';
import { diskFs, type RepoFs } from './fs.js';

/** The whole repository as read once: every Cfg file classified into its entry set. */
export interface RepoModel {
  readonly root: string;
  /** Every file under Cfg/, by repo-relative path. */
  readonly files: ReadonlyMap<string, RepoFile>;
  /** Every file under Metadata/, Bundler/, Properties/ and Probes/, read in the same pass. */
  readonly pluginFiles: ReadonlyMap<string, RepoFile>;
  /** Which of Cfg/, Metadata/, Bundler/, Properties/, Probes/ exist (as directories). */
  readonly plugins: ReadonlySet<string>;
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

function ignoreMatcher(globs: readonly string[]): (relPath: string) => boolean {
  const res = globs.map(globToRegExp);
  return (relPath) => relPath.split('/').some((part) => res.some((r) => r.test(part)));
}

/**
 * Read one repository file, refusing links that dangle or lead out of the repository;
 * null when it is not a regular file (a directory, a link to one, a device).
 */
async function readRepoFile(fs: RepoFs, rel: string): Promise<RepoFile | null> {
  if (rel.includes('\0')) throw new BinderyError('REPO', 'file name contains a NUL byte', { file: rel });
  if ((await fs.type(rel)) === 'symlink') {
    const target = await fs.resolveLink(rel);
    if (target === null) throw new BinderyError('REPO', 'symbolic link points to nothing', { file: rel }, 'remove the dangling link or point it at a file inside the repository');
    if (target === '..' || target.startsWith('../') || isAbsolute(target)) {
      throw new BinderyError('REPO', 'symbolic link points outside the repository; refused', { file: rel }, 'copy the file into the repository instead of linking to it');
    }
  }
  const mode = await fs.fileMode(rel);
  if (mode === null) return null;
  try {
    return { rel, abs: join(fs.root, rel), data: await fs.readFile(rel), mode };
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
        const unsupported = unsupportedTemplate(file.rel);
        if (unsupported) diagnostics.push({ code: 'unsupported-template', message: unsupported, file: file.rel });
        else diagnostics.push({ code: 'unknown-cfg-file', message: `no handler owns this file name; ignored (expected ${basename}, ${basename}.G<NN>_<group>, ${basename}.H_<host>, a template/.crypt/.cat/.diff variant, :test, info.xml, …)`, file: file.rel });
        continue;
      }
      sets[c.role].push({ ...c, file });
    }
    const name = '/' + dir.slice('Cfg/'.length);
    entrySets.set(name, { name, dir, basename, generators: sets.generator, deltas: sets.delta, validators: sets.validator, infos: sets.info, creators: sets.creator });
  }
  return entrySets;
}

/** The folders read besides Cfg/: what metadata, bundles, Properties and Probes load from. */
const PLUGIN_DIRS = ['Metadata', 'Bundler', 'Properties', 'Probes'];

/**
 * Read the repository once: every file under Cfg/ (classified into entry sets) and under the
 * other plugin folders (`pluginFiles`), through the disk or any other RepoFs.
 */
export async function scanRepo(root: string | RepoFs, config: Config, opts: { concurrency?: number } = {}): Promise<RepoModel> {
  const fs = typeof root === 'string' ? diskFs(await resolveRoot(root)) : root;
  const ignored = ignoreMatcher(config.server.ignoreFiles);
  const list = async (dir: string) => {
    try {
      return (await fs.walk(dir)).filter((e) => e.type !== 'dir').map((e) => e.rel);
    } catch (e) {
      throw new BinderyError('REPO', `cannot list ${dir}/: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: dir }, 'check the permissions of the repository');
    }
  };
  const cfg = (await list('Cfg')).filter((p) => !ignored(p.slice('Cfg/'.length)));
  const other = (await Promise.all(PLUGIN_DIRS.map(list))).flat();
  const limit = pLimit(opts.concurrency ?? 32);
  const read = async (rels: readonly string[]) => (await Promise.all(rels.map((rel) => limit(() => readRepoFile(fs, rel))))).filter((f): f is RepoFile => f !== null);
  const [files, pluginFiles] = await Promise.all([read(cfg), read(other)]);
  const plugins = new Set<string>();
  for (const dir of ['Cfg', ...PLUGIN_DIRS]) if ((await fs.type(dir)) === 'dir') plugins.add(dir);
  const diagnostics: Diagnostic[] = [];
  const entrySets = classify(files, diagnostics);
  return { root: fs.root, files: new Map(files.map((f) => [f.rel, f])), pluginFiles: new Map(pluginFiles.map((f) => [f.rel, f])), plugins, entrySets, diagnostics };
}

async function resolveRoot(root: string): Promise<string> {
  return realpath(root).catch(() => {
    throw new BinderyError('not-a-repository', 'repository directory does not exist', { file: root }, 'pass the path of a Bcfg2 repository (the directory holding Metadata/ and Cfg/)');
  });
}

/**
 * The model with some files added (the key phase's output): only those files are read, and
 * only their entry sets classified again; everything else is shared with `repo`.
 */
export async function addFiles(repo: RepoModel, rels: readonly string[]): Promise<RepoModel> {
  const fs = diskFs(repo.root);
  const added = (await Promise.all(rels.map((rel) => readRepoFile(fs, rel)))).filter((f): f is RepoFile => f !== null);
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
  return { ...repo, files, entrySets: sorted, diagnostics: [...kept, ...diagnostics] };
}
