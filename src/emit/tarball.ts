/**
 * One host's bound files as a deterministic gzip'd tar (decision 16 (docs/decisions.md)): entries sorted by name,
 * one fixed mtime, uid/gid 0 with uname/gname from info, regular files only. Parent directories
 * are not entries; the client creates them. The tar is laid out directly into one buffer (ustar
 * headers, a pax header only for a name ustar cannot hold): no per-entry stream objects.
 */
import { createHash } from 'node:crypto';
import { constants as zc, gzipSync } from 'node:zlib';
import { BinderyError } from '../errors.js';
import type { BoundFile } from '../types.js';

/** The tar mtime when SOURCE_DATE_EPOCH is not set: 2000-01-01T00:00:00Z. */
export const FIXED_MTIME = 946684800;

/** The tar header's mtime field holds 11 octal digits. */
export const MAX_MTIME = 8 ** 11 - 1;

/** A bound file checked and normalised for the tar and the host record. */
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

/**
 * sha256 of each distinct content, computed once: bound files of many hosts share one Buffer
 * (the bind stage produces host-independent content once), so identity is the key.
 */
export type ContentHashes = WeakMap<Buffer, string>;

/** Byte 9 of a gzip member names the OS that wrote it; zlib sets it per platform, bindery pins it to Unix. */
const GZIP_OS_OFFSET = 9;
const GZIP_OS_UNIX = 3;

/** ustar's uname and gname fields are 32 bytes. */
const NAME_FIELD = 32;
const BLOCK = 512;

/** '644', '0644', '4755', '04755'. */
const MODE_RE = /^0?[0-7]{3,4}$/;

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of a bound content, computed once per distinct Buffer. */
export function contentHash(data: Buffer, hashes: ContentHashes): string {
  let h = hashes.get(data);
  if (h === undefined) {
    h = sha256Hex(data);
    hashes.set(data, h);
  }
  return h;
}

/** Check and normalise one host's files; sorted by member name (byte order, locale-independent). */
export function tarEntries(files: readonly BoundFile[], hashes: ContentHashes = new WeakMap()): TarEntry[] {
  const entries = files.map((f) => toEntry(f, hashes));
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.name === entries[i - 1]!.name) {
      throw new BinderyError('EMIT', `two bound files for the same path (from ${entries[i - 1]!.source} and ${entries[i]!.source})`, { path: entries[i]!.path }, 'this is a bug in the bind stage; please report it');
    }
  }
  return entries;
}

function toEntry(f: BoundFile, hashes: ContentHashes): TarEntry {
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
    sha256: contentHash(f.data, hashes),
    mode,
    modeText: mode.toString(8).padStart(4, '0'),
    owner: f.info.owner,
    group: f.info.group,
    source: f.source,
    deltas: f.deltas,
  };
}

const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

/** name/prefix split of ustar, or null when the name needs a pax header (non-ASCII or too long). */
function ustarName(name: string): { name: string; prefix: string } | null {
  if (!/^[\x20-\x7e]*$/.test(name)) return null;
  if (name.length <= 100) return { name, prefix: '' };
  // The prefix ends at a '/', at most 155 bytes; the rest is at most 100.
  for (let i = name.indexOf('/'); i !== -1 && i <= 155; i = name.indexOf('/', i + 1)) {
    if (name.length - i - 1 <= 100) return { prefix: name.slice(0, i), name: name.slice(i + 1) };
  }
  return null;
}

/** A pax extended-header record: "<len> path=<value>\n", where <len> counts itself. */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const n = Buffer.byteLength(body);
  let len = n + String(n).length;
  if (String(len).length !== String(n).length) len = n + String(len).length;
  return Buffer.from(`${len}${body}`);
}

const TYPE_FILE = 0x30; // '0'
const TYPE_PAX = 0x78; // 'x'

/** width-1 octal digits, zero-padded, then a space (as tar-stream and GNU tar write them). */
const octal = (width: number, value: number) => value.toString(8).padStart(width - 1, '0') + ' ';

interface HeaderTemplate {
  readonly block: Buffer;
  readonly sum: number;
}

/**
 * The fields every header of one tar shares (uid, gid, mtime, magic, device numbers), with their
 * checksum share: each header then writes only its own fields and adds their bytes.
 */
function headerTemplate(mtime: number): HeaderTemplate {
  const block = Buffer.alloc(BLOCK);
  block.write(octal(7, 0), 108, 'latin1');
  block.write(octal(7, 0), 116, 'latin1');
  block.write(octal(12, mtime), 136, 'latin1');
  block.write('ustar\x0000', 257, 'latin1');
  block.write(octal(7, 0), 329, 'latin1');
  block.write(octal(7, 0), 337, 'latin1');
  // The checksum counts its own field as eight spaces.
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) sum += block[i]!;
  return { block, sum };
}

/** Write text at off (at most max bytes) and return the sum of the bytes written. */
function field(buf: Buffer, off: number, text: string, max: number, encoding: BufferEncoding): number {
  const n = buf.write(text, off, max, encoding);
  let sum = 0;
  for (let i = off; i < off + n; i++) sum += buf[i]!;
  return sum;
}

function writeHeader(buf: Buffer, off: number, template: HeaderTemplate, h: { name: string; prefix: string; mode: number; size: number; type: number; uname: string; gname: string }): void {
  template.block.copy(buf, off);
  let sum = template.sum + h.type;
  sum += field(buf, off, h.name, 100, 'utf8');
  sum += field(buf, off + 100, octal(7, h.mode & 0o7777), 8, 'latin1');
  sum += field(buf, off + 124, octal(12, h.size), 12, 'latin1');
  buf[off + 156] = h.type;
  sum += field(buf, off + 265, h.uname, NAME_FIELD, 'utf8');
  sum += field(buf, off + 297, h.gname, NAME_FIELD, 'utf8');
  if (h.prefix) sum += field(buf, off + 345, h.prefix, 155, 'latin1');
  buf.write(sum.toString(8).padStart(6, '0') + ' ', off + 148, 'latin1');
}

/** The uncompressed tar of checked entries, laid out in one buffer. */
function tarBytes(entries: readonly TarEntry[], mtime: number): Buffer {
  const layout = entries.map((e) => {
    const split = ustarName(e.name);
    const pax = split ? null : paxRecord('path', e.name);
    return { e, split: split ?? { name: Buffer.from(e.name).subarray(0, 100).toString('latin1').replace(/[^\x20-\x7e]/g, '_'), prefix: '' }, pax };
  });
  let size = 2 * BLOCK;
  for (const { e, pax } of layout) size += BLOCK + padded(e.data.length) + (pax ? BLOCK + padded(pax.length) : 0);
  const buf = Buffer.alloc(size);
  const template = headerTemplate(mtime);
  let off = 0;
  for (const { e, split, pax } of layout) {
    if (pax) {
      writeHeader(buf, off, template, { name: `PaxHeader/${split.name}`.slice(0, 100), prefix: '', mode: 0o644, size: pax.length, type: TYPE_PAX, uname: e.owner, gname: e.group });
      off += BLOCK;
      pax.copy(buf, off);
      off += padded(pax.length);
    }
    writeHeader(buf, off, template, { name: split.name, prefix: split.prefix, mode: e.mode, size: e.data.length, type: TYPE_FILE, uname: e.owner, gname: e.group });
    off += BLOCK;
    e.data.copy(buf, off);
    off += padded(e.data.length);
  }
  return buf;
}

/**
 * tar then gzip (level 6: 2.5x faster than 9 on typical config files for a few percent in size)
 * checked entries; the same entries and mtime give the same bytes. Synchronous: it runs on a
 * bind-and-emit worker thread, one host after another.
 */
export function packEntries(entries: readonly TarEntry[], mtime: number): Buffer {
  const gz = gzipSync(tarBytes(entries, mtime), { level: 6, memLevel: 8, windowBits: 15, strategy: zc.Z_DEFAULT_STRATEGY });
  // Node writes mtime 0 and no file name in the gzip header; only the OS byte varies by platform.
  gz[GZIP_OS_OFFSET] = GZIP_OS_UNIX;
  return gz;
}

/** A gzip'd tar of one host's bound files; deterministic. opts.mtime is in seconds since 1970. */
export function hostTarball(files: readonly BoundFile[], opts: { mtime?: number } = {}): Buffer {
  const mtime = opts.mtime ?? FIXED_MTIME;
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > MAX_MTIME) {
    throw new BinderyError('EMIT', `tar mtime ${mtime} is not a whole number of seconds between 0 and ${MAX_MTIME}`);
  }
  return packEntries(tarEntries(files), mtime);
}
