/**
 * The build being served. The emit stage publishes by swapping the `<build>/current` symlink
 * atomically, so a request sees either the old build or the new one, never half of one, and no
 * restart is needed. The link is read again only when the output directory changes (watched)
 * or a second has passed (in case a change went unseen); a published build directory never
 * changes, so what was read from it is cached until the link moves.
 */
import { readFileSync, readlinkSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { keyId, readCurrentBuild } from '../emit/index.js';
import { hostsTree, merkleProof, type Manifest } from '../protocol/index.js';
import { layout } from '../protocol/index.js';

export interface HostArtifact {
  readonly tarball: Buffer;
  readonly signature: Buffer;
  readonly sha256: string;
  /** The host record (which names the host the tarball is for) and its signature, from the same build (always there in format v2). */
  readonly meta: { readonly json: Buffer; readonly signature: Buffer } | null;
  /** The build head (base64 JSON), its signature (base64) and this host's proof (base64 JSON); null for a build made before heads. */
  readonly head: { readonly json: string; readonly signature: string; readonly proof: string } | null;
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
  /** Stop watching the output directory. */
  close(): void;
}

/** Read `current` again at least this often, even when no change was seen. */
const RECHECK_MS = 1000;

/** Cache at most this many tarball bytes per build. */
const CACHE_BYTES = 64 * 1024 * 1024;

const SHA256_RE = /^[0-9a-f]{64}$/;

/**
 * The build's head and its hosts tree, read and built once per build; each host's proof is
 * taken from the tree (O(log hosts)) when its artifact is first read, then cached with it.
 */
function openHead(dir: string, manifest: Manifest): ((client: string) => HostArtifact['head']) {
  let json: string;
  let signature: string;
  try {
    json = readFileSync(join(dir, layout.HEAD)).toString('base64');
    signature = readFileSync(join(dir, layout.HEAD + layout.SIGNATURE_SUFFIX)).toString('base64');
  } catch {
    return () => null; // an older build: the client warns that it cannot order it
  }
  const { names, levels } = hostsTree(manifest.hosts);
  const index = new Map(names.map((n, i) => [n, i]));
  return (client) => {
    const i = index.get(client);
    return i === undefined ? null : { json, signature, proof: Buffer.from(JSON.stringify(merkleProof(levels, i))).toString('base64') };
  };
}

/** The manifest is signed, but its hashes become file names: only well-formed ones are used. */
function openBuild(outDir: string, dir: string, manifest: Manifest): ServedBuild {
  const head = openHead(dir, manifest);
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
      const a: HostArtifact = { tarball, signature, sha256: e.tarball, meta: { json, signature: metaSignature }, head: head(client) };
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
      const build = openBuild(outDir, read.dir, read.manifest);
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
