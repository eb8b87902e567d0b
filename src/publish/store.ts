/**
 * The object stores a build is published to, behind one small interface: S3 (AWS or any
 * S3-compatible server, e.g. Ceph's RADOS Gateway) and a plain directory (file://, for a mounted
 * share). Publishing needs only create-if-absent, read, compare-and-swap of one small object,
 * listing and deleting; nothing here knows about builds.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BinderyError } from '../errors.js';
import { createFileExclusive, writeFileAtomic } from '../fsutil/index.js';

export interface StoredObject {
  readonly body: Buffer;
  /** Opaque version tag of the object (S3: its ETag, quotes included). */
  readonly etag: string;
}

export interface ListedObject {
  /** Relative to the store's prefix. */
  readonly key: string;
  readonly lastModified: Date;
}

/** What one publish or mirror pass cost, by kind of request. */
export interface RequestCounts {
  get: number;
  put: number;
  list: number;
  delete: number;
  /** Bytes sent in PUT bodies. */
  bytesUp: number;
  /** Bytes received in GET bodies. */
  bytesDown: number;
}

export interface ObjectStore {
  /** The store's URL as given, for messages (it never holds a credential). */
  readonly url: string;
  readonly requests: RequestCounts;
  /** The object, or null when there is none. */
  get(key: string): Promise<StoredObject | null>;
  /** Like get, but 'unchanged' when the object's tag is still `etag` (a conditional GET: no body moves). */
  getIfChanged(key: string, etag: string): Promise<StoredObject | null | 'unchanged'>;
  /** Create the object unless one exists (If-None-Match: *); false when it existed. Never overwrites. */
  putIfAbsent(key: string, body: Buffer): Promise<boolean>;
  /** Replace the object only while its tag is still `etag` (null: only while there is none); false when it changed. */
  swap(key: string, body: Buffer, etag: string | null): Promise<boolean>;
  list(prefix: string): AsyncIterable<ListedObject>;
  delete(key: string): Promise<void>;
}

/** Parsed --to / --build URL. */
export type StoreUrl = { kind: 's3'; url: string; bucket: string; prefix: string } | { kind: 'file'; url: string; dir: string };

/** Whether `text` names an object store rather than a local build directory. */
export function isStoreUrl(text: string): boolean {
  return /^(s3|file):\/\//i.test(text);
}

export function parseStoreUrl(text: string): StoreUrl {
  // The URL is quoted without anything between "//" and "@", where a credential would be.
  const shown = text.replace(/\/\/[^/@]*@/, '//…@');
  const bad = (why: string) => new BinderyError('USAGE', `${shown} is not a store URL: ${why}`, {}, 'use s3://bucket/prefix or file:///absolute/dir');
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw bad('it does not parse');
  }
  if (u.username || u.password) throw bad('credentials do not belong in the URL (use the AWS environment, shared config or profile)');
  if (u.search || u.hash) throw bad('no ?query or #fragment');
  if (u.protocol === 'file:') {
    if (u.host) throw bad('a file URL has no host: file:///dir');
    return { kind: 'file', url: text, dir: fileURLToPath(u) };
  }
  if (u.protocol !== 's3:') throw bad(`unknown scheme ${u.protocol}`);
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(u.hostname)) throw bad('the bucket name must be 3-63 lower-case letters, digits, "." or "-"');
  const prefix = decodeURIComponent(u.pathname).replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((p) => p === '.' || p === '..' || p === '')) {
    if (prefix !== '') throw bad('the prefix has an empty, "." or ".." part');
  }
  return { kind: 's3', url: text, bucket: u.hostname, prefix };
}

export interface S3Options {
  /** An S3-compatible endpoint (e.g. http://127.0.0.1:7480); default: AWS, or AWS_ENDPOINT_URL(_S3). */
  readonly endpoint?: string;
  /** Path-style addressing (endpoint/bucket/key), which most S3-compatible servers need; default on with an endpoint. */
  readonly pathStyle?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

export async function openStore(url: StoreUrl, opts: S3Options = {}): Promise<ObjectStore> {
  return url.kind === 'file' ? fileStore(url) : s3Store(url, opts);
}

const counts = (): RequestCounts => ({ get: 0, put: 0, list: 0, delete: 0, bytesUp: 0, bytesDown: 0 });

/** Bodies at least this large go up in parts (lib-storage), so no single request carries them whole. */
const MULTIPART_BYTES = 64 * 1024 * 1024;

async function s3Store(url: Extract<StoreUrl, { kind: 's3' }>, opts: S3Options): Promise<ObjectStore> {
  const env = opts.env ?? process.env;
  // The SDK's notice about future Node releases says nothing about this run.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // Loaded on first use: the SDK is large, and most commands never talk to a store.
  const { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException } = await import('@aws-sdk/client-s3');
  const { Upload } = await import('@aws-sdk/lib-storage');
  const endpoint = opts.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const client = new S3Client({
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: opts.pathStyle ?? endpoint !== undefined,
    // S3-compatible servers need a region to sign with, and often know only this one.
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (endpoint ? 'us-east-1' : undefined),
    // Checksum headers only where S3 demands them: older S3-compatible servers refuse the others.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
  });
  const Bucket = url.bucket;
  const full = (key: string) => (url.prefix ? `${url.prefix}/${key}` : key);
  const requests = counts();
  const where = endpoint ? ` at ${endpoint}` : '';
  /** Set once the server has shown it wants If-Match without quotes (RADOS Gateway). */
  let bareIfMatch = false;

  /** An SDK failure as a message naming the store and what to do; the SDK's own text (which can quote request details) is left out. */
  const fail = (e: unknown, what: string): BinderyError => {
    const name = e instanceof S3ServiceException ? e.name : ((e as NodeJS.ErrnoException)?.code ?? (e as Error)?.name ?? 'error');
    const status = e instanceof S3ServiceException ? e.$metadata.httpStatusCode : undefined;
    const location = { file: url.url };
    if (name === 'NoSuchBucket') return new BinderyError('store-failed', `bucket ${Bucket} does not exist${where}`, location, `create it first (e.g. aws s3 mb s3://${Bucket}), private`);
    if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'CredentialsProviderError', 'ExpiredToken', 'InvalidToken'].includes(name) || status === 403) {
      return new BinderyError('store-failed', `the store${where} refused the credentials while ${what} (${name})`, location, 'check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the shared config, and the bucket policy');
    }
    const detail = status ? `HTTP ${status} ${name}` : name;
    return new BinderyError('store-failed', `cannot reach the store${where} while ${what}: ${detail}`, location, 'check --endpoint, the network and that the store is up, then run again', { cause: e });
  };
  const status = (e: unknown) => (e instanceof S3ServiceException ? e.$metadata.httpStatusCode : undefined);

  async function read(key: string, ifNoneMatch?: string): Promise<StoredObject | null | 'unchanged'> {
    requests.get++;
    try {
      const r = await client.send(new GetObjectCommand({ Bucket, Key: full(key), ...(ifNoneMatch ? { IfNoneMatch: ifNoneMatch } : {}) }));
      const body = Buffer.from(await r.Body!.transformToByteArray());
      requests.bytesDown += body.length;
      return { body, etag: r.ETag ?? '' };
    } catch (e) {
      if (status(e) === 304) return 'unchanged';
      if (e instanceof S3ServiceException && e.name === 'NoSuchKey') return null;
      throw fail(e, `reading ${key}`);
    }
  }

  async function put(key: string, body: Buffer, condition: { IfNoneMatch: '*' } | { IfMatch: string }): Promise<boolean> {
    requests.put++;
    requests.bytesUp += body.length;
    try {
      if (body.length >= MULTIPART_BYTES) {
        await new Upload({ client, params: { Bucket, Key: full(key), Body: body, ...condition } }).done();
      } else {
        await client.send(new PutObjectCommand({ Bucket, Key: full(key), Body: body, ...condition }));
      }
      return true;
    } catch (e) {
      // 412: the condition failed; 409: a concurrent conditional write of the same key won.
      if (status(e) === 412 || status(e) === 409) return false;
      throw fail(e, `writing ${key}`);
    }
  }

  return {
    url: url.url,
    requests,
    get: async (key) => (await read(key)) as StoredObject | null,
    getIfChanged: (key, etag) => read(key, etag),
    putIfAbsent: (key, body) => put(key, body, { IfNoneMatch: '*' }),
    async swap(key, body, etag) {
      if (etag === null) return put(key, body, { IfNoneMatch: '*' });
      const bare = etag.replace(/^"|"$/g, '');
      if (bareIfMatch) return put(key, body, { IfMatch: bare });
      if (await put(key, body, { IfMatch: etag })) return true;
      // RADOS Gateway compares If-Match against the ETag without its quotes. The object is read
      // again first, so the retry can only succeed if nothing changed meanwhile.
      const now = await read(key);
      if (now === null || now === 'unchanged' || now.etag !== etag || bare === etag) return false;
      bareIfMatch = await put(key, body, { IfMatch: bare });
      return bareIfMatch;
    },
    async *list(prefix) {
      let ContinuationToken: string | undefined;
      const base = url.prefix ? `${url.prefix}/` : '';
      do {
        requests.list++;
        let r;
        try {
          r = await client.send(new ListObjectsV2Command({ Bucket, Prefix: base + prefix, ContinuationToken }));
        } catch (e) {
          throw fail(e, `listing ${prefix}`);
        }
        for (const o of r.Contents ?? []) if (o.Key) yield { key: o.Key.slice(base.length), lastModified: o.LastModified ?? new Date(0) };
        ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (ContinuationToken);
    },
    async delete(key) {
      requests.delete++;
      try {
        await client.send(new DeleteObjectCommand({ Bucket, Key: full(key) }));
      } catch (e) {
        throw fail(e, `deleting ${key}`);
      }
    },
  };
}

/**
 * A directory as a store: keys are paths below it, an object's tag is the sha256 of its bytes.
 * Objects are created with O_EXCL (via a hard link), swaps are atomic renames made under a
 * short-lived lock file, so several publishers on one share behave like S3's conditional writes.
 */
function fileStore(url: Extract<StoreUrl, { kind: 'file' }>): ObjectStore {
  const root = url.dir;
  const requests = counts();
  const path = (key: string) => join(root, ...key.split('/'));
  const tag = (body: Buffer) => `"${createHash('sha256').update(body).digest('hex')}"`;
  const fail = (e: unknown, what: string) =>
    new BinderyError('store-failed', `cannot use the store directory while ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: root }, 'check that the directory exists (or can be created) and is writable');
  const readOrNull = (key: string): Buffer | null => {
    try {
      return readFileSync(path(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw fail(e, `reading ${key}`);
    }
  };
  const get = (key: string): StoredObject | null => {
    requests.get++;
    const body = readOrNull(key);
    if (body) requests.bytesDown += body.length;
    return body && { body, etag: tag(body) };
  };
  return {
    url: url.url,
    requests,
    get: async (key) => get(key),
    async getIfChanged(key, etag) {
      const o = get(key);
      return o && o.etag === etag ? 'unchanged' : o;
    },
    async putIfAbsent(key, body) {
      requests.put++;
      requests.bytesUp += body.length;
      try {
        mkdirSync(dirname(path(key)), { recursive: true, mode: 0o700 });
        return createFileExclusive(path(key), body, 0o600);
      } catch (e) {
        throw fail(e, `writing ${key}`);
      }
    },
    async swap(key, body, etag) {
      requests.put++;
      requests.bytesUp += body.length;
      const lock = `${path(key)}.lock`;
      try {
        mkdirSync(dirname(path(key)), { recursive: true, mode: 0o700 });
        // The lock is held for one read and one rename; one left by a killed publisher is stale after a few seconds.
        const token = randomBytes(8).toString('hex');
        if (!createFileExclusive(lock, token)) {
          const age = Date.now() - statSync(lock).mtimeMs;
          if (age < 5_000) return false;
          rmSync(lock, { force: true });
          if (!createFileExclusive(lock, token)) return false;
        }
        try {
          const now = readOrNull(key);
          if ((now === null ? null : tag(now)) !== etag) return false;
          writeFileAtomic(path(key), body, 0o600);
          return true;
        } finally {
          if (readOrNull(`${key}.lock`)?.toString() === token) rmSync(lock, { force: true });
        }
      } catch (e) {
        throw fail(e, `replacing ${key}`);
      }
    },
    async *list(prefix) {
      requests.list++;
      const walk = function* (dir: string): Generator<ListedObject> {
        let names: string[];
        try {
          names = readdirSync(dir);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw fail(e, `listing ${prefix}`);
        }
        for (const name of names.sort()) {
          if (name.endsWith('.tmp') || name.endsWith('.lock')) continue;
          const p = join(dir, name);
          const st = statSync(p);
          if (st.isDirectory()) yield* walk(p);
          else yield { key: relative(root, p).split(sep).join('/'), lastModified: st.mtime };
        }
      };
      const start = prefix.includes('/') ? path(prefix.slice(0, prefix.lastIndexOf('/'))) : root;
      for (const o of walk(start)) if (o.key.startsWith(prefix)) yield o;
    },
    async delete(key) {
      requests.delete++;
      try {
        rmSync(path(key), { force: true });
      } catch (e) {
        throw fail(e, `deleting ${key}`);
      }
    },
  };
}
