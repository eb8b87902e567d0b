/**
 * The build being served. `<build>/current` is re-read on every request (one readlink): the
 * emit stage publishes by swapping that symlink atomically, so a request sees either the old
 * build or the new one, never half of one, and no restart is needed. A published build
 * directory never changes, so what was read from it is cached until the link moves.
 */
import { readFile, readlink } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { readCurrentBuild } from '../emit/index.js';

export interface HostArtifact {
  readonly tarball: Buffer;
  readonly signature: Buffer;
  readonly sha256: string;
  /**
   * hosts/<host>.meta.json (which names the host the tarball is for) and its signature, from the
   * same build; null for a build written before bindery made them.
   */
  readonly meta: { readonly json: Buffer; readonly signature: Buffer } | null;
}

export interface ServedBuild {
  /** The build directory `current` points to. */
  readonly dir: string;
  readonly signingKey: string;
  /** sha256 of the client's tarball, or null when the build has none for it. */
  sha256(client: string): string | null;
  /** The client's tarball, meta and signatures (read once per build, then cached within a byte budget). */
  artifact(client: string): Promise<HostArtifact | null>;
}

export interface BuildSource {
  /** The current build, or null before the first publish. */
  current(): Promise<ServedBuild | null>;
}

/** Cache at most this many tarball bytes per build. */
const CACHE_BYTES = 64 * 1024 * 1024;

function inside(dir: string, rel: string): string | null {
  const abs = resolve(dir, rel);
  const r = relative(dir, abs);
  return r && !r.startsWith('..' + sep) && r !== '..' && !isAbsolute(r) ? abs : null;
}

function openBuild(dir: string, manifest: { hosts: Record<string, { tarball: string; sha256: string; meta?: string }>; signingKey: string }): ServedBuild {
  const cache = new Map<string, HostArtifact>();
  let cachedBytes = 0;
  const entry = (client: string) => (Object.hasOwn(manifest.hosts, client) ? manifest.hosts[client]! : null);
  return {
    dir,
    signingKey: manifest.signingKey,
    sha256: (client) => entry(client)?.sha256 ?? null,
    async artifact(client) {
      const hit = cache.get(client);
      if (hit) return hit;
      const e = entry(client);
      if (!e) return null;
      const path = inside(dir, e.tarball);
      if (!path) return null;
      const metaPath = e.meta === undefined ? null : inside(dir, e.meta);
      if (e.meta !== undefined && !metaPath) return null;
      const [tarball, signature, metaJson, metaSignature] = await Promise.all([
        readFile(path),
        readFile(path + '.sig'),
        metaPath ? readFile(metaPath) : null,
        metaPath ? readFile(metaPath + '.sig') : null,
      ]);
      const meta = metaJson && metaSignature ? { json: metaJson, signature: metaSignature } : null;
      const a: HostArtifact = { tarball, signature, sha256: e.sha256, meta };
      const size = tarball.length + (metaJson?.length ?? 0);
      if (cachedBytes + size <= CACHE_BYTES) {
        cache.set(client, a);
        cachedBytes += size;
      }
      return a;
    },
  };
}

export function buildSource(outDir: string): BuildSource {
  let cached: { link: string; build: ServedBuild } | null = null;
  return {
    async current() {
      let link: string;
      try {
        link = resolve(outDir, await readlink(join(outDir, 'current')));
      } catch {
        return null;
      }
      if (cached?.link === link) return cached.build;
      const read = readCurrentBuild(outDir);
      if (!read) return null;
      const build = openBuild(read.dir, read.manifest);
      // Keyed by what the link said; if it moved in between, the next request reloads.
      cached = { link, build };
      return build;
    },
  };
}
