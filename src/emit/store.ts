/**
 * The content-addressed object store of an output directory: tarballs and host records named by
 * their sha256, each with its signature, written once and never rewritten. Writing a host
 * happens on bind-and-emit worker threads, so everything here is synchronous and takes plain
 * data (EmitTarget) that crosses to a worker as it is.
 */
import { lstatSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { basename, dirname, join } from 'node:path';
import { objectPath, signaturePath } from '../protocol/layout.js';
import type { HostRecord } from '../protocol/format.js';
import type { BindFailure, BoundFile } from '../types.js';
import { stableStringify } from './json.js';
import { signBytes, type SigningKey } from './sign.js';
import { packEntries, sha256Hex, tarEntries, type ContentHashes, type TarEntry } from './tarball.js';
import { asBinderyError, BinderyError } from '../errors.js';

/** Where and how a build writes its hosts: plain data (a KeyObject crosses to workers too). */
export interface EmitTarget {
  /** The output directory (absolute). */
  readonly outDir: string;
  /** Tar member mtime, seconds since 1970. */
  readonly mtime: number;
  readonly key: SigningKey;
  /** Names the key in signature file names, so a new key never meets an old key's signature. */
  readonly keyId: string;
}

/** One host as emitted: what the manifest lists, and which files this build had to create. */
export interface EmittedHost {
  readonly host: string;
  /** sha256 of the host record. */
  readonly record: string;
  /** sha256 of the tarball, and its size. */
  readonly tarball: string;
  readonly tarballSize: number;
  readonly files: number;
  /** Paths of objects and signatures this host created (relative to outDir); empty when all existed. */
  readonly created: readonly string[];
}

/** Host names become file names; this keeps them to one safe path component. */
const HOST_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$/;

/** Output is readable by the building user only: tarballs hold decrypted secrets and private keys. */
export const FILE_MODE = 0o600;

/**
 * Write `data` at rel unless it exists with the same size (it is named by its content, so it is
 * the same). A temporary name and rename(): a reader never sees half an object, and two
 * workers writing the same object both end with the whole one. Durability comes later, from
 * one pass over the whole build (publish.ts), not from an fsync per file.
 */
function putObject(outDir: string, rel: string, data: Buffer, created: string[]): void {
  const path = join(outDir, rel);
  try {
    if (lstatSync(path).size === data.length) return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  // Unique: one writer of an object per thread at a time; 'wx' refuses anything already there.
  const tmp = join(dirname(path), `.tmp-${basename(path)}-${process.pid}-${threadId}`);
  try {
    try {
      writeFileSync(tmp, data, { flag: 'wx', mode: FILE_MODE });
    } catch (e) {
      // Left by a writer that died (the next publish removes such files): replace it.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      rmSync(tmp);
      writeFileSync(tmp, data, { flag: 'wx', mode: FILE_MODE });
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  created.push(rel);
}

function putSigned(target: EmitTarget, sha: string, data: Buffer, created: string[]): void {
  putObject(target.outDir, objectPath(sha), data, created);
  const sig = signaturePath(sha, target.keyId);
  // A signature is 64 bytes whatever it signs; signing is cheap next to a stat, so only when missing.
  try {
    lstatSync(join(target.outDir, sig));
    return;
  } catch {
    putObject(target.outDir, sig, signBytes(data, target.key), created);
  }
}

/** The host record: no build time or revision in it, so an unchanged host gives the same bytes. */
function hostRecord(host: string, tarball: Buffer, tarSha: string, entries: readonly TarEntry[], failures: readonly BindFailure[]): HostRecord {
  const failed = failures
    .map(({ path, file, line, column, message }) => ({ path, file, line, column, message }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
  return {
    version: 2,
    host,
    tarball: { sha256: tarSha, size: tarball.length },
    files: entries.map((e) => ({ path: e.path, sha256: e.sha256, size: e.data.length, mode: e.modeText, owner: e.owner, group: e.group, source: e.source, deltas: e.deltas })),
    failed,
  };
}

const str = JSON.stringify;

/**
 * The record as compact stable JSON, written out field by field in sorted key order: the same
 * bytes as stableStringify(record, { compact: true }) (a test checks), without sorting the keys
 * of every file of every host.
 */
function recordJson(r: HostRecord): string {
  const failed = r.failed.map((f) => stableStringify(f, { compact: true }).slice(0, -1)).join(',');
  const files = r.files
    .map((f) => `{"deltas":${str(f.deltas)},"group":${str(f.group)},"mode":${str(f.mode)},"owner":${str(f.owner)},"path":${str(f.path)},"sha256":${str(f.sha256)},"size":${f.size},"source":${str(f.source)}}`)
    .join(',');
  return `{"failed":[${failed}],"files":[${files}],"host":${str(r.host)},"tarball":{"sha256":${str(r.tarball.sha256)},"size":${r.tarball.size}},"version":${r.version}}\n`;
}

/** Pack, sign and store one host's tarball and record; errors name the host. */
export function emitHost(target: EmitTarget, host: string, files: readonly BoundFile[], failures: readonly BindFailure[], hashes: ContentHashes): EmittedHost {
  if (!HOST_RE.test(host)) {
    throw new BinderyError('EMIT', `host name '${host}' cannot be used as a file name`, { host }, 'client names must be host names: letters, digits, ".", "-", "_"');
  }
  try {
    const entries = tarEntries(files, hashes);
    const tarball = packEntries(entries, target.mtime);
    const tarSha = sha256Hex(tarball);
    const created: string[] = [];
    putSigned(target, tarSha, tarball, created);
    const record = Buffer.from(recordJson(hostRecord(host, tarball, tarSha, entries, failures)));
    const recordSha = sha256Hex(record);
    putSigned(target, recordSha, record, created);
    return { host, record: recordSha, tarball: tarSha, tarballSize: tarball.length, files: entries.length, created };
  } catch (e) {
    throw asBinderyError(e, 'EMIT', { host });
  }
}
