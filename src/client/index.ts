/**
 * The client: download this host's tarball, verify its Ed25519 signature and its signed meta
 * (which names the host the tarball is for) before anything touches disk, work out what would
 * change, apply atomically (content, mode, and owners when running as root), then post the run
 * report. A dry run shows a unified diff and changes
 * nothing, not even the server's bootstrap state: it posts no report, and the server refuses
 * (409) to let it be a bootstrap client's one password run.
 */
import { Agent, request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { createHash, X509Certificate } from 'node:crypto';
import { fchmodSync, fchownSync, lstatSync, mkdirSync, readFileSync, realpathSync, type Stats } from 'node:fs';
import { dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { createTwoFilesPatch } from 'diff';
import tar from 'tar-stream';
import { BinderyError } from '../errors.js';
import { verifyBytes } from '../emit/index.js';
import { writeFileAtomic } from '../fsutil/index.js';
import { DRY_RUN_HEADER, META_SIGNATURE_HEADER, parseHostRecord, RUN_HEADER, SIGNATURE_HEADER, type HostRecord } from '../protocol/index.js';

export interface FetchOptions {
  /** https://host:port of `bindery serve`. */
  readonly server: string;
  /** PEM of the CA that signed the server's certificate. */
  readonly ca: string;
  /** Client certificate and key (PEM), for certificate authentication. */
  readonly cert?: string;
  readonly key?: string;
  /** HTTP Basic credentials: a uuid, a client name, or `root` (identify by address). */
  readonly user?: string;
  readonly password?: string;
  /**
   * This host's name in clients.xml: the configuration is refused unless its signed meta names
   * it. Default: the CN of `cert`, else `user` when that is a name (see expectedClientName).
   */
  readonly host?: string;
  /** The build signing key's public half (PEM): the only key whose signature is accepted. */
  readonly trust: string;
  /** Directory the configuration is applied under (`/` on a real host). */
  readonly root: string;
  readonly dryRun?: boolean;
  /** Set owners (default: when running as root). */
  readonly chown?: boolean;
  /** Local address to connect from. */
  readonly localAddress?: string;
}

/** One file of the tarball. */
export interface ConfigFile {
  /** Absolute client-side path, e.g. /etc/motd. */
  readonly path: string;
  readonly data: Buffer;
  readonly mode: number;
  readonly owner: string;
  readonly group: string;
}

export type ChangeAction = 'create' | 'update' | 'metadata' | 'unchanged';

export interface Change {
  readonly file: ConfigFile;
  readonly action: ChangeAction;
  /** What is on disk now (null when absent or not a regular file). */
  readonly current: Buffer | null;
  readonly currentMode: number | null;
}

export interface FetchResult {
  /** The host the configuration is for, from its signed meta (this host's name). */
  readonly client: string;
  readonly sha256: string;
  /** Paths the build could not bind for this host (from its signed record): left as they are here. */
  readonly unbound: readonly { readonly path: string; readonly message: string }[];
  readonly changes: readonly Change[];
  readonly failed: readonly { readonly path: string; readonly reason: string }[];
  /** The unified diff (dry run only). */
  readonly diff: string | null;
  readonly reportPosted: boolean;
}

interface Downloaded {
  readonly tarball: Buffer;
  readonly signature: Buffer;
  readonly sha256: string;
  /** The host record and its signature, from GET /v1/config.meta. */
  readonly meta: { readonly json: Buffer; readonly signature: Buffer };
  readonly runToken: string | null;
}

function fail(message: string, hint?: string): never {
  throw new BinderyError('FETCH', message, {}, hint);
}

function call(opts: FetchOptions, agent: Agent, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ res: IncomingMessage; data: Buffer }> {
  const url = new URL(path, opts.server);
  if (url.protocol !== 'https:') fail(`the server URL must be https://, not ${url.protocol}`, 'bindery serve speaks HTTPS only');
  const auth = opts.user !== undefined ? { authorization: 'Basic ' + Buffer.from(`${opts.user}:${opts.password ?? ''}`).toString('base64') } : {};
  const options: RequestOptions = {
    method,
    agent,
    headers: { ...auth, ...headers, ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}) },
    timeout: 60_000,
  };
  return new Promise((resolvePromise, reject) => {
    const req = request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePromise({ res, data: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(new BinderyError('FETCH', `cannot reach ${opts.server}: ${e.code ?? e.message}`, {}, e.code?.startsWith('ERR_TLS') || /certificate|self.signed/i.test(e.message) ? 'check --ca: it must be the CA that signed the server certificate' : 'check --server and that bindery serve is running')),
    );
    req.end(body);
  });
}

function checkStatus(res: IncomingMessage, data: Buffer, what: string): void {
  const status = res.statusCode ?? 0;
  if (status === 200) return;
  if (status === 401) fail(`the server refused this client's credentials (401) for ${what}`, 'check the certificate (--cert/--key) or --user/--password, and that this host\'s address is the one in clients.xml');
  if (status === 429) fail(`too many failed logins from this address (429); retry after ${res.headers['retry-after'] ?? 'a while'} s`);
  if (status === 404 && what === 'the configuration') fail('the server has no configuration for this client in its current build', 'look at the build\'s failures for this host');
  // Any other answer of bindery serve is JSON with an error that says why.
  let said = '';
  try {
    said = String((JSON.parse(data.toString('utf8')) as { error?: unknown }).error ?? '');
  } catch {
    // not an answer of bindery serve
  }
  fail(`the server answered ${status} for ${what}${said ? `: ${said}` : ''}`, status === 503 ? 'try again later; if it persists, run bindery build on the server' : undefined);
}

async function download(opts: FetchOptions, agent: Agent): Promise<Downloaded> {
  const { res, data } = await call(opts, agent, 'GET', '/v1/config', undefined, opts.dryRun ? { [DRY_RUN_HEADER]: '1' } : {});
  checkStatus(res, data, 'the configuration');
  // The signature comes in the same response, so it belongs to the same build as the body.
  const sig = res.headers[SIGNATURE_HEADER];
  if (typeof sig !== 'string') fail(`the server sent no ${SIGNATURE_HEADER} header`, 'is --server a bindery serve?');
  const run = res.headers[RUN_HEADER];
  const runToken = typeof run === 'string' ? run : null;
  const sha256 = createHash('sha256').update(data).digest('hex');
  // The host record is too big for a header: fetched next. If a build was published in between,
  // its record names another tarball; checkMeta then refuses it (run fetch again).
  const meta = await call(opts, agent, 'GET', '/v1/config.meta', undefined, runToken ? { [RUN_HEADER]: runToken } : {});
  checkStatus(meta.res, meta.data, 'the host record');
  const metaSig = meta.res.headers[META_SIGNATURE_HEADER];
  if (typeof metaSig !== 'string') fail(`the server sent no ${META_SIGNATURE_HEADER} header with the host record`, 'the server runs an older bindery: upgrade it and run bindery build again');
  return { tarball: data, signature: Buffer.from(sig, 'base64'), sha256, meta: { json: meta.data, signature: Buffer.from(metaSig, 'base64') }, runToken };
}

/** A uuid in its standard form. Other uuids cannot be told from a name; see expectedClientName. */
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PASS_HOST = 'pass --host NAME, this host\'s name in clients.xml';

/**
 * The name the configuration must be for: `host`, else the CN of the client certificate, else
 * `user` unless it is `root` or a uuid, which do not say the name (then `host` is required).
 * A uuid that is not in the standard form is taken as a name; it then matches no configuration's
 * host, so the run is refused (with a hint to pass --host), never accepted by mistake.
 */
export function expectedClientName(opts: Pick<FetchOptions, 'host' | 'cert' | 'user'>): string {
  if (opts.host) return opts.host;
  if (opts.cert) {
    let subject: string;
    try {
      subject = new X509Certificate(opts.cert).subject;
    } catch {
      throw new BinderyError('CONFIG', 'the client certificate (--cert) is not a PEM certificate', {}, 'give --cert the certificate made by bindery ca issue');
    }
    const cns = subject.split('\n').filter((l) => l.startsWith('CN=')).map((l) => l.slice(3));
    if (cns.length === 1) return cns[0]!;
    throw new BinderyError('USAGE', `the client certificate has ${cns.length} CNs, so it does not say this host's name`, {}, PASS_HOST);
  }
  if (opts.user && opts.user !== 'root' && !UUID_RE.test(opts.user)) return opts.user;
  const why = opts.user === 'root' ? '--user root does not say this host\'s name' : opts.user ? '--user is a uuid, not this host\'s name' : 'neither --cert nor --user says this host\'s name';
  throw new BinderyError('USAGE', `${why}; fetch needs the name to check that the configuration it receives is this host's`, {}, PASS_HOST);
}

/**
 * The tarball's own signature covers its bytes only, so a compromised server (or whoever holds
 * its TLS key) could hand this host another host's validly signed tarball. The signed host
 * record names the host and the tarball's sha256: both must match.
 */
function checkMeta(got: Downloaded, trust: string, name: string): HostRecord {
  if (!verifyBytes(got.meta.json, got.meta.signature, trust)) {
    fail('the configuration\'s signed meta does not verify with the trusted key: nothing was applied', 'check --trust is the build\'s signing public key; if it is, the download was tampered with');
  }
  let record: HostRecord;
  try {
    record = parseHostRecord(got.meta.json);
  } catch (e) {
    fail(`${(e as Error).message}: nothing was applied`, 'use a bindery fetch as new as the bindery that built the configuration');
  }
  if (record.host.toLowerCase() !== name.toLowerCase()) {
    fail(`the server sent the configuration of another host (${record.host}), not of ${name}: nothing was applied`, `the server or the connection to it may be compromised; if ${name} is not this host's name in clients.xml, ${PASS_HOST}`);
  }
  if (record.tarball.sha256 !== got.sha256) {
    fail(`the configuration (sha256 ${got.sha256}) is not the one its signed meta describes (${record.tarball.sha256}): nothing was applied`, 'a new build may have been published during the download (run fetch again); otherwise the server sent a tarball of another host or another build');
  }
  return record;
}

/** The tarball's files, checked: regular files with clean relative names only. */
export async function readTarball(gz: Buffer): Promise<ConfigFile[]> {
  const files: ConfigFile[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolvePromise, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
      stream.on('end', () => {
        const name = header.name.replace(/^\.\//, '');
        const parts = name.split('/');
        if (header.type !== 'file') return reject(new BinderyError('FETCH', `the tarball holds a ${header.type} (${name}); only regular files are applied`));
        if (name.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..') || name.includes('\0')) {
          return reject(new BinderyError('FETCH', `the tarball holds an unsafe member name "${name}"`));
        }
        files.push({ path: '/' + name, data: Buffer.concat(chunks), mode: (header.mode ?? 0o644) & 0o7777, owner: header.uname || 'root', group: header.gname || 'root' });
        next();
      });
      stream.on('error', reject);
    });
    extract.on('finish', resolvePromise);
    extract.on('error', reject);
  });
  Readable.from([gunzipSync(gz)]).pipe(extract);
  await done;
  return files;
}

/** Where `path` lands under `root`, refusing anything (a symlinked parent) that would leave it. */
function target(root: string, path: string): string {
  const rootReal = realpathSync(root);
  const abs = join(rootReal, path);
  let existing = dirname(abs);
  for (;;) {
    try {
      existing = realpathSync(existing);
      break;
    } catch {
      existing = dirname(existing);
    }
  }
  const rel = relative(rootReal, existing);
  if (rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel)) throw new Error('a parent directory is a symlink leading outside the root');
  return abs;
}

const lstatOrNull = (p: string): Stats | null => {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
};

/**
 * Users or groups by name (Node has no getpwnam): the root's etc/passwd or etc/group when it
 * has one (a chroot being prepared), else this host's.
 */
function idTable(root: string, name: 'passwd' | 'group'): Map<string, number> {
  const map = new Map<string, number>();
  let text = '';
  for (const file of [join(root, 'etc', name), join('/etc', name)]) {
    try {
      text = readFileSync(file, 'utf8');
      break;
    } catch {
      // try the next one
    }
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && !map.has(f[0]!)) map.set(f[0]!, Number(f[2]));
  }
  return map;
}

/** Compare each file with what is under `root` now. */
export function planChanges(root: string, files: readonly ConfigFile[], owners?: { users: Map<string, number>; groups: Map<string, number> }): { changes: Change[]; failed: { path: string; reason: string }[] } {
  const changes: Change[] = [];
  const failed: { path: string; reason: string }[] = [];
  for (const file of files) {
    let abs: string;
    try {
      abs = target(root, file.path);
    } catch (e) {
      failed.push({ path: file.path, reason: (e as Error).message });
      continue;
    }
    const st = lstatOrNull(abs);
    if (st?.isDirectory()) {
      failed.push({ path: file.path, reason: 'a directory is in the way' });
      continue;
    }
    const current = st?.isFile() ? readFileSync(abs) : null;
    const currentMode = st?.isFile() ? st.mode & 0o7777 : null;
    let action: ChangeAction;
    if (!current) action = 'create';
    else if (!current.equals(file.data)) action = 'update';
    else if (currentMode !== file.mode || (owners && (owners.users.get(file.owner) !== st!.uid || owners.groups.get(file.group) !== st!.gid))) action = 'metadata';
    else action = 'unchanged';
    changes.push({ file, action, current, currentMode });
  }
  return { changes, failed };
}

const isText = (b: Buffer) => !b.includes(0) && Buffer.from(b.toString('utf8'), 'utf8').equals(b);

/** A unified diff of every change; content of files not readable by everyone is not shown. */
export function unifiedDiff(changes: readonly Change[]): string {
  const out: string[] = [];
  for (const c of changes) {
    if (c.action === 'unchanged') continue;
    const p = c.file.path;
    if (c.action === 'metadata') {
      out.push(`--- a${p}\n+++ b${p}\n# mode ${c.currentMode?.toString(8).padStart(4, '0')} -> ${c.file.mode.toString(8).padStart(4, '0')}, owner ${c.file.owner}:${c.file.group}\n`);
      continue;
    }
    const secret = (c.file.mode & 0o004) === 0 || (c.currentMode !== null && (c.currentMode & 0o004) === 0);
    if (secret) out.push(`--- a${p}\n+++ b${p}\n# content differs (not shown: the file is not world-readable)\n`);
    else if (!isText(c.file.data) || (c.current && !isText(c.current))) out.push(`Binary files a${p} and b${p} differ\n`);
    // Without the '====' line the diff package puts first, as diff -u and git print it.
    else out.push(createTwoFilesPatch(c.current ? `a${p}` : '/dev/null', `b${p}`, c.current?.toString('utf8') ?? '', c.file.data.toString('utf8'), undefined, undefined).replace(/^=+\n/, ''));
  }
  return out.join('');
}

/** Write one file atomically: temporary file in the same directory, owner, mode, fsync, rename. */
function applyOne(abs: string, file: ConfigFile, ids: { uid: number; gid: number } | null): void {
  mkdirSync(dirname(abs), { recursive: true, mode: 0o755 });
  // Created 0600, so the content is never readable by others before its mode is set.
  writeFileAtomic(abs, file.data, 0o600, (fd) => {
    if (ids) fchownSync(fd, ids.uid, ids.gid);
    // After chown: chown clears setuid/setgid bits.
    fchmodSync(fd, file.mode);
  });
}

export function applyChanges(root: string, changes: readonly Change[], owners: { users: Map<string, number>; groups: Map<string, number> } | null): { path: string; reason: string }[] {
  const failed: { path: string; reason: string }[] = [];
  for (const c of changes) {
    if (c.action === 'unchanged') continue;
    let ids: { uid: number; gid: number } | null = null;
    if (owners) {
      const uid = owners.users.get(c.file.owner);
      const gid = owners.groups.get(c.file.group);
      if (uid === undefined || gid === undefined) {
        failed.push({ path: c.file.path, reason: `unknown ${uid === undefined ? `user ${c.file.owner}` : `group ${c.file.group}`} on this host` });
        continue;
      }
      ids = { uid, gid };
    }
    try {
      applyOne(target(root, c.file.path), c.file, ids);
    } catch (e) {
      failed.push({ path: c.file.path, reason: (e as NodeJS.ErrnoException).code ?? (e as Error).message });
    }
  }
  return failed;
}

/** Download, verify, plan, and (unless a dry run) apply and report. */
export async function fetchAndApply(opts: FetchOptions): Promise<FetchResult> {
  const started = new Date().toISOString();
  const rootDir = resolve(opts.root);
  if (!lstatOrNull(rootDir)?.isDirectory()) fail(`the root ${rootDir} is not a directory`, 'give --root / on a real host, or an existing directory to stage into');
  const name = expectedClientName(opts);
  // A download may be a bootstrap client's one password run: find an unusable --trust key before spending it.
  try {
    verifyBytes(Buffer.alloc(0), Buffer.alloc(64), opts.trust);
  } catch (e) {
    throw new BinderyError('CONFIG', `the trusted signing key (--trust) cannot be used: ${(e as Error).message}`, {}, (e as BinderyError).hint);
  }
  const agent = new Agent({
    keepAlive: true,
    ca: opts.ca,
    cert: opts.cert,
    key: opts.key,
    minVersion: 'TLSv1.2',
    ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
  });
  try {
    const got = await download(opts, agent);
    // Nothing touches the disk before the signature checks out and the configuration is this host's.
    if (!verifyBytes(got.tarball, got.signature, opts.trust)) {
      fail('the configuration\'s signature does not verify with the trusted key: nothing was applied', 'check --trust is the build\'s signing public key; if it is, the download was tampered with');
    }
    const record = checkMeta(got, opts.trust, name);
    const build = { client: record.host, sha256: got.sha256, unbound: record.failed.map((f) => ({ path: f.path, message: f.message })) };
    const files = await readTarball(got.tarball);
    const chown = opts.chown ?? process.getuid?.() === 0;
    const owners = chown ? { users: idTable(rootDir, 'passwd'), groups: idTable(rootDir, 'group') } : null;
    const plan = planChanges(rootDir, files, owners ?? undefined);
    if (opts.dryRun) {
      return { ...build, changes: plan.changes, failed: plan.failed, diff: unifiedDiff(plan.changes), reportPosted: false };
    }
    const failed = [...plan.failed, ...applyChanges(rootDir, plan.changes, owners)];
    const report = {
      ...build,
      started,
      finished: new Date().toISOString(),
      files: plan.changes.map((c) => ({ path: c.file.path, action: c.action })),
      failed,
      ok: failed.length === 0,
    };
    const posted = await call(opts, agent, 'POST', '/v1/report', Buffer.from(JSON.stringify(report)), got.runToken ? { [RUN_HEADER]: got.runToken } : {});
    checkStatus(posted.res, posted.data, 'the run report');
    return { ...build, changes: plan.changes, failed, diff: null, reportPosted: true };
  } finally {
    agent.destroy();
  }
}
