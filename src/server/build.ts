/**
 * The build being served. `<build>/current` is re-read on every request (one readlink): the
 * emit stage publishes by swapping that symlink atomically, so a request sees either the old
 * build or the new one, never half of one, and no restart is needed. A published build
 * directory never changes, so what was read from it is cached until the link moves.
 */
import { readFile, readlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { keyId, readCurrentBuild } from '../emit/index.js';
import type { Manifest } from '../protocol/index.js';
import { layout } from '../protocol/index.js';

export interface HostArtifact {
  readonly tarball: Buffer;
  readonly signature: Buffer;
  readonly sha256: string;
  /** The host record (which names the host the tarball is for) and its signature, from the same build. */
  readonly meta: { readonly json: Buffer; readonly signature: Buffer };
}

export interface ServedBuild {
  /** The build directory `current` points to. */
  readonly dir: string;
  readonly signingKey: string;
  /** sha256 of the client's tarball, or null when the build has none for it. */
  sha256(client: string): string | null;
  /** The client's tarball, record and signatures (read once per build, then cached within a byte budget). */
  artifact(client: string): Promise<HostArtifact | null>;
}

export interface BuildSource {
  /** The current build, or null before the first publish. */
  current(): Promise<ServedBuild | null>;
}

/** Cache at most this many tarball bytes per build. */
const CACHE_BYTES = 64 * 1024 * 1024;

const SHA256_RE = /^[0-9a-f]{64}$/;

/** The manifest is signed, but its hashes become file names: only well-formed ones are used. */
function openBuild(outDir: string, dir: string, manifest: Manifest): ServedBuild {
  const cache = new Map<string, HostArtifact>();
  let cachedBytes = 0;
  const key = keyId({ publicKeyPem: manifest.signingKey });
  const entry = (client: string) => {
    const e = Object.hasOwn(manifest.hosts, client) ? manifest.hosts[client]! : null;
    return e && SHA256_RE.test(e.tarball) && SHA256_RE.test(e.record) ? e : null;
  };
  const read = (rel: string) => readFile(join(outDir, rel));
  return {
    dir,
    signingKey: manifest.signingKey,
    sha256: (client) => entry(client)?.tarball ?? null,
    async artifact(client) {
      const hit = cache.get(client);
      if (hit) return hit;
      const e = entry(client);
      if (!e) return null;
      const [tarball, signature, json, metaSignature] = await Promise.all([
        read(layout.objectPath(e.tarball)),
        read(layout.signaturePath(e.tarball, key)),
        read(layout.objectPath(e.record)),
        read(layout.signaturePath(e.record, key)),
      ]);
      const a: HostArtifact = { tarball, signature, sha256: e.tarball, meta: { json, signature: metaSignature } };
      const size = tarball.length + json.length;
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
      const build = openBuild(outDir, read.dir, read.manifest);
      // Keyed by what the link said; if it moved in between, the next request reloads.
      cached = { link, build };
      return build;
    },
  };
}
