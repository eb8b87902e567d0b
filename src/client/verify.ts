/**
 * Verification: nothing the server sends is believed before it checks out. The signed build head
 * and host record (GET /v1/config.meta) are verified first, with the key the trust chain leads
 * to; the record names the host, the tarball's sha256 and size, its files and the paths the
 * server could not bind, and the head's proof shows it is this host's record in the build whose
 * serial and time the head states. The body is then held to those figures, and the build to the
 * last one this host applied.
 */
import { createGunzip } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { BinderyError, type Diagnostic } from '../errors.js';
import { verifyBytes } from '../emit/index.js';
import { followRotations, keyFingerprint } from '../protocol/rotation.js';
import { hostLeaf, parseBuildHead, parseHostRecord, verifyMerkleProof, type RecordFile } from '../protocol/index.js';
import type { AppliedBuild } from './state.js';

function fail(message: string, hint?: string): never {
  throw new BinderyError('FETCH', message, {}, hint);
}

/** What the client knows from the signed host record (output format 2), checked. */
export interface CheckedRecord {
  readonly host: string;
  /** sha256 and size of the tarball. */
  readonly sha256: string;
  readonly size: number;
  /** The build's serial (only grows) and time, when the record states them: rollback and freeze are checked against them. */
  readonly serial: number | null;
  readonly builtAt: string | null;
  readonly revision: string | null;
  /** The tarball's files: each must be there with this content, mode and owners, and no other. */
  readonly files: readonly RecordFile[];
  /** Paths the server could not bind for this host (they are not in the tarball). */
  readonly failed: readonly string[];
}

type Unchecked = Record<string, unknown>;

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isString = (v: unknown): v is string => typeof v === 'string';
/** A field beyond format 2's own, when present. */
const extra = <T>(v: unknown, ok: (v: unknown) => v is T, what: string): T | null => {
  if (v === undefined || v === null) return null;
  if (!ok(v)) fail(`the configuration's signed record has a malformed ${what}: nothing was applied`, 'run bindery build again on the server with a bindery as new as this one');
  return v;
};

/** The record's fields (format 2, parsed by the protocol's one parser) and the key chain it carries. */
function parseRecord(json: Buffer): { record: CheckedRecord; chain: unknown } {
  let r: ReturnType<typeof parseHostRecord>;
  try {
    r = parseHostRecord(json);
  } catch (e) {
    fail(`${(e as Error).message}: nothing was applied`, 'use a bindery fetch as new as the bindery that built the configuration');
  }
  const raw = r as unknown as Unchecked;
  const record: CheckedRecord = {
    host: r.host,
    sha256: r.tarball.sha256,
    size: r.tarball.size,
    serial: extra(raw.serial, isCount, 'serial'),
    builtAt: extra(raw.builtAt, isString, 'builtAt'),
    revision: extra(raw.revision, isString, 'revision'),
    files: r.files,
    failed: r.failed.map((f) => f.path),
  };
  return { record, chain: raw.keyChain };
}

/** The record and its signature as they came from GET /v1/config.meta, with the build head when the server sent one. */
export interface SignedRecord {
  readonly json: Buffer;
  readonly signature: Buffer;
  /** The head's bytes, its signature and this host's inclusion proof (the proof's JSON bytes), all as sent. */
  readonly head: { readonly json: Buffer; readonly signature: Buffer; readonly proof: Buffer } | null;
}

const TAMPERED = 'the server or the connection to it may be compromised; nothing of this build can be trusted';

/**
 * The build head, checked: parsed, its key chain followed from `trusted`, signed by the key that
 * leads to. Its serial and time then order this build (the record itself states neither).
 */
function verifyHead(head: NonNullable<SignedRecord['head']>, trusted: string): { serial: number; builtAt: string; revision: string | null; hostsRoot: string; key: string; followed: number } {
  let h: ReturnType<typeof parseBuildHead>;
  try {
    h = parseBuildHead(head.json);
  } catch (e) {
    fail(`${(e as Error).message}: nothing was applied`, 'use a bindery fetch as new as the bindery that built the configuration');
  }
  const { key, followed } = followRotations(trusted, h.keyChain);
  if (!verifyBytes(head.json, head.signature, key)) {
    fail(`the build head does not verify with the ${followed ? 'signing key the rotation chain leads to' : 'trusted key'}: nothing was applied`, TAMPERED);
  }
  if (keyFingerprint(key).slice(0, 16) !== h.keyId) fail(`the build head names signing key ${h.keyId}, not the key that signed it: nothing was applied`, TAMPERED);
  return { serial: h.serial, builtAt: h.builtAt, revision: h.revision, hostsRoot: h.hostsRoot, key, followed };
}

/**
 * The record, verified with the key the rotation chain leads to from `trusted`, and for `name`.
 * The tarball's own signature covers its bytes only, so a compromised server (or whoever holds
 * its TLS key) could hand this host another host's validly signed tarball: the record names the
 * host and the tarball's sha256, and both must match. `signingKey` is the key that signed it.
 */
export function verifyRecord(signed: SignedRecord | null, trusted: string, name: string, source: string): { record: CheckedRecord; signingKey: string; rotated: number } {
  if (!signed) {
    fail(`the server sent no signed record (${source}) with the configuration, so nothing shows it is this host's: nothing was applied`, 'the server runs, or its build was made by, an older bindery: upgrade it and run bindery build again');
  }
  // The chain is read before any signature is checked: it is what says which key to check with,
  // and each of its links is verified from the trusted key on. A head, when sent, carries the
  // build's chain; a record states one only when it was made by a server of its own.
  const head = signed.head ? verifyHead(signed.head, trusted) : null;
  let unverified: { record: CheckedRecord; chain: unknown } | null = null;
  try {
    unverified = parseRecord(signed.json);
  } catch (e) {
    if (!verifyBytes(signed.json, signed.signature, head?.key ?? trusted)) fail('the configuration\'s signed record does not verify with the trusted key: nothing was applied', 'check --trust is the build\'s signing public key; if it is, the download was tampered with');
    throw e;
  }
  const { key, followed } = head ?? followRotations(trusted, unverified.chain);
  if (!verifyBytes(signed.json, signed.signature, key)) {
    fail(
      `the configuration's signed record does not verify with the ${followed ? 'signing key the rotation chain leads to' : 'trusted key'}: nothing was applied`,
      'check --trust is the build\'s signing public key (or the first key of its rotation chain); if it is, the download was tampered with or signed by a key this host was never led to',
    );
  }
  const { record } = unverified;
  if (record.host.toLowerCase() !== name.toLowerCase()) {
    fail(`the server sent the configuration of another host (${record.host}), not of ${name}: nothing was applied`, `the server or the connection to it may be compromised; if ${name} is not this host's name in clients.xml, pass --host NAME, this host's name in clients.xml`);
  }
  if (!head) return { record, signingKey: key, rotated: followed };
  // The head orders the build only for the records it commits to: this one, for this host.
  let proof: unknown;
  try {
    proof = JSON.parse(signed.head!.proof.toString('utf8'));
  } catch {
    proof = null;
  }
  const recordSha256 = createHash('sha256').update(signed.json).digest('hex');
  if (!verifyMerkleProof(hostLeaf(record.host, recordSha256), proof, head.hostsRoot)) {
    fail(`the build head's proof does not show this record (sha256 ${recordSha256}) as ${record.host}'s in that build: nothing was applied`, TAMPERED);
  }
  return { record: { ...record, serial: head.serial, builtAt: head.builtAt, revision: head.revision }, signingKey: key, rotated: followed };
}

/**
 * Against rollback (an older, validly signed build replayed) and freeze (a server that keeps
 * handing out one old build): the build must not be older than the last applied, unless
 * `allowDowngrade`; and not older than `maxAgeMs` when given.
 */
export function checkFreshness(record: AppliedBuild, last: AppliedBuild | null, opts: { allowDowngrade?: boolean; maxAgeMs?: number; now: number }): Diagnostic[] {
  if (opts.maxAgeMs !== undefined) {
    if (record.builtAt === null) fail('--max-age is set but the configuration\'s signed record states no build time: nothing was applied', 'drop --max-age, or build with a bindery that records the build time');
    const age = opts.now - Date.parse(record.builtAt);
    if (!(age <= opts.maxAgeMs)) {
      fail(`the configuration was built ${record.builtAt}, longer ago than --max-age allows: nothing was applied`, 'the server may be handing out an old build on purpose (a freeze attack), or builds have stopped: run bindery build on the server, or raise --max-age');
    }
  }
  if (!last || opts.allowDowngrade) return [];
  if (record.serial === null && record.builtAt === null) {
    if (last.serial !== null || last.builtAt !== null) {
      // Stripping the head off a replayed build must not switch the check off.
      fail('the server sent a build that states no serial or build time (no build head), but this host last applied an ordered build: nothing was applied', 'a rollback looks like this; if the server was downgraded to an older bindery on purpose, run fetch with --allow-downgrade');
    }
    return [{ code: 'fetch-unordered-build', severity: 'warning', message: 'the server sent no build head and the signed host record states neither a serial nor a build time, so this run cannot tell an older build from a newer one: rollback protection is off', hint: 'rebuild with a bindery that writes build heads (head.json) and serve it with a bindery serve that sends them' }];
  }
  const older =
    record.serial !== null && last.serial !== null
      ? record.serial < last.serial || (record.serial === last.serial && record.sha256 !== last.sha256)
      : record.builtAt !== null && last.builtAt !== null && Date.parse(record.builtAt) < Date.parse(last.builtAt);
  if (older) {
    const what = (b: { serial: number | null; builtAt: string | null; revision: string | null }) =>
      [b.serial !== null ? `serial ${b.serial}` : null, b.builtAt ? `built ${b.builtAt}` : null, b.revision ? `from ${b.revision}` : null].filter(Boolean).join(', ');
    fail(
      `the server sent an older build (${what(record)}) than the one this host applied last (${what(last)}): nothing was applied`,
      'a rollback by whoever holds the server or its TLS key looks like this; to roll back on purpose, run fetch with --allow-downgrade',
    );
  }
  return [];
}

/** A regular file of the tarball. */
export interface ConfigFile {
  /** Absolute client-side path, e.g. /etc/motd. */
  readonly path: string;
  readonly data: Buffer;
  readonly mode: number;
  readonly owner: string;
  readonly group: string;
}

/** Tar's own bytes around each member (header, a long-name header, padding) and at the end, at most. */
const TAR_PER_FILE = 3 * 512;
const TAR_END = 20 * 512;

/** The most a tarball of these files can unpack to: the gunzip output cap. */
function unpackedLimit(record: CheckedRecord): number {
  return record.files.reduce((n, f) => n + Math.ceil(f.size / 512) * 512 + TAR_PER_FILE, TAR_END);
}

/** Stops the stream once more than `limit` bytes went through. */
function byteLimit(limit: number, what: () => BinderyError): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > limit) return done(what());
      done(null, chunk);
    },
  });
}

/**
 * The tarball's files, unpacked from `file` with at most `limit` bytes of gunzip output:
 * regular files with clean relative names only, each as the record states it when it does.
 */
export async function readTarball(file: string, record: CheckedRecord): Promise<ConfigFile[]> {
  const limit = unpackedLimit(record);
  const files: ConfigFile[] = [];
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
    stream.on('end', () => {
      const name = header.name.replace(/^\.\//, '');
      const parts = name.split('/');
      if (header.type !== 'file') return next(new BinderyError('FETCH', `the tarball holds a ${header.type} (${name}); only regular files are applied`));
      if (name.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..') || name.includes('\0')) {
        return next(new BinderyError('FETCH', `the tarball holds an unsafe member name "${name}"`));
      }
      files.push({ path: '/' + name, data: Buffer.concat(chunks), mode: (header.mode ?? 0o644) & 0o7777, owner: header.uname || 'root', group: header.gname || 'root' });
      next();
    });
    stream.on('error', next);
  });
  const tooBig = () => new BinderyError('FETCH', `the configuration unpacks to more than ${limit} bytes, more than its signed record states: nothing was applied`, {}, 'the tarball is not the one the record describes (a gzip bomb looks like this)');
  try {
    await pipeline(createReadStream(file), createGunzip(), byteLimit(limit, tooBig), extract);
  } catch (e) {
    if (e instanceof BinderyError) throw e;
    fail(`the configuration is not a readable gzip tarball (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): nothing was applied`);
  }
  checkFiles(files, record.files);
  return files;
}

/** Each file as the record states it, and no other. */
function checkFiles(files: readonly ConfigFile[], stated: readonly RecordFile[]): void {
  const want = new Map(stated.map((f) => [f.path, f]));
  for (const f of files) {
    const s = want.get(f.path);
    if (!s) fail(`the tarball holds ${f.path}, which its signed record does not list: nothing was applied`);
    if (createHash('sha256').update(f.data).digest('hex') !== s.sha256) fail(`${f.path} in the tarball is not the content its signed record states: nothing was applied`);
    const mode = f.mode.toString(8).padStart(4, '0');
    if (s.mode !== mode || s.owner !== f.owner || s.group !== f.group) {
      fail(`${f.path} in the tarball has mode ${mode} ${f.owner}:${f.group}, not the ${s.mode} ${s.owner}:${s.group} its signed record states: nothing was applied`);
    }
    want.delete(f.path);
  }
  if (want.size) fail(`the tarball lacks ${[...want.keys()].join(', ')}, which its signed record lists: nothing was applied`);
}
