/**
 * Build output format v2 (docs/output-format.md): what `bindery build` writes, `bindery serve`
 * serves and `bindery fetch` verifies. Plain types and a checked parser for the host record, so
 * the client never depends on the compiler or the server.
 */

export const FORMAT_VERSION = 2;

/** One file of a host's tarball, as its host record describes it. */
export interface RecordFile {
  /** Absolute client-side path, e.g. /etc/motd. */
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  /** Four octal digits, e.g. '0644'. */
  readonly mode: string;
  readonly owner: string;
  readonly group: string;
  /** Repo-relative generator (or creator) file. */
  readonly source: string;
  /** Repo-relative delta files applied, in order. */
  readonly deltas: readonly string[];
}

/** An entry the build could not bind for this host: the client leaves that path alone. */
export interface RecordFailure {
  readonly path: string;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
}

/**
 * The signed record of one host's result. It holds nothing that changes when the host's result
 * does not (no build time, no revision), so an unchanged host has a byte-identical record.
 */
export interface HostRecord {
  readonly version: typeof FORMAT_VERSION;
  readonly host: string;
  readonly tarball: { readonly sha256: string; readonly size: number };
  /** Sorted by path, in tar order. */
  readonly files: readonly RecordFile[];
  /** Sorted by path. */
  readonly failed: readonly RecordFailure[];
}

/** A host in the manifest: its record and tarball by content hash (both in objects/). */
export interface ManifestHost {
  readonly record: string;
  readonly tarball: string;
}

export interface Manifest {
  readonly version: typeof FORMAT_VERSION;
  /** Grows with every build published to an output directory (never reused, never smaller). */
  readonly serial: number;
  readonly builtAt: string;
  readonly revision: string | null;
  /** SPKI PEM of the Ed25519 key that signed every record, tarball and this manifest. */
  readonly signingKey: string;
  readonly hosts: Readonly<Record<string, ManifestHost>>;
  readonly failures: readonly (RecordFailure & { readonly host: string })[];
  readonly skipped: readonly unknown[];
  readonly warnings: readonly unknown[];
  /** Set by `build --shard K/N`: which slice of the clients this build is (for `bindery merge`). */
  readonly shard?: ShardInfo;
}

export interface ShardInfo {
  /** 1-based. */
  readonly index: number;
  readonly count: number;
  /** sha256 over the repository's files and the configuration's options: the shards of one build agree on it. */
  readonly inputs: string;
}

const SHA256_RE = /^[0-9a-f]{64}$/;
const MODE_RE = /^[0-7]{4}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Parse and check a host record's bytes. It is signed, so a bad one means a bindery bug or a
 * newer format; the Error's message says which field is wrong.
 */
export function parseHostRecord(json: Buffer): HostRecord {
  let r: unknown;
  try {
    r = JSON.parse(json.toString('utf8'));
  } catch {
    throw new Error('the host record is not JSON');
  }
  if (!isObject(r)) throw new Error('the host record is not a JSON object');
  if (r.version !== FORMAT_VERSION) throw new Error(`the host record is of format version ${String(r.version)}, not ${FORMAT_VERSION}`);
  if (typeof r.host !== 'string' || r.host === '') throw new Error('the host record names no host');
  const t = r.tarball;
  if (!isObject(t) || typeof t.sha256 !== 'string' || !SHA256_RE.test(t.sha256) || !isCount(t.size)) throw new Error('the host record has no valid tarball sha256 and size');
  if (!Array.isArray(r.files) || !Array.isArray(r.failed)) throw new Error('the host record lacks its files or failed lists');
  for (const f of r.files as unknown[]) {
    const ok =
      isObject(f) &&
      typeof f.path === 'string' &&
      f.path.startsWith('/') &&
      typeof f.sha256 === 'string' &&
      SHA256_RE.test(f.sha256) &&
      isCount(f.size) &&
      typeof f.mode === 'string' &&
      MODE_RE.test(f.mode) &&
      typeof f.owner === 'string' &&
      typeof f.group === 'string' &&
      typeof f.source === 'string' &&
      Array.isArray(f.deltas);
    if (!ok) throw new Error(`the host record has a malformed file entry${isObject(f) && typeof f.path === 'string' ? ` (${f.path})` : ''}`);
  }
  for (const f of r.failed as unknown[]) {
    if (!isObject(f) || typeof f.path !== 'string' || typeof f.message !== 'string') throw new Error('the host record has a malformed failed entry');
  }
  return r as unknown as HostRecord;
}
