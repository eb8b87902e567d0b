/**
 * A build as the diff and the report see it: per host, each path's hash, mode, owner, group and
 * (when a record says) source. Read from the hosts' tarballs, so it works for every output
 * format that keeps hosts/<host>.tar.gz; per-file sources come from the manifest (format 1) or
 * the per-host records (format 2) when present.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import pLimit from 'p-limit';
import tar from 'tar-stream';
import { BinderyError } from '../errors.js';
import { layout, parseHostRecord } from '../protocol/index.js';
import type { BindFailure, BoundFile, Diagnostic } from '../types.js';
import { secretJudge, type SecretSubject } from './secret.js';

export interface FileState {
  readonly path: string;
  readonly sha256: string;
  /** Four octal digits, e.g. '0644'. */
  readonly mode: string;
  readonly owner: string;
  readonly group: string;
  /** Repo-relative generator, when the build recorded it. */
  readonly source?: string;
  readonly deltas?: readonly string[];
  /** Content never shown, only its hash (see secret.ts). */
  readonly secret: boolean;
  readonly data: Buffer;
}

export interface HostSnapshot {
  readonly host: string;
  /** Sorted by path; empty when the tarball was left unread (it is one the other build has). */
  readonly files: ReadonlyMap<string, FileState>;
  /** sha256 of the host's tarball, when read from an output. */
  readonly tarball?: string;
}

export interface BuildSnapshot {
  /** Where it was read from (a build directory, or "<repo>@<rev>"). */
  readonly label: string;
  readonly builtAt: string | null;
  readonly revision: string | null;
  /** Sorted by host name. */
  readonly hosts: ReadonlyMap<string, HostSnapshot>;
  readonly failures: readonly BindFailure[];
  readonly warnings: readonly Diagnostic[];
  /** Seconds per build phase, when the build recorded them. */
  readonly phases: Readonly<Record<string, number>> | null;
}

/** Per-file facts a build records beside its tarballs. */
interface Recorded {
  readonly path: string;
  readonly source?: string;
  readonly deltas?: readonly string[];
  /** Set by a build that knows the content used encrypted data its source name does not show (encrypted Properties). */
  readonly secret?: boolean;
}

interface ManifestLike {
  builtAt?: string;
  revision?: string | null;
  /** Format 1: the tarball's path and the files; format 2: the sha256 of the tarball and of the host record. */
  hosts?: Record<string, { tarball?: string; files?: Recorded[]; record?: string }>;
  failures?: BindFailure[];
  warnings?: Diagnostic[];
  phases?: Record<string, number>;
}

const gunzipAsync = promisify(gunzip);
const TARBALL = '.tar.gz';

/** An output directory (with `current`), or a build directory itself (with manifest.json or hosts/). */
function buildDirectory(dir: string): string {
  const current = join(dir, layout.CURRENT);
  const d = existsSync(current) ? current : dir;
  if (!existsSync(join(d, layout.HOSTS)) && !existsSync(join(d, layout.MANIFEST))) {
    throw new BinderyError('USAGE', 'not a bindery build output: no hosts/ or manifest.json', { file: dir }, 'pass the --out directory of bindery build (or one of its .builds/<id> directories)');
  }
  return realpathSync(d);
}

/**
 * The build before the current one in an output directory, or null: a publish keeps the
 * previous build in .builds/ beside the current one.
 */
export function previousBuildDirectory(outDir: string): string | null {
  const builds = join(outDir, layout.BUILDS);
  const current = join(outDir, layout.CURRENT);
  if (!existsSync(builds) || !existsSync(current)) return null;
  const now = basename(realpathSync(current));
  const older = readdirSync(builds)
    .filter((id) => !id.startsWith('.') && id !== now && existsSync(join(builds, id, layout.MANIFEST)))
    .sort();
  return older.length ? join(builds, older[older.length - 1]!) : null;
}

/**
 * Read every host's tarball of a build (each distinct tarball unpacked once). Tarballs in
 * `known` (sha256s of the other build's) are not unpacked: the host is the same on both sides.
 */
export async function readBuild(dir: string, known: ReadonlySet<string> = new Set()): Promise<BuildSnapshot> {
  const root = buildDirectory(dir);
  const manifestFile = join(root, layout.MANIFEST);
  let manifest: ManifestLike = {};
  if (existsSync(manifestFile)) {
    try {
      manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as ManifestLike;
    } catch (e) {
      throw new BinderyError('USAGE', `cannot read the build's manifest: ${(e as Error).message}`, { file: manifestFile }, 'point at a complete build output');
    }
  }
  const tarballs = new Map<string, string>();
  // hosts/<host>.tar.gz is in every format (a link into the object store in format 2).
  for (const host of Object.keys(manifest.hosts ?? {})) tarballs.set(host, join(root, layout.hostTarballPath(host)));
  if (tarballs.size === 0 && existsSync(join(root, layout.HOSTS))) {
    for (const f of readdirSync(join(root, layout.HOSTS)).sort()) if (f.endsWith(TARBALL)) tarballs.set(f.slice(0, -TARBALL.length), join(root, layout.HOSTS, f));
  }
  const unpacked = new Map<string, Promise<TarFile[]>>();
  const isSecret = secretJudge();
  const limit = pLimit(8);
  const hosts = await Promise.all(
    [...tarballs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([host, file]) =>
      limit(async () => {
        const bytes = readTarball(file, host);
        const key = createHash('sha256').update(bytes).digest('hex');
        if (known.has(key)) return { host, files: new Map(), tarball: key } satisfies HostSnapshot;
        if (!unpacked.has(key)) unpacked.set(key, untar(bytes, file));
        const recorded = recordedFiles(outputOf(root), manifest, host);
        const files = (await unpacked.get(key)!).map((t) => fileState(t, recorded.get(t.path), isSecret));
        return { host, files: new Map(files.map((f) => [f.path, f])), tarball: key } satisfies HostSnapshot;
      }),
    ),
  );
  return {
    label: dir,
    builtAt: manifest.builtAt ?? null,
    revision: manifest.revision ?? null,
    hosts: new Map(hosts.map((h) => [h.host, h])),
    failures: manifest.failures ?? [],
    warnings: manifest.warnings ?? [],
    phases: manifest.phases ?? null,
  };
}

/** The output directory of a build directory (<out>/.builds/<id> → <out>), where format 2 keeps its objects. */
function outputOf(buildDir: string): string {
  return basename(dirname(buildDir)) === layout.BUILDS ? dirname(dirname(buildDir)) : buildDir;
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Sources from the host's signed record (format 2: manifest.hosts[h].record is its sha256, in
 * the object store) or from the manifest's file list (format 1, written by earlier releases).
 */
function recordedFiles(outDir: string, manifest: ManifestLike, host: string): Map<string, Recorded> {
  const h = manifest.hosts?.[host];
  let files: readonly Recorded[] | undefined = h?.files;
  if (!files && h?.record && SHA256.test(h.record)) {
    try {
      files = parseHostRecord(readFileSync(join(outDir, layout.objectPath(h.record)))).files;
    } catch {
      files = undefined; // without a readable record, sources are unknown and secrecy falls back to modes
    }
  }
  return new Map((files ?? []).map((f) => [f.path, f]));
}

function readTarball(file: string, host: string): Buffer {
  try {
    if (!statSync(file).isFile()) throw new Error('not a file');
    return readFileSync(file);
  } catch (e) {
    throw new BinderyError('USAGE', `cannot read the tarball of host ${host}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file, host }, 'point at a complete build output');
  }
}

interface TarFile {
  readonly path: string;
  readonly sha256: string;
  readonly mode: number;
  readonly owner: string;
  readonly group: string;
  readonly data: Buffer;
}

async function untar(gz: Buffer, file: string): Promise<TarFile[]> {
  let raw: Buffer;
  try {
    raw = await gunzipAsync(gz);
  } catch (e) {
    throw new BinderyError('USAGE', `not a gzip'd tarball: ${(e as Error).message}`, { file });
  }
  const out: TarFile[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        if (header.type === 'file') {
          const data = Buffer.concat(chunks);
          out.push({ path: '/' + header.name.replace(/^\/+/, ''), sha256: createHash('sha256').update(data).digest('hex'), mode: (header.mode ?? 0o644) & 0o7777, owner: header.uname ?? String(header.uid ?? 0), group: header.gname ?? String(header.gid ?? 0), data });
        }
        next();
      });
      stream.on('error', reject);
    });
    extract.on('finish', resolve);
    extract.on('error', (e: Error) => reject(new BinderyError('USAGE', `damaged tarball: ${e.message}`, { file })));
  });
  extract.end(raw);
  await done;
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const modeText = (mode: number) => mode.toString(8).padStart(4, '0');

function fileState(t: TarFile, rec: Recorded | undefined, isSecret: (f: SecretSubject) => boolean): FileState {
  const source = rec?.source;
  return {
    path: t.path,
    sha256: t.sha256,
    mode: modeText(t.mode),
    owner: t.owner,
    group: t.group,
    ...(source ? { source } : {}),
    ...(rec?.deltas ? { deltas: rec.deltas } : {}),
    secret: rec?.secret === true || isSecret({ source, data: t.data, sha256: t.sha256, mode: t.mode }),
    data: t.data,
  };
}

/** The tarball hashes of a build, to leave those tarballs unread in the other build. */
export function tarballsOf(b: BuildSnapshot): Set<string> {
  return new Set([...b.hosts.values()].flatMap((h) => (h.tarball ? [h.tarball] : [])));
}

/** A snapshot of a compile that was not written out (`diff --rev`): the same facts as a tarball gives. */
export function snapshotOfHosts(label: string, hosts: readonly { host: string; files: readonly BoundFile[]; failures: readonly BindFailure[] }[], revision: string | null): BuildSnapshot {
  const sorted = [...hosts].sort((a, b) => (a.host < b.host ? -1 : 1));
  const isSecret = secretJudge();
  return {
    label,
    builtAt: null,
    revision,
    hosts: new Map(
      sorted.map((h) => [
        h.host,
        {
          host: h.host,
          files: new Map(
            [...h.files].sort((a, b) => (a.path < b.path ? -1 : 1)).map((f) => {
              const mode = Number.parseInt(f.info.mode, 8) & 0o7777;
              const sha256 = createHash('sha256').update(f.data).digest('hex');
              const state: FileState = { path: f.path, sha256, mode: modeText(mode), owner: f.info.owner, group: f.info.group, source: f.source, deltas: f.deltas, secret: isSecret({ source: f.source, data: f.data, sha256, mode }), data: f.data };
              return [f.path, state];
            }),
          ),
        },
      ]),
    ),
    failures: hosts.flatMap((h) => h.failures),
    warnings: [],
    phases: null,
  };
}
