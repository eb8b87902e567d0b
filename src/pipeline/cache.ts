/**
 * The incremental build cache (`--cache <dir>`, by default inside the output directory): for each
 * host, a key over everything its result depends on, and the host record and tarball it gave.
 * A host whose key is unchanged is not bound or written again; its objects in the store are
 * reused as they are. The cache file is signed with the build's signing key and every reused
 * record is re-hashed and checked, so a damaged, foreign or tampered cache is ignored with a
 * warning, never trusted.
 *
 * What a host's key covers: the bindery release, the configuration, the tar mtime and signing
 * key, the host's metadata and plan, and the content hash of every repository file its bind can
 * read: in each planned entry set the files that apply to it (a file for another group or host
 * cannot change its result). Templates also see every client and may include any file, and
 * authorized_keys reads other entry sets: entry sets with those depend on all clients' metadata
 * and every repository file outside Cfg/ (and, for authorized_keys, all of Cfg/ too).
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Diagnostic } from '../errors.js';
import { writeFileAtomic } from '../fsutil/index.js';
import { stableStringify, signBytes, verifyBytes, type EmitTarget, type EmittedHost, type SigningKey } from '../emit/index.js';
import { layout } from '../protocol/index.js';
import { matches, type RepoModel } from '../repo/index.js';
import type { Config } from '../config/index.js';
import type { Passphrase } from '../secrets/index.js';
import type { BindFailure, CfgFile, ClientMetadata, PathEntry } from '../types.js';

const FORMAT = 'bindery-cache-1';
const FILE = 'hosts.json';

/** What a cached host gave: enough to publish it again without binding it. */
export interface CachedHost {
  readonly key: string;
  readonly emitted: Omit<EmittedHost, 'created'>;
  readonly failures: readonly BindFailure[];
  readonly diagnostics: readonly Diagnostic[];
}

interface CacheFile {
  readonly format: typeof FORMAT;
  readonly hosts: Record<string, CachedHost>;
}

/** The release, read once: a new bindery never trusts an older one's results. */
function release(): string {
  try {
    return String((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }).version);
  } catch {
    return 'unknown';
  }
}

const TEMPLATE_LIKE = new Set<CfgFile['kind']>(['genshi', 'cheetah', 'liquid', 'genshi.crypt', 'cheetah.crypt', 'liquid.crypt', 'authorized_keys.xml']);

const sha = (...parts: string[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
};

/** Computes host keys for one build; the repository-wide parts are hashed once. */
export function hostKeys(repo: RepoModel, config: Config, secrets: readonly Passphrase[], clients: readonly ClientMetadata[], target: EmitTarget, validating: boolean, skippedValidators: readonly string[] = []) {
  const fileHash = new Map<string, string>();
  const hashOf = (rel: string) => {
    let h = fileHash.get(rel);
    if (h === undefined) {
      const f = repo.files.get(rel);
      h = f ? createHash('sha256').update(f.data).update(String(f.mode)).digest('hex') : 'missing';
      fileHash.set(rel, h);
    }
    return h;
  };
  const inSets = new Set<string>();
  for (const set of repo.entrySets.values()) for (const f of [...set.generators, ...set.deltas, ...set.validators, ...set.infos, ...set.creators]) inSets.add(f.file.rel);
  const all = [...repo.files.keys()].sort();
  const outsideCfg = sha(...all.filter((rel) => !inSets.has(rel)).map((rel) => `${rel}:${hashOf(rel)}`));
  const everyFile = sha(...all.map((rel) => `${rel}:${hashOf(rel)}`));
  const allClients = sha(stableStringify(clients));
  const build = sha(FORMAT, release(), stableStringify(config), stableStringify(secrets), String(target.mtime), target.keyId, String(validating), [...skippedValidators].sort().join('\0'));
  // What one entry set contributes depends only on the client's groups, unless a .H_ file names
  // it: computed once per (entry set, group set), as binding shares its results.
  const perSet = new Map<string, string>();
  const setPart = (name: string, m: ClientMetadata): string => {
    const set = repo.entrySets.get(name);
    if (!set) return `${name}:none`;
    const all = [...set.generators, ...set.deltas, ...set.validators, ...set.infos, ...set.creators];
    const own = all.some((f) => f.specificity.kind === 'host' && f.specificity.host === m.hostname);
    const memo = `${name}\0${own ? m.hostname : ''}\0${m.groups.join('\0')}`;
    let part = perSet.get(memo);
    if (part === undefined) {
      const files = all.filter((f) => f.role === 'info' || matches(f.specificity, m));
      const parts = [name, ...files.map((f) => `${f.file.rel}:${hashOf(f.file.rel)}`)];
      if (files.some((f) => TEMPLATE_LIKE.has(f.kind)) || set.creators.length > 0) parts.push(outsideCfg, allClients);
      if (files.some((f) => f.kind === 'authorized_keys.xml')) parts.push(everyFile);
      part = sha(...parts);
      perSet.set(memo, part);
    }
    return part;
  };
  return (m: ClientMetadata, plan: readonly PathEntry[]): string => {
    const parts = [build, stableStringify(m), stableStringify(plan)];
    for (const entry of plan) {
      for (const name of entry.altsrc ? [entry.altsrc, entry.name] : [entry.name]) parts.push(setPart(name, m));
    }
    return sha(...parts);
  };
}

export interface BuildCache {
  /** The cached result of a host, when its key matches and its objects are whole. */
  lookup(host: string, key: string): CachedHost | null;
  /** Record this build's hosts (the whole cache is replaced: hosts that left are dropped). */
  save(hosts: readonly CachedHost[]): void;
}

/** Open the cache in dir; a problem with it is a warning and an empty cache. */
export function openCache(dir: string, target: EmitTarget, warn: (d: Diagnostic) => void): BuildCache {
  const path = join(dir, FILE);
  let hosts: Record<string, CachedHost> = {};
  let bytes: Buffer | null = null;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') warn({ code: 'cache-ignored', message: `the build cache cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}); building every host`, file: path });
  }
  if (bytes) {
    let sig: Buffer | null = null;
    try {
      sig = readFileSync(path + '.sig');
    } catch {
      // reported below
    }
    let parsed: CacheFile | null = null;
    if (sig && verifyBytes(bytes, sig, target.key.publicKeyPem)) {
      try {
        parsed = JSON.parse(bytes.toString('utf8')) as CacheFile;
      } catch {
        parsed = null;
      }
    }
    if (parsed?.format === FORMAT && typeof parsed.hosts === 'object' && parsed.hosts !== null) hosts = parsed.hosts;
    else warn({ code: 'cache-ignored', message: 'the build cache is damaged, foreign or signed by another key: ignored, building every host (this build rewrites it)', file: path });
  }
  const whole = (c: CachedHost, host: string): boolean => {
    const e = c.emitted;
    if (e?.host !== host || typeof e.tarballSize !== 'number' || typeof e.record !== 'string' || typeof e.tarball !== 'string' || !/^[0-9a-f]{64}$/.test(e.record) || !/^[0-9a-f]{64}$/.test(e.tarball)) return false;
    try {
      // The cache is signed, so what it links is ours; the objects are re-hashed or checked whole.
      const record = readFileSync(join(target.outDir, layout.objectPath(e.record)));
      if (createHash('sha256').update(record).digest('hex') !== e.record) return false;
      for (const rel of [layout.signaturePath(e.record, target.keyId), layout.signaturePath(e.tarball, target.keyId)]) lstatSync(join(target.outDir, rel));
      return lstatSync(join(target.outDir, layout.objectPath(e.tarball))).size === e.tarballSize;
    } catch {
      return false;
    }
  };
  return {
    lookup(host, key) {
      const c = Object.hasOwn(hosts, host) ? hosts[host]! : null;
      return c && c.key === key && whole(c, host) ? c : null;
    },
    save(list) {
      const file: CacheFile = { format: FORMAT, hosts: Object.fromEntries(list.map((c) => [c.emitted.host, c])) };
      const data = Buffer.from(stableStringify(file, { compact: true }));
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // The signature first: a crash between the two leaves a mismatch, which is ignored.
      writeFileAtomic(path + '.sig', signBytes(data, target.key as SigningKey), 0o600);
      writeFileAtomic(path, data, 0o600);
    },
  };
}
