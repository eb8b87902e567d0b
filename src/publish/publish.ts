/**
 * bindery publish: copy the current build of an output directory into a store, uploading only
 * what the store lacks, then switch the store's pointer with one compare-and-swap.
 *
 * Order makes every moment safe to die at: objects first (each created only if absent), then the
 * build's tree, then the pointer. Until the pointer moves, readers see the previous build whole;
 * a rerun finds the objects already there and finishes.
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { BinderyError } from '../errors.js';
import { keyId, readCurrentBuild, verifyBytes } from '../emit/index.js';
import { layout } from '../protocol/index.js';
import { decodePointer, decodeTree, encodePointer, encodeTree, MANIFEST_PATH, objectKey, OBJECTS_PREFIX, POINTER_KEY, sha256Hex, SIGNATURE_PATH, type Pointer, type PointerBuild, type Tree, type TreeFile } from './layout.js';
import type { ObjectStore, RequestCounts } from './store.js';

export interface PublishOptions {
  /** Builds the pointer keeps (this one included); objects no kept build names are removed. */
  readonly keep: number;
  /** Objects younger than this are never removed: a concurrent publisher may be about to name them. */
  readonly graceSeconds: number;
  readonly concurrency?: number;
  /** Called once with the number of objects to upload, then once per object done. */
  readonly onUpload?: (total: number) => { tick(): void; done(): void };
}

export interface PublishResult {
  readonly url: string;
  /** sha256 of the build's tree: the build's identity in the store. */
  readonly tree: string;
  readonly serial: number;
  /** false when the store's current build already was this one. */
  readonly switched: boolean;
  readonly objects: { readonly total: number; readonly uploaded: number; readonly present: number; readonly bytesUploaded: number };
  readonly removed: number;
  readonly kept: readonly string[];
  readonly requests: RequestCounts;
}

/** A build directory's files, each hashed once; `paths` maps every sha256 to one file holding it. */
interface LocalBuild {
  readonly tree: Map<string, TreeFile>;
  readonly paths: Map<string, string>;
  readonly builtAt: string;
  readonly revision: string | null;
  readonly hosts: number;
}

/** Every regular file below `dir` (following links), relative to it, '/'-separated. */
async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    const st = e.isSymbolicLink() ? await stat(join(dir, r)) : e;
    if (st.isDirectory()) out.push(...(await listFiles(dir, r)));
    else if (st.isFile()) out.push(r);
  }
  return out;
}

/**
 * The current build of an output directory as the files a reader needs, by path: those of the
 * build directory (manifest, signature, hosts/ links) and the objects its manifest names (each
 * host's record and tarball with their signatures), relative to the output directory.
 */
async function readLocalBuild(outDir: string): Promise<LocalBuild> {
  const current = readCurrentBuild(outDir);
  if (!current) throw new BinderyError('emit-failed', 'nothing has been built here yet: no current build', { file: outDir }, `run bindery build <repo> --out ${outDir} first`);
  const { dir, manifest } = current;
  const key = keyId({ publicKeyPem: manifest.signingKey });
  const files = (await listFiles(dir)).map((rel) => ({ rel, abs: join(dir, rel) }));
  for (const h of Object.values(manifest.hosts)) {
    for (const sha of [h.record, h.tarball]) for (const rel of [layout.objectPath(sha), layout.signaturePath(sha, key)]) files.push({ rel, abs: join(outDir, rel) });
  }
  const tree = new Map<string, TreeFile>();
  const paths = new Map<string, string>();
  // A tarball is reached both as hosts/<host>.tar.gz and as its object: each real file is read and hashed once.
  const byReal = new Map<string, Promise<TreeFile>>();
  const limit = pLimit(8);
  await Promise.all(
    files.map(({ rel, abs }) =>
      limit(async () => {
        let real: string;
        try {
          real = await realpath(abs);
        } catch {
          throw new BinderyError('emit-failed', `the build names ${rel}, which is missing`, { file: abs }, 'rebuild with bindery build');
        }
        let hashed = byReal.get(real);
        if (!hashed) {
          hashed = readFile(real).then((data) => ({ sha256: sha256Hex(data), size: data.length }));
          byReal.set(real, hashed);
        }
        const f = await hashed;
        tree.set(rel, f);
        paths.set(f.sha256, real);
      }),
    ),
  );
  const manifestFile = join(dir, MANIFEST_PATH);
  if (!tree.has(MANIFEST_PATH) || !tree.has(SIGNATURE_PATH)) throw new BinderyError('emit-failed', 'the build has no manifest.json.sig', { file: manifestFile }, 'rebuild it with bindery build');
  // A damaged local build is caught here, not by every server that would download it.
  const [json, sig] = await Promise.all([readFile(manifestFile), readFile(join(dir, SIGNATURE_PATH))]);
  if (!verifyBytes(json, sig, manifest.signingKey)) throw new BinderyError('emit-failed', 'manifest.json.sig does not verify: the build directory was changed after it was built', { file: manifestFile }, 'rebuild it with bindery build');
  return { tree, paths, builtAt: manifest.builtAt, revision: manifest.revision, hosts: Object.keys(manifest.hosts).length };
}

async function readTree(store: ObjectStore, sha256: string): Promise<Tree | null> {
  const o = await store.get(objectKey(sha256));
  if (!o) return null;
  if (sha256Hex(o.body) !== sha256) throw new BinderyError('store-damaged', `object ${objectKey(sha256)} does not hold the bytes its name says`, { file: store.url }, 'remove it from the bucket and publish again');
  return decodeTree(o.body, store.url);
}

/** The store's pointer and its tag, or nulls when nothing has been published there. */
async function readPointer(store: ObjectStore): Promise<{ pointer: Pointer | null; etag: string | null }> {
  const o = await store.get(POINTER_KEY);
  return o ? { pointer: decodePointer(o.body, store.url), etag: o.etag } : { pointer: null, etag: null };
}

export async function publishToStore(outDir: string, store: ObjectStore, opts: PublishOptions): Promise<PublishResult> {
  const local = await readLocalBuild(outDir);
  const treeBytes = encodeTree(local.tree);
  const treeSha = sha256Hex(treeBytes);
  const { pointer, etag } = await readPointer(store);
  const base = { url: store.url, tree: treeSha, requests: store.requests };
  // The build's distinct contents and its tree.
  const total = local.paths.size + 1;
  if (pointer?.builds[0]?.tree === treeSha) {
    return { ...base, serial: pointer.serial, switched: false, objects: { total, uploaded: 0, present: total, bytesUploaded: 0 }, removed: 0, kept: pointer.builds.map((b) => b.tree) };
  }

  // What the kept builds name is known to be stored; everything else is offered with If-None-Match.
  const keptTrees = new Map<string, Tree>();
  for (const b of pointer?.builds ?? []) {
    const t = await readTree(store, b.tree);
    if (t) keptTrees.set(b.tree, t);
  }
  const stored = new Set<string>();
  for (const t of keptTrees.values()) for (const f of Object.values(t.files)) stored.add(f.sha256);
  const missing = [...local.paths.keys()].filter((sha) => !stored.has(sha));
  const bar = opts.onUpload?.(missing.length);
  const limit = pLimit(opts.concurrency ?? 16);
  let uploaded = 0;
  let bytesUploaded = 0;
  await Promise.all(
    missing.map((sha) =>
      limit(async () => {
        const data = await readFile(local.paths.get(sha)!);
        // The file may have changed since it was hashed; its name must stay true.
        if (sha256Hex(data) !== sha) throw new BinderyError('emit-failed', 'a build file changed while it was being published', { file: local.paths.get(sha) }, 'do not build into the directory while publishing it; run bindery publish again');
        if (await store.putIfAbsent(objectKey(sha), data)) {
          uploaded++;
          bytesUploaded += data.length;
        }
        bar?.tick();
      }),
    ),
  );
  bar?.done();
  if (await store.putIfAbsent(objectKey(treeSha), treeBytes)) {
    uploaded++;
    bytesUploaded += treeBytes.length;
  }

  const entry: PointerBuild = {
    tree: treeSha,
    manifest: local.tree.get(MANIFEST_PATH)!.sha256,
    signature: local.tree.get(SIGNATURE_PATH)!.sha256,
    builtAt: local.builtAt,
    revision: local.revision,
    hosts: local.hosts,
    publishedAt: new Date().toISOString(),
  };
  const builds = [entry, ...(pointer?.builds ?? []).filter((b) => b.tree !== treeSha)].slice(0, opts.keep);
  const next: Pointer = { version: 1, serial: (pointer?.serial ?? 0) + 1, builds };
  if (!(await store.swap(POINTER_KEY, encodePointer(next), etag))) {
    const now = await readPointer(store).catch(() => null);
    const who = now?.pointer ? ` (it now names serial ${now.pointer.serial}, built ${now.pointer.builds[0]!.builtAt})` : '';
    throw new BinderyError(
      'publish-conflict',
      `another publisher switched ${store.url} while this one was uploading${who}; this build was not made current`,
      { file: store.url },
      'run bindery publish again: it reuses what was uploaded and switches if no one else does',
    );
  }

  keptTrees.set(treeSha, { version: 1, files: Object.fromEntries(local.tree) });
  const removed = await collectGarbage(store, builds.map((b) => b.tree), keptTrees, opts.graceSeconds);
  return { ...base, serial: next.serial, switched: true, objects: { total, uploaded, present: total - uploaded, bytesUploaded }, removed, kept: builds.map((b) => b.tree) };
}

/** Remove objects no kept build names (and old enough that no publisher in flight can be relying on them). */
async function collectGarbage(store: ObjectStore, kept: readonly string[], trees: Map<string, Tree>, graceSeconds: number): Promise<number> {
  const live = new Set<string>(kept);
  for (const sha of kept) {
    const t = trees.get(sha) ?? (await readTree(store, sha));
    // A kept build whose tree cannot be read: nothing can be known to be unused, so nothing is removed.
    if (!t) return 0;
    for (const f of Object.values(t.files)) live.add(f.sha256);
  }
  const cutoff = Date.now() - graceSeconds * 1000;
  const doomed: string[] = [];
  for await (const o of store.list(OBJECTS_PREFIX)) {
    const sha = o.key.slice(o.key.lastIndexOf('/') + 1);
    if (!live.has(sha) && o.lastModified.getTime() <= cutoff) doomed.push(o.key);
  }
  const limit = pLimit(16);
  await Promise.all(doomed.map((key) => limit(() => store.delete(key))));
  return doomed.length;
}
