/**
 * One fetch run: download this host's configuration into a temporary file, verify it (signed
 * record, key chain, size, signature, freshness) before anything touches --root, work out what
 * would change, apply, remember the build in the state directory, and post the run report.
 * A dry run shows a unified diff and changes nothing, not even the server's bootstrap state
 * or the local state: it posts no report, and the server refuses (409) to let it be a
 * bootstrap client's one password run.
 */
import { X509Certificate } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { IncomingHttpHeaders } from 'node:http';
import { BinderyError, type Diagnostic } from '../errors.js';
import { verifyBytes } from '../emit/index.js';
import { keyFingerprint } from '../protocol/rotation.js';
import { DRY_RUN_HEADER, META_SIGNATURE_HEADER, RUN_HEADER, SIGNATURE_HEADER } from '../protocol/index.js';
import { applyChanges, canWriteSafely, idTable, planChanges, unifiedDiff, type Change, type PathFailure } from './apply.js';
import { loadState, saveState, stateFile, type HostState } from './state.js';
import { connect, download, get, post, type Connection } from './transport.js';
import { checkFreshness, readTarball, verifyRecord, type CheckedRecord, type SignedRecord } from './verify.js';

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
   * This host's name in clients.xml: the configuration is refused unless its signed record names
   * it. Default: the CN of `cert`, else `user` when that is a name (see expectedClientName).
   */
  readonly host?: string;
  /** The build signing key's public half (PEM), or the first key of its rotation chain. */
  readonly trust: string;
  /** Directory the configuration is applied under (`/` on a real host). */
  readonly root: string;
  /** Where the last applied build and the trusted key are remembered; null: remember nothing. */
  readonly stateDir: string | null;
  /** Apply a build older than the last one applied (a deliberate rollback). */
  readonly allowDowngrade?: boolean;
  /** Refuse a build made longer ago than this. */
  readonly maxAgeMs?: number;
  /** The whole run's deadline. */
  readonly timeoutMs?: number;
  readonly dryRun?: boolean;
  /** Set owners (default: when running as root). */
  readonly chown?: boolean;
  /** Local address to connect from. */
  readonly localAddress?: string;
}

export interface FetchResult {
  /** The host the configuration is for, from its signed record (this host's name). */
  readonly client: string;
  readonly sha256: string;
  /** 'unchanged': the server answered 304 to the last applied build, nothing was downloaded or applied. */
  readonly status: 'applied' | 'dry-run' | 'unchanged';
  readonly builtAt: string | null;
  readonly revision: string | null;
  readonly serial: number | null;
  readonly changes: readonly Change[];
  readonly failed: readonly PathFailure[];
  /** Paths the server could not bind for this host: left untouched here. */
  readonly serverFailed: readonly string[];
  /** Steps taken along the signing key's rotation chain in this run. */
  readonly keyRotations: number;
  /** What the run could not check (e.g. rollback, for builds that state no order). */
  readonly warnings: readonly Diagnostic[];
  /** The unified diff (dry run only). */
  readonly diff: string | null;
  readonly reportPosted: boolean;
}

export const DEFAULT_TIMEOUT_MS = 10 * 60_000;

function fail(message: string, hint?: string): never {
  throw new BinderyError('FETCH', message, {}, hint);
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

function header(headers: IncomingHttpHeaders, name: string): string | null {
  const v = headers[name];
  return typeof v === 'string' ? v : null;
}

/** The tarball's headers and its record came from two builds (one was published in between). */
class Stale extends Error {}

const RECORD_PATH = '/v1/config.meta';
/** Host records are small (about 200 bytes a file); this bounds a hostile one. */
const MAX_RECORD_BYTES = 16 << 20;

/**
 * The signed host record of the configuration whose headers are `h`, from GET /v1/config.meta
 * (it can be larger than HTTP header limits), carrying the bootstrap run's token.
 */
async function fetchRecord(c: Connection, h: IncomingHttpHeaders): Promise<SignedRecord | null> {
  const run = header(h, RUN_HEADER);
  const got = await get(c, RECORD_PATH, run ? { [RUN_HEADER]: run } : {}, MAX_RECORD_BYTES, 'the host record');
  const sig = header(got.headers, META_SIGNATURE_HEADER);
  return sig === null ? null : { json: got.body, signature: Buffer.from(sig, 'base64') };
}

function usableKey(pem: string, what: string): void {
  try {
    verifyBytes(Buffer.alloc(0), Buffer.alloc(64), pem);
  } catch (e) {
    throw new BinderyError('CONFIG', `${what} cannot be used: ${(e as Error).message}`, {}, (e as BinderyError).hint);
  }
}

/** Download, verify, plan, and (unless a dry run) apply, remember and report. */
export async function fetchAndApply(opts: FetchOptions): Promise<FetchResult> {
  const started = new Date().toISOString();
  let rootReal: string;
  try {
    if (!lstatSync(resolve(opts.root)).isDirectory()) throw new Error();
    rootReal = realpathSync(opts.root);
  } catch {
    throw new BinderyError('FETCH', `the root ${resolve(opts.root)} is not a directory`, {}, 'give --root / on a real host, or an existing directory to stage into');
  }
  const name = expectedClientName(opts);
  if (!canWriteSafely()) fail('fetch writes files through /proc/self/fd (Linux), and /proc is not mounted here: nothing was applied', 'mount /proc (a container or chroot may lack it)');
  // A download may be a bootstrap client's one password run: find an unusable key or state before spending it.
  usableKey(opts.trust, 'the trusted signing key (--trust)');
  const file = opts.stateDir === null ? null : stateFile(opts.stateDir, opts.server, name, rootReal);
  const state = file ? loadState(file) : null;
  // A changed --trust is the administrator pinning a key anew: it wins over where the old one's chain led.
  const trusted = state && keyFingerprint(state.pinned) === keyFingerprint(opts.trust) ? state.signingKey : opts.trust;
  const last = state?.applied ?? null;

  const c = connect({ ...opts, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  const tmp = mkdtempSync(join(tmpdir(), 'bindery-fetch-'));
  try {
    const headers: Record<string, string> = {};
    if (opts.dryRun) headers[DRY_RUN_HEADER] = '1';
    // A dry run always downloads: it shows what is on disk against the build, drift included.
    else if (last) headers['if-none-match'] = `"${last.sha256}"`;
    let verified: { record: CheckedRecord; signingKey: string; rotated: number } | null = null;
    let got: Awaited<ReturnType<typeof download>> | null = null;
    let warnings: Diagnostic[] = [];
    // Twice at most: a build published between the tarball's headers and its record is fetched again.
    for (let attempt = 1; !got; attempt++) {
      got = await download(c, '/v1/config', headers, join(tmp, `config-${attempt}.tar.gz`), async (h) => {
        const signed = await fetchRecord(c, h);
        verified = verifyRecord(signed, trusted, name, `GET ${RECORD_PATH}`);
        const etag = header(h, 'etag');
        if (etag !== null && etag !== `"${verified.record.sha256}"`) {
          if (attempt === 1) throw new Stale();
          fail('the server keeps sending a tarball other than the one its signed record describes: nothing was applied', 'a new build may be being published right now: run fetch again; if it persists, the server may be compromised');
        }
        warnings = checkFreshness(verified.record, last, { allowDowngrade: opts.allowDowngrade, maxAgeMs: opts.maxAgeMs, now: Date.now() });
        return verified.record.size;
      }).catch((e: unknown) => {
        if (e instanceof Stale) return null;
        throw e;
      });
    }

    if (got.status === 'unchanged') {
      if (!last || !state) fail('the server answered 304 (unchanged) to a request that named no build', 'is --server a bindery serve?');
      // The server says the last build is still current; freshness still holds it to --max-age.
      if (opts.maxAgeMs !== undefined) checkFreshness(last, null, { maxAgeMs: opts.maxAgeMs, now: Date.now() });
      const result: FetchResult = { client: state.host, ...build(last), status: 'unchanged', changes: [], failed: [], serverFailed: state.applied!.failed, keyRotations: 0, warnings, diff: null, reportPosted: false };
      await report(c, result, started, header(got.headers, RUN_HEADER));
      return { ...result, reportPosted: true };
    }

    const { record, signingKey, rotated } = verified!;
    if (got.size !== record.size) fail(`the configuration is ${got.size} bytes, not the ${record.size} its signed record states: nothing was applied`);
    if (got.sha256 !== record.sha256) {
      fail(`the configuration (sha256 ${got.sha256}) is not the one its signed record describes (${record.sha256}): nothing was applied`, 'the server sent a tarball of another host or another build; the server or the connection to it may be compromised');
    }
    const signature = header(got.headers, SIGNATURE_HEADER);
    if (signature === null) fail(`the server sent no ${SIGNATURE_HEADER} header`, 'is --server a bindery serve?');
    // Bounded by the size checked above.
    if (!verifyBytes(readFileSync(got.file), Buffer.from(signature, 'base64'), signingKey)) {
      fail('the configuration\'s signature does not verify with the trusted key: nothing was applied', 'check --trust is the build\'s signing public key; if it is, the download was tampered with');
    }
    const files = await readTarball(got.file, record);
    // Paths the server could not bind are left as they are, even if a tarball carried them.
    const serverFailed = new Set(record.failed);
    const chown = opts.chown ?? process.getuid?.() === 0;
    const owners = chown ? { users: idTable(rootReal, 'passwd'), groups: idTable(rootReal, 'group') } : null;
    const plan = planChanges(rootReal, files.filter((f) => !serverFailed.has(f.path)), owners);
    const base = { client: record.host, ...build(record), serverFailed: record.failed, keyRotations: rotated, warnings };
    if (opts.dryRun) return { ...base, status: 'dry-run', changes: plan.changes, failed: plan.failed, diff: unifiedDiff(plan.changes), reportPosted: false };

    const failed = [...plan.failed, ...applyChanges(rootReal, plan.changes, owners)];
    if (file) {
      const next: HostState = { version: 1, server: opts.server, host: record.host, pinned: opts.trust, signingKey, applied: { ...build(record), appliedAt: new Date().toISOString(), failed: record.failed } };
      saveState(file, next);
    }
    const result: FetchResult = { ...base, status: 'applied', changes: plan.changes, failed, diff: null, reportPosted: false };
    await report(c, result, started, header(got.headers, RUN_HEADER));
    return { ...result, reportPosted: true };
  } finally {
    c.agent.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
}

const build = (b: { sha256: string; serial: number | null; builtAt: string | null; revision: string | null }) => ({ sha256: b.sha256, serial: b.serial, builtAt: b.builtAt, revision: b.revision });

/** The run report, as the server stores it. */
function report(c: ReturnType<typeof connect>, r: FetchResult, started: string, runToken: string | null): Promise<void> {
  const body = {
    client: r.client,
    sha256: r.sha256,
    builtAt: r.builtAt,
    revision: r.revision,
    serial: r.serial,
    status: r.status,
    started,
    finished: new Date().toISOString(),
    files: r.changes.map((ch) => ({ path: ch.file.path, action: ch.action })),
    // The report holds flat lists only: paths the server could not bind are failed entries
    // marked `unbound`; they are the build's failures, so they do not make the run not ok.
    failed: [...r.failed, ...r.serverFailed.map((path) => ({ path, reason: 'the server could not bind it; left untouched', unbound: true }))],
    ok: r.failed.length === 0,
  };
  return post(c, '/v1/report', Buffer.from(JSON.stringify(body)), runToken ? { [RUN_HEADER]: runToken } : {}, 'the run report');
}
