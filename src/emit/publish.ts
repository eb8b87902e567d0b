/**
 * Atomic publish of a build into an output directory:
 *
 *   <dir>/.builds/<id>/{hosts/<host>.tar.gz, hosts/<host>.meta.json (each with a .sig), manifest.json, manifest.json.sig}
 *   <dir>/current            -> .builds/<id>      (swapped with one rename())
 *   <dir>/hosts              -> current/hosts     (stable, made once)
 *   <dir>/manifest.json      -> current/manifest.json
 *   <dir>/manifest.json.sig  -> current/manifest.json.sig
 *
 * A build is written and fsync'd completely before `current` moves, so a reader sees the whole
 * previous build or the whole new one, and a failed build leaves the previous output untouched.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, type Stats } from 'node:fs';
import { link, open, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { asBinderyError, BinderyError, isBinderyError } from '../errors.js';
import { fsyncDir } from '../fsutil/index.js';
import type { BindFailure, BoundFile } from '../types.js';
import { stableStringify } from './json.js';
import { signBytes, type SigningKey } from './sign.js';
import { FIXED_MTIME, MAX_MTIME, packEntries, tarEntries, type TarEntry } from './tarball.js';

export interface BuildInput {
  readonly hosts: readonly { host: string; files: readonly BoundFile[] }[];
  readonly failures: readonly BindFailure[];
  readonly skipped: readonly unknown[];
  readonly warnings: readonly unknown[];
  /** The repository's git revision, or null when it is not a git checkout. */
  readonly revision: string | null;
  /** Set by `build --shard K/N`: which slice of the hosts this is, and a hash of the inputs (for `bindery merge`). */
  readonly shard?: ShardInfo;
}

export interface ShardInfo {
  /** 1-based. */
  readonly index: number;
  readonly count: number;
  /** sha256 over the repository's files and the configuration: shards of one build agree on it. */
  readonly inputs: string;
}

export interface ManifestFile {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  /** Four octal digits, e.g. '0644'. */
  readonly mode: string;
  readonly owner: string;
  readonly group: string;
  /** Repo-relative generator (or creator) file. */
  readonly source: string;
  /** Repo-relative delta files applied, in order. */
  readonly deltas: readonly string[];
}

export interface ManifestHost {
  /** Relative to the build directory: 'hosts/<host>.tar.gz'. */
  readonly tarball: string;
  /** sha256 of the .tar.gz bytes. */
  readonly sha256: string;
  /** Relative to the build directory: 'hosts/<host>.meta.json' (absent in builds of older releases). */
  readonly meta: string;
  /** Sorted by path, in tar order. */
  readonly files: readonly ManifestFile[];
}

/**
 * hosts/<host>.meta.json, signed like the tarball. The tarball's own signature covers its bytes
 * only, so it cannot say whose configuration it is; this small signed file binds the tarball
 * (by sha256) to the host's name, so a client can refuse another host's validly signed tarball.
 */
export interface HostMeta {
  readonly version: 1;
  readonly host: string;
  /** sha256 of hosts/<host>.tar.gz. */
  readonly sha256: string;
  /** The manifest's builtAt. */
  readonly builtAt: string;
  /** The manifest's revision. */
  readonly revision: string | null;
}

export interface Manifest {
  readonly version: 1;
  readonly builtAt: string;
  readonly revision: string | null;
  /** SPKI PEM of the Ed25519 key that signed every file of this build. */
  readonly signingKey: string;
  readonly hosts: Readonly<Record<string, ManifestHost>>;
  readonly failures: readonly BindFailure[];
  readonly skipped: readonly unknown[];
  readonly warnings: readonly unknown[];
  readonly shard?: ShardInfo;
}

const BUILDS = '.builds';
const CURRENT = 'current';
const LOCK = '.lock';
const MANIFEST = 'manifest.json';
const STABLE_LINKS = ['hosts', MANIFEST, `${MANIFEST}.sig`] as const;
/** Host names become file names; this keeps them to one safe path component. */
const HOST_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$/;

/** Output is readable by the building user only: tarballs hold decrypted secrets and private keys. */
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

const NOT_OURS_HINT = 'choose a new or empty directory for the build output; bindery never deletes files it did not create';

/**
 * SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/) as seconds, or null
 * when unset or empty. A malformed value is an error, as the specification asks.
 */
export function sourceDateEpoch(env: NodeJS.ProcessEnv): number | null {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return null;
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || n > MAX_MTIME) {
    throw new BinderyError('CONFIG', `SOURCE_DATE_EPOCH='${raw}' is not a whole number of seconds since 1970`, {}, 'set it to e.g. $(git log -1 --format=%ct), or unset it');
  }
  return n;
}

/**
 * Write the whole build into <outDir>/.builds/<id>/, then point <outDir>/current at it in one step.
 * Keeps the previous build (a server may still be streaming from it) and removes older ones.
 * opts.env (default process.env) supplies SOURCE_DATE_EPOCH; opts.onHost is called as each host's
 * tarball is written.
 */
export async function publishBuild(
  outDir: string,
  input: BuildInput,
  key: SigningKey,
  opts: { concurrency?: number; onHost?: () => void; env?: NodeJS.ProcessEnv } = {},
): Promise<Manifest> {
  const epoch = sourceDateEpoch(opts.env ?? process.env);
  const builtAt = new Date(epoch === null ? Date.now() : epoch * 1000).toISOString();
  // Everything wrong with the input is found before the output directory is touched.
  const hosts = checkHosts(input.hosts);
  let unlock: () => void;
  try {
    prepareOutDir(outDir);
    unlock = lock(outDir);
  } catch (e) {
    throw asBinderyError(e, 'EMIT', { file: outDir });
  }
  try {
    const previous = previousBuild(outDir);
    const id = newBuildId();
    const dir = join(outDir, BUILDS, id);
    let manifest: Manifest;
    try {
      mkdirSync(join(dir, 'hosts'), { recursive: true, mode: DIR_MODE });
      const written = await writeHosts(dir, hosts, previous, key, { mtime: epoch ?? FIXED_MTIME, builtAt, revision: input.revision }, opts);
      manifest = {
        version: 1,
        builtAt,
        revision: input.revision,
        signingKey: key.publicKeyPem,
        hosts: Object.fromEntries(written),
        failures: input.failures,
        skipped: input.skipped,
        warnings: input.warnings,
        ...(input.shard ? { shard: input.shard } : {}),
      };
      const json = Buffer.from(stableStringify(manifest));
      await writeDurable(join(dir, MANIFEST), json);
      await writeDurable(join(dir, `${MANIFEST}.sig`), signBytes(json, key));
      fsyncDir(join(dir, 'hosts'));
      fsyncDir(dir);
      fsyncDir(join(outDir, BUILDS));
      switchCurrent(outDir, id);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw isBinderyError(e) ? e : asBinderyError(e, 'EMIT', { file: outDir });
    }
    ensureStableLinks(outDir);
    fsyncDir(outDir);
    collectGarbage(outDir, new Set([LOCK, id, ...(previous ? [previous.id] : [])]));
    return manifest;
  } finally {
    unlock();
  }
}

/**
 * The published build: `current` is resolved once, so every file a caller reads from `dir` belongs
 * to the build `manifest` describes, even if a new build is published meanwhile. null if nothing
 * has been published to outDir yet.
 */
export function readCurrentBuild(outDir: string): { dir: string; manifest: Manifest } | null {
  const link = join(outDir, CURRENT);
  if (!lstatOrNull(link)) return null;
  let dir: string;
  try {
    dir = realpathSync(link);
  } catch (e) {
    throw new BinderyError('EMIT', `the '${CURRENT}' link is broken: ${(e as Error).message}`, { file: link }, 'run bindery build again to publish a complete build');
  }
  const file = join(dir, MANIFEST);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  } catch (e) {
    throw new BinderyError('EMIT', `cannot read the published manifest: ${(e as Error).message}`, { file }, 'run bindery build again to publish a complete build');
  }
  if (manifest?.version !== 1) {
    throw new BinderyError('EMIT', `unsupported manifest version ${String(manifest?.version)}`, { file }, 'use the bindery release that wrote this output, or rebuild');
  }
  return { dir, manifest };
}

interface CheckedHost {
  readonly host: string;
  readonly entries: readonly TarEntry[];
}

function checkHosts(hosts: BuildInput['hosts']): CheckedHost[] {
  const seen = new Set<string>();
  const checked = hosts.map(({ host, files }) => {
    if (!HOST_RE.test(host)) {
      throw new BinderyError('EMIT', `host name '${host}' cannot be used as a file name`, { host }, 'client names must be host names: letters, digits, ".", "-", "_"');
    }
    if (seen.has(host)) throw new BinderyError('EMIT', 'the build lists this host twice', { host }, 'this is a bug in the caller; please report it');
    seen.add(host);
    try {
      return { host, entries: tarEntries(files) };
    } catch (e) {
      throw asBinderyError(e, 'EMIT', { host });
    }
  });
  return checked.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}

async function writeHosts(
  dir: string,
  hosts: readonly CheckedHost[],
  previous: PreviousBuild | null,
  key: SigningKey,
  build: { mtime: number; builtAt: string; revision: string | null },
  opts: { concurrency?: number; onHost?: () => void },
): Promise<[string, ManifestHost][]> {
  const limit = pLimit(Math.max(1, opts.concurrency ?? availableParallelism()));
  // After the first failure, queued hosts are skipped; the build is going to be thrown away.
  const skipped = Symbol('skipped');
  let failed = false;
  const settled = await Promise.allSettled(
    hosts.map(({ host, entries }) =>
      limit(async (): Promise<[string, ManifestHost]> => {
        if (failed) throw skipped;
        try {
          const tarball = `hosts/${host}.tar.gz`;
          const bytes = await packEntries(entries, build.mtime);
          const sha256 = createHash('sha256').update(bytes).digest('hex');
          const target = join(dir, tarball);
          // The meta is always written fresh: it carries this build's builtAt and revision.
          const meta = `hosts/${host}.meta.json`;
          const hostMeta: HostMeta = { version: 1, host, sha256, builtAt: build.builtAt, revision: build.revision };
          const metaBytes = Buffer.from(stableStringify(hostMeta));
          // Written side by side, so their fsyncs overlap.
          await Promise.all([
            (async () => {
              const reused = previous?.manifest?.hosts[host]?.sha256 === sha256 && (await linkSame(join(previous.dir, tarball), target, bytes));
              if (!reused) await writeDurable(target, bytes);
            })(),
            writeDurable(`${target}.sig`, signBytes(bytes, key)),
            writeDurable(join(dir, meta), metaBytes),
            writeDurable(join(dir, `${meta}.sig`), signBytes(metaBytes, key)),
          ]);
          opts.onHost?.();
          return [host, { tarball, sha256, meta, files: entries.map(manifestFile) }];
        } catch (e) {
          failed = true;
          throw asBinderyError(e, 'EMIT', { host });
        }
      }),
    ),
  );
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected' && r.reason !== skipped);
  if (failure) throw failure.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<[string, ManifestHost]>).value);
}

function manifestFile(e: TarEntry): ManifestFile {
  return { path: e.path, sha256: e.sha256, size: e.data.length, mode: e.modeText, owner: e.owner, group: e.group, source: e.source, deltas: e.deltas };
}

/** Hard-link the previous build's identical tarball instead of writing it again; false if that fails. */
async function linkSame(previousFile: string, target: string, bytes: Buffer): Promise<boolean> {
  try {
    // Compared, not trusted: the old file might have been damaged since it was written.
    if (!(await readFile(previousFile)).equals(bytes)) return false;
    await link(previousFile, target);
    return true;
  } catch {
    return false;
  }
}

async function writeDurable(path: string, data: Buffer): Promise<void> {
  const fh = await open(path, 'wx', FILE_MODE);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Create outDir if needed; refuse one that holds anything bindery did not make. */
function prepareOutDir(outDir: string): void {
  let st: Stats;
  try {
    st = statSync(outDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw asBinderyError(e, 'EMIT', { file: outDir });
    mkdirSync(join(outDir, BUILDS), { recursive: true, mode: DIR_MODE });
    return;
  }
  if (!st.isDirectory()) throw new BinderyError('EMIT', 'the output path exists and is not a directory', { file: outDir }, NOT_OURS_HINT);
  const refuse = (why: string) => new BinderyError('EMIT', `refusing to publish here: ${why}`, { file: outDir }, NOT_OURS_HINT);
  const current = lstatOrNull(join(outDir, CURRENT));
  const builds = lstatOrNull(join(outDir, BUILDS));
  if (builds && !builds.isDirectory()) throw refuse(`'${BUILDS}' is not a directory`);
  if (current) {
    if (!current.isSymbolicLink() || !readlinkSync(join(outDir, CURRENT)).startsWith(`${BUILDS}/`)) throw refuse(`'${CURRENT}' is not bindery's link into ${BUILDS}/`);
    for (const name of STABLE_LINKS) {
      const l = lstatOrNull(join(outDir, name));
      if (l && !(l.isSymbolicLink() && readlinkSync(join(outDir, name)) === `${CURRENT}/${name}`)) throw refuse(`'${name}' is not bindery's link to ${CURRENT}/${name}`);
    }
  } else if (readdirSync(outDir).some((n) => n !== BUILDS)) {
    // Only .builds/ may exist without `current`: what a build that died before its first switch leaves.
    throw refuse(`the directory is not empty and has no '${CURRENT}' link, so it is not a bindery output directory`);
  }
  mkdirSync(join(outDir, BUILDS), { recursive: true, mode: DIR_MODE });
}

/** One publisher at a time per output directory: a pid file, taken over when its process is gone. */
function lock(outDir: string): () => void {
  const path = join(outDir, BUILDS, LOCK);
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: FILE_MODE });
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw asBinderyError(e, 'EMIT', { file: path });
    }
    let holder = NaN;
    try {
      holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
    } catch {
      // Released between our attempt and this read: try again.
    }
    if (isAlive(holder)) {
      throw new BinderyError('EMIT', `another bindery build (pid ${holder}) is publishing to this directory`, { file: outDir }, `wait for it to finish; if no build is running, remove ${path}`);
    }
    rmSync(path, { force: true });
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sortable by time, unique across processes. */
function newBuildId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '');
  return `${stamp}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

interface PreviousBuild {
  readonly id: string;
  readonly dir: string;
  /** null when its manifest cannot be read: nothing is reused from it, but it is still kept. */
  readonly manifest: Manifest | null;
}

/** The build `current` points at, for reuse and to keep through garbage collection. */
function previousBuild(outDir: string): PreviousBuild | null {
  const link = join(outDir, CURRENT);
  if (!lstatOrNull(link)) return null;
  const id = readlinkSync(link).slice(BUILDS.length + 1);
  try {
    const build = readCurrentBuild(outDir);
    return build && { id, ...build };
  } catch {
    return { id, dir: join(outDir, BUILDS, id), manifest: null };
  }
}

function switchCurrent(outDir: string, id: string): void {
  // The new link is made beside the builds and renamed over `current`: rename() is atomic.
  const temp = join(outDir, BUILDS, `.current-${id}`);
  symlinkSync(`${BUILDS}/${id}`, temp);
  renameSync(temp, join(outDir, CURRENT));
}

function ensureStableLinks(outDir: string): void {
  for (const name of STABLE_LINKS) {
    if (!lstatOrNull(join(outDir, name))) symlinkSync(`${CURRENT}/${name}`, join(outDir, name));
  }
}

function collectGarbage(outDir: string, keep: ReadonlySet<string>): void {
  const builds = join(outDir, BUILDS);
  for (const name of readdirSync(builds)) {
    if (keep.has(name)) continue;
    try {
      rmSync(join(builds, name), { recursive: true, force: true });
    } catch {
      // The build is already published; the next publish retries the clean-up.
    }
  }
}
