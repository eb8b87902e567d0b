/**
 * One host's bound files as a deterministic gzip'd tar (decision 16 (docs/decisions.md)): entries sorted by name,
 * one fixed mtime, uid/gid 0 with uname/gname from info, regular files only. Parent directories
 * are not entries; the client creates them.
 */
import { createHash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { promisify } from 'node:util';
import { constants as zc, gzip } from 'node:zlib';
import tar from 'tar-stream';
import { BinderyError } from '../errors.js';
import type { BoundFile } from '../types.js';

/** The tar mtime when SOURCE_DATE_EPOCH is not set: 2000-01-01T00:00:00Z. */
export const FIXED_MTIME = 946684800;

/** The tar header's mtime field holds 11 octal digits. */
export const MAX_MTIME = 8 ** 11 - 1;

/** A bound file checked and normalised for the tar and the manifest. */
export interface TarEntry {
  /** Member name: the target path without its leading '/'. */
  readonly name: string;
  readonly path: string;
  readonly data: Buffer;
  readonly sha256: string;
  /** Permission bits, e.g. 0o644. */
  readonly mode: number;
  /** The same as four octal digits, e.g. '0644'. */
  readonly modeText: string;
  readonly owner: string;
  readonly group: string;
  readonly source: string;
  readonly deltas: readonly string[];
}

const gzipAsync = promisify(gzip);

/** Byte 9 of a gzip member names the OS that wrote it; zlib sets it per platform, bindery pins it to Unix. */
const GZIP_OS_OFFSET = 9;
const GZIP_OS_UNIX = 3;

/** ustar's uname and gname fields are 32 bytes. */
const NAME_FIELD = 32;

/** '644', '0644', '4755', '04755'. */
const MODE_RE = /^0?[0-7]{3,4}$/;

/** Check and normalise one host's files; sorted by member name (byte order, locale-independent). */
export function tarEntries(files: readonly BoundFile[]): TarEntry[] {
  const entries = files.map(toEntry);
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].name === entries[i - 1].name) {
      throw new BinderyError('EMIT', `two bound files for the same path (from ${entries[i - 1].source} and ${entries[i].source})`, { path: entries[i].path }, 'this is a bug in the bind stage; please report it');
    }
  }
  return entries;
}

function toEntry(f: BoundFile): TarEntry {
  const at = { path: f.path };
  const parts = f.path.split('/');
  if (parts[0] !== '' || parts.length < 2 || parts.slice(1).some((p) => p === '' || p === '.' || p === '..') || f.path.includes('\0')) {
    throw new BinderyError('EMIT', `target path '${f.path}' is not a clean absolute path`, at, "entry names must look like /etc/motd: absolute, without '.', '..', '//' or a trailing '/'");
  }
  if (!MODE_RE.test(f.info.mode)) {
    throw new BinderyError('EMIT', `invalid mode '${f.info.mode}' in the file's info`, at, "give an octal mode such as mode='0644' in info.xml");
  }
  const mode = parseInt(f.info.mode, 8);
  for (const [what, name] of [['owner', f.info.owner], ['group', f.info.group]] as const) {
    if (name === '' || name.includes('\0') || Buffer.byteLength(name) > NAME_FIELD) {
      throw new BinderyError('EMIT', `invalid ${what} '${name}' in the file's info (must be 1 to ${NAME_FIELD} bytes)`, at, `set ${what}= in info.xml to a user or group name`);
    }
  }
  return {
    name: f.path.slice(1),
    path: f.path,
    data: f.data,
    sha256: createHash('sha256').update(f.data).digest('hex'),
    mode,
    modeText: mode.toString(8).padStart(4, '0'),
    owner: f.info.owner,
    group: f.info.group,
    source: f.source,
    deltas: f.deltas,
  };
}

/** tar then gzip (level 6: 2.5x faster than 9 on typical config files for a few percent in size; on the libuv pool) checked entries; the same entries and mtime give the same bytes. */
export async function packEntries(entries: readonly TarEntry[], mtime: number): Promise<Buffer> {
  const pack = tar.pack();
  const date = new Date(mtime * 1000);
  for (const e of entries) {
    // tar-stream replaces a falsy mode with 0644; the S_IFREG bit keeps mode 0000 intact and is
    // masked off when the header is written.
    pack.entry({ name: e.name, type: 'file', mode: fsc.S_IFREG | e.mode, uid: 0, gid: 0, uname: e.owner, gname: e.group, mtime: date, size: e.data.length }, e.data);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  const gz = await gzipAsync(Buffer.concat(chunks), { level: 6, memLevel: 8, windowBits: 15, strategy: zc.Z_DEFAULT_STRATEGY });
  // Node writes mtime 0 and no file name in the gzip header; only the OS byte varies by platform.
  gz[GZIP_OS_OFFSET] = GZIP_OS_UNIX;
  return gz;
}

/** A gzip'd tar of one host's bound files; deterministic. opts.mtime is in seconds since 1970. */
export async function hostTarball(files: readonly BoundFile[], opts: { mtime?: number } = {}): Promise<Buffer> {
  const mtime = opts.mtime ?? FIXED_MTIME;
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > MAX_MTIME) {
    throw new BinderyError('EMIT', `tar mtime ${mtime} is not a whole number of seconds between 0 and ${MAX_MTIME}`);
  }
  return packEntries(tarEntries(files), mtime);
}
