/**
 * Atomic publish of a build into an output directory (format v2, docs/output-format.md; the
 * names are in protocol/layout.ts). Hosts are written into the content-addressed objects/ store
 * as they are bound (store.ts, often on worker threads); then a new .builds/<id>/ gets the
 * hosts/ links and the signed manifest, the whole build is made durable in one pass, and
 * `current` moves to it with one rename(). A reader sees the whole previous build or the whole
 * new one; a failed build leaves the previous output as it was.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeSync, writeFileSync, type Stats, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { asBinderyError, BinderyError } from '../errors.js';
import { fsyncDir } from '../fsutil/index.js';
import { FORMAT_VERSION, type Manifest, type ShardInfo } from '../protocol/format.js';
import { BUILDS, CACHE, CURRENT, HEAD, HOSTS, LOCK, MANIFEST, OBJECTS, SIGNATURE_SUFFIX, STABLE_LINKS, hostTarballPath, objectPath, signaturePath } from '../protocol/layout.js';
import type { BindFailure } from '../types.js';
import { writeHead } from './head.js';
import { stableChunks } from './json.js';
import { signBytes, type SigningKey } from './sign.js';
import { FILE_MODE, type EmitTarget, type EmittedHost } from './store.js';
import { FIXED_MTIME, MAX_MTIME } from './tarball.js';

const DIR_MODE = 0o700;

const NOT_OURS_HINT = 'choose a new or empty directory for the build output; bindery never deletes files it did not create';

/** What an output directory may hold besides the stable links: anything else means it is not ours. */
const OURS = new Set<string>([BUILDS, OBJECTS, CURRENT, CACHE, ...STABLE_LINKS]);

/**
 * SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/) as seconds, or null
 * when unset or empty. A malformed value is an error, as the specification asks.
 */
function sourceDateEpoch(env: NodeJS.ProcessEnv): number | null {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return null;
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || n > MAX_MTIME) {
    throw new BinderyError('CONFIG', `SOURCE_DATE_EPOCH='${raw}' is not a whole number of seconds since 1970`, {}, 'set it to e.g. $(git log -1 --format=%ct), or unset it');
  }
  return n;
}

/** The short id of a signing key used in signature file names: 16 hex digits of the sha256 of its SPKI (DER). */
export function keyId(key: Pick<SigningKey, 'publicKeyPem'>): string {
  return createHash('sha256').update(createPublicKey(key.publicKeyPem).export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** A build being published: the output directory is locked until finishPublish or abortPublish. */
export interface Publication {
  readonly target: EmitTarget;
  readonly id: string;
  readonly dir: string;
  readonly builtAt: string;
  readonly serial: number;
  readonly previous: PreviousBuild | null;
  readonly unlock: () => void;
  /** What this publish created before any host was written: removed again if it is given up. */
  readonly made: readonly string[];
}

/**
 * Lock the output directory (refusing one bindery did not make) and prepare the object store;
 * opts.env (default process.env) supplies SOURCE_DATE_EPOCH.
 */
export function beginPublish(outDir: string, key: SigningKey, opts: { env?: NodeJS.ProcessEnv } = {}): Publication {
  const epoch = sourceDateEpoch(opts.env ?? process.env);
  const now = epoch ?? Math.floor(Date.now() / 1000);
  let unlock: () => void;
  // A new output directory (or store) is removed again when the build is given up.
  const made = [outDir, join(outDir, OBJECTS)].filter((d) => !lstatOrNull(d));
  try {
    prepareOutDir(outDir);
    unlock = lock(outDir);
  } catch (e) {
    throw asBinderyError(e, 'EMIT', { file: outDir });
  }
  try {
    const previous = previousBuild(outDir);
    // Never smaller than the previous build's, and at least the build time in seconds, so a
    // fresh output directory (a new CI runner) still outranks the builds before it.
    const serial = Math.max((previous?.manifest?.serial ?? 0) + 1, now);
    const id = newBuildId();
    const dir = join(outDir, BUILDS, id);
    mkdirSync(join(outDir, OBJECTS), { recursive: true, mode: DIR_MODE });
    const present = new Set(readdirSync(join(outDir, OBJECTS)));
    for (let i = 0; i < 256; i++) {
      const sub = i.toString(16).padStart(2, '0');
      if (!present.has(sub)) mkdirSync(join(outDir, OBJECTS, sub), { mode: DIR_MODE });
    }
    return { target: { outDir, mtime: epoch ?? FIXED_MTIME, key, keyId: keyId(key) }, id, dir, builtAt: new Date(now * 1000).toISOString(), serial, previous, unlock, made };
  } catch (e) {
    unlock();
    throw asBinderyError(e, 'EMIT', { file: outDir });
  }
}

/** Give up a build: remove what it created (its objects included) and release the lock. */
export function abortPublish(pub: Publication, created: readonly string[]): void {
  try {
    rmSync(pub.dir, { recursive: true, force: true });
    for (const rel of created) rmSync(join(pub.target.outDir, rel), { force: true });
  } finally {
    pub.unlock();
  }
  // Only what did not exist before: nothing else can be in them.
  for (const d of pub.made) rmSync(d, { recursive: true, force: true });
}

export interface BuildSummary {
  /** Every host, in any order. */
  readonly hosts: readonly EmittedHost[];
  readonly failures: readonly BindFailure[];
  readonly skipped: readonly unknown[];
  readonly warnings: readonly unknown[];
  /** The repository's git revision, or null when it is not a git checkout. */
  readonly revision: string | null;
  readonly shard?: ShardInfo;
}

/**
 * Write the build's links and signed manifest, make everything durable, switch `current` to it,
 * then drop builds older than the previous one and the objects no kept build refers to.
 */
export function finishPublish(pub: Publication, build: BuildSummary): Manifest {
  const { outDir } = pub.target;
  const hosts = [...build.hosts].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  let manifest: Manifest;
  try {
    try {
      for (let i = 1; i < hosts.length; i++) {
        if (hosts[i]!.host === hosts[i - 1]!.host) throw new BinderyError('EMIT', 'the build lists this host twice', { host: hosts[i]!.host }, 'this is a bug in the caller; please report it');
      }
      mkdirSync(join(pub.dir, HOSTS), { recursive: true, mode: DIR_MODE });
      for (const h of hosts) {
        const link = join(pub.dir, hostTarballPath(h.host));
        // From .builds/<id>/hosts/ up to the output directory.
        symlinkSync(`../../../${objectPath(h.tarball)}`, link);
        symlinkSync(`../../../${signaturePath(h.tarball, pub.target.keyId)}`, link + SIGNATURE_SUFFIX);
      }
      manifest = {
        version: FORMAT_VERSION,
        serial: pub.serial,
        builtAt: pub.builtAt,
        revision: build.revision,
        signingKey: pub.target.key.publicKeyPem,
        hosts: Object.fromEntries(hosts.map((h) => [h.host, { record: h.record, tarball: h.tarball }])),
        failures: build.failures,
        skipped: build.skipped,
        warnings: build.warnings,
        ...(build.shard ? { shard: build.shard } : {}),
      };
      const chunks = stableChunks(manifest);
      writeChunks(join(pub.dir, MANIFEST), chunks);
      writeFileSync(join(pub.dir, MANIFEST + SIGNATURE_SUFFIX), signBytes(Buffer.concat(chunks), pub.target.key), { flag: 'wx', mode: FILE_MODE });
      writeHead(pub.dir, pub.target, manifest);
      makeDurable(outDir, pub.dir, hosts);
      switchCurrent(outDir, pub.id);
    } catch (e) {
      rmSync(pub.dir, { recursive: true, force: true });
      throw asBinderyError(e, 'EMIT', { file: outDir });
    }
    ensureStableLinks(outDir);
    fsyncDir(outDir);
    collectGarbage(outDir, pub, manifest);
    return manifest;
  } finally {
    pub.unlock();
  }
}

function writeChunks(path: string, chunks: readonly Buffer[]): void {
  const fd = openSync(path, 'wx', FILE_MODE);
  try {
    for (const c of chunks) {
      for (let off = 0; off < c.length; ) off += writeSync(fd, c, off, c.length - off);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * One pass instead of an fsync per file: syncfs(2) of the output directory's file system
 * (coreutils `sync -f`), falling back to fsync of each file and directory of this build
 * where that is not available.
 */
function makeDurable(outDir: string, dir: string, hosts: readonly EmittedHost[]): void {
  const r = spawnSync('sync', ['-f', dir], { stdio: 'ignore' });
  if (r.status === 0) return;
  const fsyncPath = (p: string, flags: number) => {
    const fd = openSync(p, flags);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  };
  const dirs = new Set<string>([join(dir, HOSTS), dir, join(outDir, BUILDS), join(outDir, OBJECTS)]);
  for (const h of hosts) {
    for (const rel of h.created) {
      fsyncPath(join(outDir, rel), fsc.O_RDONLY);
      dirs.add(join(outDir, rel, '..'));
    }
  }
  fsyncPath(join(dir, MANIFEST), fsc.O_RDONLY);
  for (const name of [MANIFEST + SIGNATURE_SUFFIX, HEAD, HEAD + SIGNATURE_SUFFIX]) fsyncPath(join(dir, name), fsc.O_RDONLY);
  for (const d of dirs) fsyncDir(d);
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
  if (manifest?.version !== FORMAT_VERSION) {
    throw new BinderyError('EMIT', `unsupported manifest version ${String(manifest?.version)} (this bindery reads version ${FORMAT_VERSION})`, { file }, 'run bindery build again to publish the output in this release\'s format');
  }
  return { dir, manifest };
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
  for (const name of [BUILDS, OBJECTS]) {
    const s = lstatOrNull(join(outDir, name));
    if (s && !s.isDirectory()) throw refuse(`'${name}' is not a directory`);
  }
  if (current) {
    if (!current.isSymbolicLink() || !readlinkSync(join(outDir, CURRENT)).startsWith(`${BUILDS}/`)) throw refuse(`'${CURRENT}' is not bindery's link into ${BUILDS}/`);
    for (const name of STABLE_LINKS) {
      const l = lstatOrNull(join(outDir, name));
      if (l && !(l.isSymbolicLink() && readlinkSync(join(outDir, name)) === `${CURRENT}/${name}`)) throw refuse(`'${name}' is not bindery's link to ${CURRENT}/${name}`);
    }
    const strange = readdirSync(outDir).find((n) => !OURS.has(n));
    if (strange !== undefined) throw refuse(`'${strange}' is not something bindery writes`);
  } else if (readdirSync(outDir).some((n) => n !== BUILDS && n !== OBJECTS && n !== CACHE)) {
    // Without `current`, only what a build that died before its first switch leaves may exist.
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
  /** null when its manifest cannot be read (or is of an older format): it is still kept one more build. */
  readonly manifest: Manifest | null;
}

/** The build `current` points at: its serial is the floor of the next, and it is kept through garbage collection. */
function previousBuild(outDir: string): PreviousBuild | null {
  const link = join(outDir, CURRENT);
  if (!lstatOrNull(link)) return null;
  const id = readlinkSync(link).slice(BUILDS.length + 1);
  try {
    return { id, manifest: readCurrentBuild(outDir)?.manifest ?? null };
  } catch {
    return { id, manifest: null };
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

/**
 * Keep the new build and the previous one (a server may still be streaming from it); remove
 * older builds and every object (and signature) neither refers to. Best effort: the build is
 * already published, and the next publish retries.
 */
function collectGarbage(outDir: string, pub: Publication, manifest: Manifest): void {
  const keep = new Set<string>([LOCK, pub.id, ...(pub.previous ? [pub.previous.id] : [])]);
  try {
    for (const name of readdirSync(join(outDir, BUILDS))) {
      if (!keep.has(name)) rmSync(join(outDir, BUILDS, name), { recursive: true, force: true });
    }
    const live = new Set<string>();
    for (const m of [manifest, pub.previous?.manifest]) {
      for (const h of Object.values(m?.hosts ?? {})) live.add(h.record).add(h.tarball);
    }
    for (const sub of readdirSync(join(outDir, OBJECTS))) {
      const dir = join(outDir, OBJECTS, sub);
      for (const name of readdirSync(dir)) {
        // <sha256>, <sha256>.<key>.sig, or a temporary file of a build that died.
        if (!live.has(name.slice(0, 64))) rmSync(join(dir, name), { force: true });
      }
    }
  } catch {
    // Left for the next publish.
  }
}
