import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { BinderyError } from '../errors.js';
import { compile, type CompileResult } from '../pipeline/index.js';
import { snapshotOfHosts, type BuildSnapshot } from './snapshot.js';

const execFileAsync = promisify(execFile);

export interface RevisionBuildOptions {
  readonly configPath?: string;
  readonly jobs: number;
  readonly validate: boolean;
  readonly env: NodeJS.ProcessEnv;
}

export interface RevisionBuilds {
  readonly old: BuildSnapshot;
  readonly new: BuildSnapshot;
  /** Every host's groups in either revision (the new revision's when both have the host). */
  readonly hostGroups: ReadonlyMap<string, readonly string[]>;
}

async function git(cwd: string, args: readonly string[]): Promise<string> {
  try {
    return (await execFileAsync('git', ['-C', cwd, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 })).stdout.trim();
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new BinderyError('USAGE', 'git is not installed', {}, 'install the Debian package git');
    throw new BinderyError('USAGE', `git ${args[0]} failed: ${(err.stderr ?? err.message).trim().split('\n')[0]}`, { file: cwd }, 'pass a git checkout and revisions it has (bindery diff <repo> --rev A..B)');
  }
}

/** "A..B" (B defaults to HEAD). A revision may not look like an option: it is passed to git. */
function parseRange(range: string): [string, string] {
  const i = range.indexOf('..');
  if (i <= 0 || range.includes('...')) throw new BinderyError('USAGE', `--rev ${range}: expected A..B (two revisions, e.g. origin/main..HEAD)`);
  const [a, b] = [range.slice(0, i), range.slice(i + 2) || 'HEAD'];
  for (const r of [a, b]) {
    if (r.startsWith('-') || /[\s\0]/.test(r)) throw new BinderyError('USAGE', `--rev: "${r}" is not a revision name`, {}, 'name commits, branches or tags (e.g. main~1..main)');
  }
  return [a, b];
}

/** Extract the repository directory as it is at `commit` into `dest`; returns the repository's path there. */
async function checkout(top: string, prefix: string, commit: string, dest: string): Promise<string> {
  await new Promise<void>((done, fail) => {
    const archive = spawn('git', ['-C', top, 'archive', '--format=tar', commit, '--', prefix || '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const untar = spawn('tar', ['-x', '-C', dest], { stdio: ['pipe', 'ignore', 'pipe'] });
    let errors = '';
    archive.stderr.on('data', (d) => (errors += d));
    untar.stderr.on('data', (d) => (errors += d));
    archive.stdout.pipe(untar.stdin);
    let left = 2;
    const onExit = (what: string) => (code: number | null) => {
      if (code !== 0) fail(new BinderyError('USAGE', `${what} of ${commit} failed: ${errors.trim().split('\n')[0] ?? ''}`, { file: top }, 'check that git and tar (Debian packages git, tar) are installed'));
      else if (--left === 0) done();
    };
    archive.on('error', () => fail(new BinderyError('USAGE', 'git is not installed', {}, 'install the Debian package git')));
    untar.on('error', () => fail(new BinderyError('USAGE', 'tar is not installed', {}, 'install the Debian package tar')));
    archive.on('close', onExit('git archive'));
    untar.on('close', onExit('unpacking'));
  });
  return join(dest, prefix);
}

/**
 * Give the new tree the key files the old build generated or replaced, where the new revision
 * has the file as the old revision had it (or not at all): otherwise both builds would make
 * different random keys for the same request.
 */
async function shareKeys(written: readonly string[], t: { top: string; prefix: string; commit: string; from: string; to: string }): Promise<void> {
  for (const rel of written) {
    const to = join(t.to, rel);
    if (!existsSync(dirname(to))) continue;
    if (existsSync(to)) {
      const before = await gitBlob(t.top, `${t.commit}:${t.prefix}${rel}`);
      if (before === null || !before.equals(readFileSync(to))) continue; // the new revision changed it: keep its own
    }
    copyFileSync(join(t.from, rel), to);
  }
}

/** A file as committed, or null when the revision does not have it. */
async function gitBlob(top: string, spec: string): Promise<Buffer | null> {
  try {
    return (await execFileAsync('git', ['-C', top, 'cat-file', 'blob', spec], { encoding: 'buffer', maxBuffer: 1 << 26 })).stdout;
  } catch {
    return null;
  }
}

/**
 * Build two revisions of a git repository in temporary directories (the checkout is not
 * touched). Keys the key phase generates for the old revision are given to the new one, so a
 * key that both revisions ask for is not reported as changed.
 */
export async function buildRevisions(repoDir: string, range: string, opts: RevisionBuildOptions): Promise<RevisionBuilds> {
  const [a, b] = parseRange(range);
  const dir = resolve(repoDir);
  const top = await git(dir, ['rev-parse', '--show-toplevel']);
  const prefix = await git(dir, ['rev-parse', '--show-prefix']);
  const commits = [await git(dir, ['rev-parse', '--verify', '--end-of-options', `${a}^{commit}`]), await git(dir, ['rev-parse', '--verify', '--end-of-options', `${b}^{commit}`])] as const;
  const work = mkdtempSync(join(tmpdir(), 'bindery-diff-'));
  try {
    const trees = [join(work, 'old'), join(work, 'new')];
    trees.forEach((t) => mkdirSync(t));
    const [oldRepo, newRepo] = [await checkout(top, prefix, commits[0], trees[0]!), await checkout(top, prefix, commits[1], trees[1]!)];
    const build = (repo: string) => compile({ repo, configPath: opts.configPath, jobs: opts.jobs, validate: opts.validate, generateKeys: true, env: opts.env });
    const oldResult = await build(oldRepo);
    await shareKeys(oldResult.keysWritten, { top, prefix, commit: commits[0], from: oldRepo, to: newRepo });
    const newResult = await build(newRepo);
    const hostGroups = new Map<string, readonly string[]>();
    for (const r of [oldResult, newResult]) for (const c of r.metadata.clients) hostGroups.set(c.hostname, c.groups);
    const snap = (r: CompileResult, rev: string, commit: string) => snapshotOfHosts(`${rev} (${commit.slice(0, 12)})`, r.hosts, commit);
    return { old: snap(oldResult, a, commits[0]), new: snap(newResult, b, commits[1]), hostGroups };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
