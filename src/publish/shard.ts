/**
 * Sharded builds: `build --shard K/N` builds the hosts whose name hashes to K (a stable hash,
 * so a host stays in its shard for a given N whatever else changes), and `merge` joins the N
 * shard outputs into one output directory with one signed manifest, after checking they are
 * the N slices of one set of inputs.
 */
import { createHash } from 'node:crypto';
import { constants as fsc, readFileSync } from 'node:fs';
import { copyFile, link, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BinderyError } from '../errors.js';
import { abortPublish, beginPublish, finishPublish, readCurrentBuild, stableStringify, verifyBytes, type EmittedHost, type SigningKey } from '../emit/index.js';
import { layout, parseHostRecord, type Manifest } from '../protocol/index.js';

/** K/N with 1 <= K <= N. */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d{1,4})\/(\d{1,4})$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) {
    throw new BinderyError('usage', `--shard ${text} is not K/N with 1 <= K <= N`, {}, 'for example --shard 1/4 … --shard 4/4 (a Kubernetes Indexed Job passes $((JOB_COMPLETION_INDEX + 1))/N)');
  }
  return { index, count };
}

/** The shard (1..count) a host belongs to: the first 32 bits of sha256(name), modulo count. */
export function shardOf(host: string, count: number): number {
  return (createHash('sha256').update(host).digest().readUInt32BE(0) % count) + 1;
}

/** What every shard of one build must agree on: each repository file's path, mode and content, and the configuration's options (not where the checkout is). */
export function inputHash(files: Iterable<{ rel: string; mode: number; data: Buffer }>, config: unknown): string {
  const h = createHash('sha256');
  const sorted = [...files].sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  for (const f of sorted) h.update(`${f.rel}\0${(f.mode & 0o777).toString(8)}\0${createHash('sha256').update(f.data).digest('hex')}\n`);
  h.update(stableStringify(config));
  return h.digest('hex');
}

export interface MergeResult {
  readonly out: string;
  readonly shards: number;
  readonly hosts: number;
  readonly manifest: Manifest;
}

/**
 * Join shard outputs into `outDir` (new, or an earlier merge's output) as one build: each host's
 * objects (record, tarball and their signatures) are linked (or copied) into its store, and the
 * manifest, the union of theirs, is signed with `key`, which must be the key that signed them.
 */
export async function mergeShards(shardDirs: readonly string[], outDir: string, key: SigningKey): Promise<MergeResult> {
  const shards = shardDirs.map(readShard);
  const refuse = (message: string, hint: string, file?: string) => new BinderyError('emit-failed', message, file ? { file } : {}, hint);
  const first = shards[0]!;
  const count = first.shard.count;
  for (const s of shards) {
    if (s.shard.count !== count) throw refuse(`shards of different splits: ${first.dir} is one of ${count}, ${s.dir} one of ${s.shard.count}`, 'merge the outputs of one --shard K/N run, every K of the same N', s.dir);
    if (s.shard.inputs !== first.shard.inputs || s.manifest.revision !== first.manifest.revision) {
      throw refuse(`shard ${s.shard.index} was built from different inputs than shard ${first.shard.index} (revision ${s.manifest.revision ?? 'none'} vs ${first.manifest.revision ?? 'none'}, input hash ${s.shard.inputs.slice(0, 12)} vs ${first.shard.inputs.slice(0, 12)})`, 'build every shard from the same commit, with the keys generated beforehand (bindery keys), and merge again', s.dir);
    }
    if (s.manifest.signingKey !== key.publicKeyPem) throw refuse(`shard ${s.shard.index} was signed by another key than the one given to merge`, 'sign the shards and the merge with the same --signing-key', s.dir);
  }
  const seen = new Map<number, string>();
  for (const s of shards) {
    const other = seen.get(s.shard.index);
    if (other) throw refuse(`shard ${s.shard.index}/${count} is given twice (${other} and ${s.dir})`, 'give each shard output once', s.dir);
    seen.set(s.shard.index, s.dir);
  }
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((k) => !seen.has(k));
  if (missing.length) throw refuse(`shard${missing.length > 1 ? 's' : ''} ${missing.map((k) => `${k}/${count}`).join(', ')} missing`, 'merge every shard of the build; a missing shard would leave its hosts without configuration');
  const hosts = new Map<string, { shard: (typeof shards)[number]; entry: Manifest['hosts'][string] }>();
  for (const s of shards) {
    for (const [host, entry] of Object.entries(s.manifest.hosts)) {
      const dup = hosts.get(host);
      if (dup) throw refuse(`host ${host} is in shard ${dup.shard.shard.index} and in shard ${s.shard.index}`, 'the shards overlap: rebuild them with one N', s.dir);
      if (shardOf(host, count) !== s.shard.index) throw refuse(`host ${host} does not belong in shard ${s.shard.index}/${count}`, 'rebuild the shard with this bindery release', s.dir);
      hosts.set(host, { shard: s, entry });
    }
  }

  const pub = beginPublish(outDir, key);
  const created: string[] = [];
  try {
    const emitted: EmittedHost[] = [];
    for (const [host, { shard, entry }] of hosts) {
      const mine: string[] = [];
      for (const sha of [entry.record, entry.tarball]) {
        for (const rel of [layout.objectPath(sha), layout.signaturePath(sha, pub.target.keyId)]) {
          if (await linkOrCopy(join(shard.dir, rel), join(outDir, rel))) mine.push(rel);
        }
      }
      created.push(...mine);
      const record = parseHostRecord(await readFile(join(outDir, layout.objectPath(entry.record))));
      emitted.push({ host, record: entry.record, tarball: entry.tarball, tarballSize: record.tarball.size, files: record.files.length, created: mine });
    }
    const manifest = finishPublish(pub, {
      hosts: emitted,
      failures: shards.flatMap((s) => s.manifest.failures),
      skipped: shards.flatMap((s) => s.manifest.skipped),
      warnings: dedupeJson(shards.flatMap((s) => s.manifest.warnings)),
      revision: first.manifest.revision,
    });
    return { out: outDir, shards: shards.length, hosts: hosts.size, manifest };
  } catch (e) {
    abortPublish(pub, created);
    throw e;
  }
}

function readShard(dir: string) {
  const current = readCurrentBuild(dir);
  if (!current) throw new BinderyError('emit-failed', 'not a build output: no current build', { file: dir }, 'give merge the --out directories of bindery build --shard K/N');
  const shard = current.manifest.shard;
  if (!shard) throw new BinderyError('emit-failed', 'this output was not built with --shard K/N', { file: dir }, 'merge only shard outputs; a whole build needs no merge');
  const json = readFileSync(join(current.dir, 'manifest.json'));
  const sig = readFileSync(join(current.dir, 'manifest.json.sig'));
  if (!verifyBytes(json, sig, current.manifest.signingKey)) throw new BinderyError('emit-failed', "the shard's manifest.json.sig does not verify", { file: dir }, 'rebuild the shard');
  return { dir, manifest: current.manifest, shard };
}

/** Link (or copy) a shard's object into the merged store; false when it is already there. */
async function linkOrCopy(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    await copyFile(from, to, fsc.COPYFILE_EXCL);
    return true;
  }
}

/** The same warning from several shards is reported once. */
function dedupeJson(values: readonly unknown[]): unknown[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const k = JSON.stringify(v);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * A shard never generates keys (N shards would race to write them into the repository): an
 * entry whose key is missing fails to bind, and this turns those failures into one error
 * saying to run `bindery keys` first.
 */
export function refuseMissingKeys(entrySets: ReadonlyMap<string, { readonly creators: readonly unknown[] }>, failures: readonly { readonly host: string; readonly path: string }[], repo: string): void {
  const needing = failures.filter((f) => (entrySets.get(f.path)?.creators.length ?? 0) > 0);
  if (needing.length === 0) return;
  const first = needing[0]!;
  throw new BinderyError(
    'keys-failed',
    `a shard does not generate keys, and ${needing.length === 1 ? 'a key is' : `${needing.length} keys are`} missing (first: ${first.path} for host ${first.host})`,
    { host: first.host, path: first.path },
    `run bindery keys ${repo} once before the shards, then commit the keys (or pass the repository with them to every shard)`,
  );
}
