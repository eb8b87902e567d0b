/**
 * The build being served. The emit stage publishes by swapping the `<build>/current` symlink
 * atomically, so a request sees either the old build or the new one, never half of one, and no
 * restart is needed. The link is read again only when the output directory changes (watched)
 * or a second has passed (in case a change went unseen); a published build directory never
 * changes, so what was read from it is cached until the link moves.
 */
import { readlinkSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
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
  /** Stop watching the output directory. */
  close(): void;
}

/** Read `current` again at least this often, even when no change was seen. */
const RECHECK_MS = 1000;

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
  let checkedAt = 0;
  let watcher: FSWatcher | null = null;
  const stale = () => {
    checkedAt = 0;
  };
  const startWatching = () => {
    try {
      watcher = watch(outDir, { persistent: false }, stale);
      watcher.on('error', () => {
        watcher?.close();
        watcher = null;
        stale();
      });
    } catch {
      watcher = null; // no directory yet: look every time until there is one
    }
  };
  return {
    async current() {
      const now = Date.now();
      if (cached && watcher && now - checkedAt < RECHECK_MS) return cached.build;
      if (!watcher) startWatching();
      let link: string;
      try {
        link = resolve(outDir, readlinkSync(join(outDir, 'current')));
      } catch {
        cached = null;
        return null;
      }
      checkedAt = now;
      if (cached?.link === link) return cached.build;
      const read = readCurrentBuild(outDir);
      if (!read) return null;
      const build = openBuild(read.dir, read.manifest);
      // Keyed by what the link said; if it moved in between, the next look reloads.
      cached = { link, build };
      return build;
    },
    close() {
      watcher?.close();
      watcher = null;
    },
  };
}
