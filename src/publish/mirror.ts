/**
 * serve --build s3://…: keep a local copy of a store's current build, laid out like a build
 * output directory (`current` -> .builds/<tree>), so the server reads it exactly as it reads a
 * local build.
 *
 * The pointer is polled with a conditional GET (its ETag), so an unchanged store costs one
 * bodiless request per poll. A new build is switched to only after its manifest's signature
 * verifies with the trusted key and every object it names is downloaded and matches its sha256;
 * until then, and whenever the store cannot be reached, the last good build keeps being served.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, linkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pLimit from 'p-limit';
import { BinderyError, isBinderyError } from '../errors.js';
import { verifyBytes } from '../emit/index.js';
import { writeFileAtomic } from '../fsutil/index.js';
import { layout } from '../protocol/index.js';
import { decodePointer, decodeTree, MANIFEST_PATH, objectKey, POINTER_KEY, sha256Hex, SIGNATURE_PATH, type PointerBuild, type Tree } from './layout.js';
import type { ObjectStore } from './store.js';

export interface StoreHealth {
  readonly url: string;
  /** false while the last poll failed: the last good build is still served. */
  readonly reachable: boolean;
  readonly error: string | null;
  /** When the store last answered. */
  readonly lastContact: string | null;
  /** The pointer serial and tree of the build being served. */
  readonly serial: number | null;
  readonly tree: string | null;
}

export interface StoreMirror {
  /** The local build directory the server reads (holds `current`). */
  readonly dir: string;
  health(): StoreHealth;
  /** One poll now (also what the timer runs). */
  sync(): Promise<void>;
  close(): void;
}

export interface MirrorOptions {
  readonly cacheDir: string;
  /**
   * SPKI PEM every manifest must be signed by. Without it, the key of the first build fetched is
   * trusted and pinned in the cache (trusted-key.pem): a later build signed by another key is refused.
   */
  readonly trustedKey?: string;
  readonly pollMs: number;
  readonly log: (event: Record<string, unknown>) => void;
}

const BUILDS = '.builds';
const PINNED_KEY = 'trusted-key.pem';
const STATE = 'mirror.json';
/** Every content downloaded, by its sha256 (the tree's objects/ paths are hard links into it). */
const MIRROR = '.mirror';

export async function mirrorStore(store: ObjectStore, opts: MirrorOptions): Promise<StoreMirror> {
  const dir = opts.cacheDir;
  mkdirSync(join(dir, BUILDS), { recursive: true, mode: 0o700 });
  mkdirSync(join(dir, MIRROR), { recursive: true, mode: 0o700 });
  // What was being served before a restart, so a store that is down at start-up changes nothing.
  let served: { serial: number; tree: string } | null = readState(dir);
  let etag: string | null = null;
  /** The tree the pointer named at the last poll. */
  let latest: string | null = null;
  /** A build that failed verification, and why: not tried again, and reported, until the pointer names another. */
  let refused: { tree: string; error: string } | null = null;
  let health: StoreHealth = { url: store.url, reachable: false, error: 'not polled yet', lastContact: null, serial: served?.serial ?? null, tree: served?.tree ?? null };
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let closed = false;

  const trustedKey = (): string | null => opts.trustedKey ?? readOrNull(join(dir, PINNED_KEY));

  async function fetchObject(sha256: string): Promise<Buffer> {
    const o = await store.get(objectKey(sha256));
    if (!o) throw new BinderyError('store-damaged', `object ${objectKey(sha256)} is missing from the store`, { file: store.url }, 'publish the build again: a rerun uploads what is missing');
    if (sha256Hex(o.body) !== sha256) throw new BinderyError('store-damaged', `object ${objectKey(sha256)} does not hold the bytes its name says`, { file: store.url }, 'remove it from the bucket and publish again');
    return o.body;
  }

  const cached = (sha256: string) => join(dir, MIRROR, sha256.slice(0, 2), sha256);

  async function download(build: PointerBuild): Promise<void> {
    /** A build that fails verification is not tried again until the pointer names another. */
    const bad = (message: string, hint: string, host?: string) => {
      const e = new BinderyError('store-damaged', `build ${build.tree.slice(0, 12)}: ${message}; it was not switched to`, { file: store.url, host }, hint);
      refused = { tree: build.tree, error: describe(e) };
      return e;
    };
    const [manifestBytes, signature, treeBytes] = await Promise.all([fetchObject(build.manifest), fetchObject(build.signature), fetchObject(build.tree)]);
    let manifest: { signingKey?: unknown; hosts?: Record<string, { tarball?: unknown; record?: unknown }> };
    try {
      manifest = JSON.parse(manifestBytes.toString('utf8'));
    } catch {
      throw bad('its manifest.json is not JSON', 'publish a build again');
    }
    let key = trustedKey();
    if (key === null) {
      if (typeof manifest.signingKey !== 'string') throw bad('its manifest names no signing key', 'publish a build made by bindery build');
      key = manifest.signingKey;
    }
    if (!verifyBytes(manifestBytes, signature, key)) {
      throw bad('its manifest is not signed by the trusted key', 'publish builds signed with the key this server trusts (--trust-key, or the key pinned in the cache at its first build)');
    }
    let tree: Tree;
    try {
      tree = decodeTree(treeBytes, store.url);
    } catch (e) {
      throw bad((e as Error).message, 'publish a build again');
    }
    if (tree.files[MANIFEST_PATH]!.sha256 !== build.manifest || tree.files[SIGNATURE_PATH]!.sha256 !== build.signature) {
      throw bad('its tree and its pointer name different manifests', 'publish a build again');
    }
    // The signed manifest names every tarball's and record's sha256: the (unsigned) tree must agree with it.
    for (const [host, h] of Object.entries(manifest.hosts ?? {})) {
      const agrees = (path: string, sha: unknown) => typeof sha === 'string' && tree.files[path]?.sha256 === sha;
      if (!agrees(layout.hostTarballPath(host), h.tarball) || !agrees(layout.objectPath(String(h.tarball)), h.tarball) || !agrees(layout.objectPath(String(h.record)), h.record)) {
        throw bad(`the tree's tarball for host ${host} is not the one the signed manifest names`, 'publish a build again; if this repeats, check who else writes to the bucket', host);
      }
    }
    mkdirSync(dirname(cached(build.tree)), { recursive: true, mode: 0o700 });
    writeFileAtomic(cached(build.tree), treeBytes, 0o600);
    const limit = pLimit(8);
    await Promise.all(
      [...new Set(Object.values(tree.files).map((f) => f.sha256))].map((sha) =>
        limit(async () => {
          if (exists(cached(sha))) return;
          const data = sha === build.manifest ? manifestBytes : sha === build.signature ? signature : await fetchObject(sha);
          mkdirSync(dirname(cached(sha)), { recursive: true, mode: 0o700 });
          writeFileAtomic(cached(sha), data, 0o600);
        }),
      ),
    );
    // Assembled aside, then renamed into place whole; then `current` is swapped to it.
    const target = join(dir, BUILDS, build.tree);
    if (!exists(target)) {
      const temp = join(dir, BUILDS, `.tmp-${build.tree}-${process.pid}`);
      rmSync(temp, { recursive: true, force: true });
      for (const [path, f] of Object.entries(tree.files)) {
        // objects/ sit at the top of the output directory, shared by builds; the rest is the build's own.
        const to = path.startsWith(`${layout.OBJECTS}/`) ? join(dir, path) : join(temp, path);
        if (to !== join(temp, path) && exists(to)) continue;
        mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
        linkSync(cached(f.sha256), to);
      }
      renameSync(temp, target);
    }
    if (trustedKey() === null) writeFileAtomic(join(dir, PINNED_KEY), key, 0o600);
    const link = join(dir, BUILDS, `.current-${process.pid}`);
    rmSync(link, { force: true });
    symlinkSync(`${BUILDS}/${build.tree}`, link);
    renameSync(link, join(dir, 'current'));
    prune(build.tree, served?.tree ?? null);
  }

  /** Keep the build served now and the one before (a download may still be reading it), and their files. */
  function prune(current: string, previous: string | null): void {
    const keep = new Set([current, previous].filter((t): t is string => t !== null));
    const liveShas = new Set<string>(keep);
    const livePaths = new Set<string>();
    for (const name of readdirSync(join(dir, BUILDS))) {
      if (!keep.has(name)) rmSync(join(dir, BUILDS, name), { recursive: true, force: true });
    }
    for (const t of keep) {
      const tree = readOrNull(cached(t));
      if (!tree) continue;
      for (const [path, f] of Object.entries(decodeTree(Buffer.from(tree), store.url).files)) {
        liveShas.add(f.sha256);
        livePaths.add(path);
      }
    }
    const sweep = (base: string, live: (rel: string, name: string) => boolean) => {
      for (const sub of readdirSync(join(dir, base))) {
        for (const name of readdirSync(join(dir, base, sub))) if (!live(`${base}/${sub}/${name}`, name)) rmSync(join(dir, base, sub, name), { force: true });
      }
    };
    sweep(MIRROR, (_, name) => liveShas.has(name));
    if (exists(join(dir, layout.OBJECTS))) sweep(layout.OBJECTS, (rel) => livePaths.has(rel));
  }

  async function poll(): Promise<void> {
    const now = new Date().toISOString();
    try {
      const r = etag ? await store.getIfChanged(POINTER_KEY, etag) : await store.get(POINTER_KEY);
      const refusal = () => (latest !== null && latest === refused?.tree ? refused.error : null);
      health = { ...health, reachable: true, error: refusal(), lastContact: now };
      if (r === 'unchanged' || r === null) return;
      const pointer = decodePointer(r.body, store.url);
      const build = pointer.builds[0]!;
      latest = build.tree;
      if (served && pointer.serial < served.serial) {
        throw new BinderyError('store-damaged', `the store's pointer went back from serial ${served.serial} to ${pointer.serial}; the newer build stays served`, { file: store.url }, 'publish a new build (serials only grow); if you did not roll the store back, check who writes to the bucket');
      }
      if (build.tree !== served?.tree && build.tree !== refused?.tree) {
        await download(build);
        served = { serial: pointer.serial, tree: build.tree };
        writeFileSync(join(dir, STATE), JSON.stringify(served) + '\n', { mode: 0o600 });
        opts.log({ event: 'switched', store: store.url, serial: pointer.serial, tree: build.tree, builtAt: build.builtAt });
      }
      etag = r.etag;
      health = { ...health, serial: served?.serial ?? null, tree: served?.tree ?? null, error: refusal() };
    } catch (e) {
      const message = isBinderyError(e) ? describe(e) : String(e);
      const unreachable = isBinderyError(e) && /cannot reach|refused the credentials/.test(e.message);
      // Logged when it starts or changes, not at every poll of a long outage.
      if (message !== health.error) opts.log({ event: 'store-error', store: store.url, error: message, serving: served?.tree ?? null });
      health = { ...health, reachable: !unreachable && health.reachable, error: message, ...(unreachable ? {} : { lastContact: now }) };
    }
  }

  const sync = () => (running ??= poll().finally(() => (running = null)));
  const schedule = () => {
    if (!closed) timer = setTimeout(() => void sync().then(schedule), opts.pollMs);
  };
  await sync();
  schedule();
  return {
    dir,
    health: () => health,
    sync,
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function readState(dir: string): { serial: number; tree: string } | null {
  const text = readOrNull(join(dir, STATE));
  if (!text || !exists(join(dir, 'current'))) return null;
  try {
    const s = JSON.parse(text) as { serial: number; tree: string };
    return Number.isSafeInteger(s.serial) && /^[0-9a-f]{64}$/.test(s.tree) ? s : null;
  } catch {
    return null;
  }
}

/** An error as one line for /healthz and the log: what happened, and what to do. */
function describe(e: unknown): string {
  if (!isBinderyError(e)) return String(e);
  return e.message + (e.hint ? ` (${e.hint})` : '');
}
