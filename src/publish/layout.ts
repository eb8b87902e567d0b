/**
 * How a build lies in a store:
 *
 *   <prefix>/objects/<aa>/<sha256>   every file of every build, named by the sha256 of its bytes,
 *                                    written once (If-None-Match: *), never rewritten
 *   <prefix>/current                 the pointer: the kept builds, newest first, each naming its
 *                                    tree object; replaced only by compare-and-swap on its ETag
 *
 * A build's tree is itself an object: a JSON map from each path a reader of the build needs
 * (manifest.json, manifest.json.sig, hosts/… of the build directory, and the objects/… of the
 * output directory its manifest names: each host's record and tarball with their signatures) to
 * the sha256 and size of its content. A reader
 * that follows `current` sees whole builds only: every object a tree names was stored before the
 * pointer naming the tree was written.
 */
import { createHash } from 'node:crypto';
import { BinderyError } from '../errors.js';
import { stableStringify } from '../emit/index.js';

export const POINTER_KEY = 'current';
export const OBJECTS_PREFIX = 'objects/';
export const MANIFEST_PATH = 'manifest.json';
export const SIGNATURE_PATH = 'manifest.json.sig';

const SHA_RE = /^[0-9a-f]{64}$/;
/** Safe relative paths only: no empty, hidden, "." or ".." parts, no backslashes. */
const PATH_RE = /^[A-Za-z0-9_][A-Za-z0-9._+-]*(\/[A-Za-z0-9_][A-Za-z0-9._+-]*)*$/;

export interface TreeFile {
  readonly sha256: string;
  readonly size: number;
}

export interface Tree {
  readonly version: 1;
  readonly files: Readonly<Record<string, TreeFile>>;
}

export interface PointerBuild {
  /** sha256 of the tree object. */
  readonly tree: string;
  /** sha256 of manifest.json and of its signature, so a reader can verify before reading the tree. */
  readonly manifest: string;
  readonly signature: string;
  readonly builtAt: string;
  readonly revision: string | null;
  readonly hosts: number;
  readonly publishedAt: string;
}

export interface Pointer {
  readonly version: 1;
  /** Grows by one with every switch; a reader refuses a pointer older than one it has seen. */
  readonly serial: number;
  /** Newest first; builds[0] is the current build, the rest are kept for rollback and for readers still on them. */
  readonly builds: readonly PointerBuild[];
}

export const objectKey = (sha256: string) => `${OBJECTS_PREFIX}${sha256.slice(0, 2)}/${sha256}`;

export const sha256Hex = (data: Buffer) => createHash('sha256').update(data).digest('hex');

export function encodeTree(files: ReadonlyMap<string, TreeFile>): Buffer {
  const sorted = [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(stableStringify({ version: 1, files: Object.fromEntries(sorted) } satisfies Tree));
}

const damaged = (what: string, url: string, why: string, hint = 'publish the build again; if this repeats, check who else writes to the bucket') =>
  new BinderyError('store-damaged', `the store's ${what} is damaged: ${why}`, { file: url }, hint);
const POINTER_HINT = `remove ${POINTER_KEY} from the store (the objects can stay) and publish again; if this repeats, check who else writes to the bucket`;

/** Parse a tree object read from a store, refusing anything a hostile store could use to escape the cache. */
export function decodeTree(body: Buffer, url: string): Tree {
  let t: Tree;
  try {
    t = JSON.parse(body.toString('utf8')) as Tree;
  } catch {
    throw damaged('build tree', url, 'not JSON');
  }
  if (t?.version !== 1 || typeof t.files !== 'object' || t.files === null) throw damaged('build tree', url, 'not a version 1 tree');
  for (const [path, f] of Object.entries(t.files)) {
    if (!PATH_RE.test(path) || path.split('/').some((p) => p === '..')) throw damaged('build tree', url, `unsafe path ${JSON.stringify(path.slice(0, 200))}`);
    if (!SHA_RE.test(f?.sha256) || !Number.isSafeInteger(f.size) || f.size < 0) throw damaged('build tree', url, `bad entry for ${path}`);
  }
  if (!t.files[MANIFEST_PATH] || !t.files[SIGNATURE_PATH]) throw damaged('build tree', url, 'no manifest.json or manifest.json.sig');
  return t;
}

export function decodePointer(body: Buffer, url: string): Pointer {
  let p: Pointer;
  try {
    p = JSON.parse(body.toString('utf8')) as Pointer;
  } catch {
    throw damaged(`'${POINTER_KEY}' pointer`, url, 'not JSON', POINTER_HINT);
  }
  if (p?.version !== 1 || !Number.isSafeInteger(p.serial) || !Array.isArray(p.builds) || p.builds.length === 0) throw damaged(`'${POINTER_KEY}' pointer`, url, 'not a version 1 pointer', POINTER_HINT);
  for (const b of p.builds) {
    if (![b?.tree, b?.manifest, b?.signature].every((s) => SHA_RE.test(s))) throw damaged(`'${POINTER_KEY}' pointer`, url, 'a build without tree, manifest and signature hashes', POINTER_HINT);
  }
  return p;
}

export const encodePointer = (p: Pointer) => Buffer.from(stableStringify(p));
