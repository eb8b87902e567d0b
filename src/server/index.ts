/**
 * The authenticating file server. HTTPS only, TLS 1.2+. A client
 * certificate is requested but optional; the verification result is checked here, per request.
 *
 *   GET  /v1/config         the authenticated client's own tarball (ETag = its sha256), with its
 *                           signature and its signed meta (which names the host) in headers
 *   GET  /v1/config.sig     its raw Ed25519 signature
 *   GET  /v1/config.meta    its meta JSON, the meta's signature in a header
 *   GET  /v1/signing-key    the build's public key (PEM), no authentication
 *   POST /v1/report         the client's run report (JSON)
 *   GET  /healthz           liveness, no authentication
 * HEAD is answered wherever GET is.
 *
 * No URL names a client: the identity comes from the credentials only, so no request can
 * reach another client's files.
 */
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BinderyError } from '../errors.js';
import type { ClientAuth } from '../types.js';
import { authenticate, indexClients, normalizeAddress, parseBasic, type AuthDecision, type AuthIndex, type AuthPolicy, type Credentials } from './auth.js';
import { openBootstrapStore, type BootstrapStore } from './bootstrap.js';
import { buildSource, type BuildSource, type HostArtifact, type ServedBuild } from './build.js';
import { writeFileAtomic } from '../fsutil/index.js';
import { createRateLimiter, DEFAULT_RATE_LIMIT, type RateLimitOptions } from './ratelimit.js';
import { CLIENT_HEADER, DRY_RUN_HEADER, META_HEADER, META_SIGNATURE_HEADER, ROUTES, RUN_HEADER, SIGNATURE_HEADER } from '../protocol/index.js';

export { authenticate, indexClients, normalizeAddress, parseBasic, secretEquals } from './auth.js';
export type { AuthDecision, AuthIndex, AuthMethod, AuthPolicy, Credentials } from './auth.js';
export { openBootstrapStore } from './bootstrap.js';
export type { BootstrapStatus, BootstrapStore } from './bootstrap.js';
export { buildSource } from './build.js';
export type { BuildSource, HostArtifact, ServedBuild } from './build.js';
export { createRateLimiter, DEFAULT_RATE_LIMIT } from './ratelimit.js';
export type { RateLimiter, RateLimitOptions } from './ratelimit.js';

const REALM = 'bindery';

export interface ServerOptions {
  /** The emit stage's output directory (holding the `current` symlink). */
  readonly buildDir: string;
  /** PEM texts: the server's certificate and key, and the CA client certificates must chain to. */
  readonly tls: {
    readonly cert: string | Buffer;
    readonly key: string | Buffer;
    readonly ca: string | Buffer;
    /** Where they were read from, for error messages. */
    readonly files?: { readonly cert?: string; readonly key?: string; readonly ca?: string };
  };
  /**
   * The clients' auth records for the build being served. Called per request; return the same
   * array while nothing changed (the lookup index is cached per array).
   */
  readonly clients: (build: ServedBuild | null) => readonly ClientAuth[];
  readonly policy: AuthPolicy;
  /** Where bootstrap state and run reports are kept. */
  readonly stateDir: string;
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  /** One JSON line per decision. */
  readonly log?: (line: string) => void;
  readonly rateLimit?: RateLimitOptions;
  /** Largest accepted run report (default 1 MiB). */
  readonly maxReportBytes?: number;
  readonly timeouts?: Partial<ServerTimeouts>;
  /** More fields for /healthz (e.g. the state of the object store the build comes from). */
  readonly health?: () => Record<string, unknown>;
}

export interface RunningServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export const DEFAULT_MAX_REPORT_BYTES = 1024 * 1024;

/** Milliseconds. A slow or silent client is dropped, so it cannot hold connections open (slowloris). */
export interface ServerTimeouts {
  /** To complete the TLS handshake. */
  readonly handshake: number;
  /** To send the request headers. */
  readonly headers: number;
  /** To send the whole request (headers and body). */
  readonly request: number;
  /** A connection with no traffic either way (a client that stops reading the answer, say) is closed. */
  readonly idle: number;
  /** An idle kept-alive connection between requests. */
  readonly keepAlive: number;
  /** How often Node checks the headers and request timeouts (its default is 30 s). */
  readonly checkEvery: number;
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = { handshake: 10_000, headers: 10_000, request: 30_000, idle: 30_000, keepAlive: 5_000, checkEvery: 1_000 };

/** What a log line says about one request; never a password, token, user string or file content. */
interface LogEntry {
  client: string | null;
  method: string | null;
  address: string;
  route: string;
  status: number;
  result: 'ok' | 'denied' | 'limited' | 'error';
  reason?: string;
}

function send(res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string | number> = {}): void {
  const data = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'content-length': data.length, 'cache-control': 'no-store', ...headers });
  res.end(data);
}

const sendJson = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string | number> = {}) =>
  send(res, status, JSON.stringify(value) + '\n', { 'content-type': 'application/json', ...headers });

function credentials(req: IncomingMessage): Credentials {
  const socket = req.socket as TLSSocket;
  const peer = socket.getPeerCertificate();
  const presented = peer !== null && typeof peer === 'object' && Object.keys(peer).length > 0;
  let cert: Credentials['cert'] = null;
  if (presented) {
    const cn = peer.subject?.CN as string | string[] | undefined;
    const problem = socket.authorizationError ? String(socket.authorizationError) : undefined;
    cert = { commonNames: cn === undefined ? [] : Array.isArray(cn) ? cn : [cn], trusted: socket.authorized, problem };
  }
  return { cert, basic: parseBasic(req.headers.authorization), address: normalizeAddress(req.socket.remoteAddress ?? '') };
}

/** Does If-None-Match name this ETag (`*`, a list, weak or strong)? */
function notModified(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > limit) return resolve('too-large');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        resolve('too-large');
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Refuse to start with TLS material that cannot work, saying which file and what to do. */
function checkTls(tls: ServerOptions['tls']): void {
  const bad = (what: keyof NonNullable<ServerOptions['tls']['files']>, message: string, hint: string): never => {
    throw new BinderyError('CONFIG', message, { file: tls.files?.[what] }, hint);
  };
  const issue = 'make one with bindery ca issue <ca dir> <server name> --server';
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(tls.cert);
  } catch {
    return bad('cert', 'the server certificate is not a PEM certificate', issue);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(tls.key);
  } catch {
    return bad('key', 'the server key is not an unencrypted PEM private key', issue);
  }
  if (!cert.checkPrivateKey(key)) bad('key', 'the server key does not belong to the server certificate', 'give --tls-key the key issued with --tls-cert');
  if (Date.parse(cert.validTo) < Date.now()) bad('cert', `the server certificate expired on ${cert.validTo}`, issue);
  try {
    new X509Certificate(tls.ca);
  } catch {
    bad('ca', 'the CA certificate is not a PEM certificate', 'give --ca the CA directory made by bindery ca init, or its ca.crt');
  }
}

/** A listen failure as the sysadmin's problem, not a stack trace. */
function listenError(e: NodeJS.ErrnoException, host: string, port: number): BinderyError {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const hints: Record<string, string> = {
    EADDRINUSE: 'another process (another bindery serve?) listens there: stop it, or choose another --listen',
    EADDRNOTAVAIL: `${host} is not an address of this host: choose one it has, or 0.0.0.0`,
    EACCES: 'ports below 1024 need root or CAP_NET_BIND_SERVICE: choose another --listen port',
    ENOTFOUND: `${host} is not a known host name: give an IP address`,
  };
  return new BinderyError('CONFIG', `cannot listen on ${where}: ${e.code ?? e.message}`, {}, (e.code && hints[e.code]) || 'check --listen', { cause: e });
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  checkTls(opts.tls);
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const builds: BuildSource = buildSource(opts.buildDir);
  let bootstrap: BootstrapStore;
  try {
    mkdirSync(join(opts.stateDir, 'reports'), { recursive: true, mode: 0o700 });
    bootstrap = openBootstrapStore(opts.stateDir);
  } catch (e) {
    throw new BinderyError('CONFIG', `cannot use the state directory: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: opts.stateDir }, 'give --state a directory the server can create and write');
  }
  const limiter = createRateLimiter(opts.rateLimit ?? DEFAULT_RATE_LIMIT);
  const timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  const maxReport = opts.maxReportBytes ?? DEFAULT_MAX_REPORT_BYTES;
  const indexes = new WeakMap<readonly ClientAuth[], AuthIndex>();
  const indexFor = (clients: readonly ClientAuth[]) => {
    let index = indexes.get(clients);
    if (!index) indexes.set(clients, (index = indexClients(clients)));
    return index;
  };

  const record = (e: LogEntry) => log(JSON.stringify({ time: new Date().toISOString(), ...e }));

  const unauthorized = (res: ServerResponse) =>
    send(res, 401, 'unauthorized\n', { 'www-authenticate': `Basic realm="${REALM}"`, 'content-type': 'text/plain' });

  /** The client's tarball, meta and signatures; if `build` was removed meanwhile, the build published since. */
  async function readArtifact(build: ServedBuild, client: string): Promise<HostArtifact | null> {
    try {
      return await build.artifact(client);
    } catch {
      const now = await builds.current();
      return now && now !== build ? now.artifact(client).catch(() => null) : null;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const address = normalizeAddress(req.socket.remoteAddress ?? '');
    const spec = Object.hasOwn(ROUTES, path) ? ROUTES[path]! : null;
    if (!spec) return sendJson(res, 404, { error: 'not found' });
    // HEAD is GET without the body (Node leaves the body out by itself).
    const allowed = spec.method === 'GET' ? ['GET', 'HEAD'] : [spec.method];
    if (!allowed.includes(req.method ?? '')) {
      return sendJson(res, 405, { error: 'method not allowed' }, { allow: allowed.join(', ') });
    }
    if (spec.route === 'healthz') {
      const build = await builds.current();
      return sendJson(res, 200, { ok: true, build: build ? basename(build.dir) : null, ...opts.health?.() });
    }
    if (spec.route === 'signing-key') {
      const build = await builds.current();
      if (!build) return sendJson(res, 503, { error: 'no build has been published yet' });
      return send(res, 200, build.signingKey, { 'content-type': 'application/x-pem-file' });
    }

    const retry = limiter.retryAfter(address);
    if (retry > 0) {
      record({ client: null, method: null, address, route: spec.route, status: 429, result: 'limited', reason: 'too many failed logins from this address' });
      return send(res, 429, 'too many failed logins\n', { 'retry-after': retry, 'content-type': 'text/plain', connection: 'close' });
    }

    const build = await builds.current();
    const decision: AuthDecision = authenticate(credentials(req), indexFor(opts.clients(build)), opts.policy, (c) => bootstrap.status(c) === 'done');
    const deny = (reason: string, client: string | null, method: string | null) => {
      limiter.recordFailure(address);
      record({ client, method, address, route: spec.route, status: 401, result: 'denied', reason });
      if (spec.route === 'report') res.setHeader('connection', 'close');
      unauthorized(res);
    };
    if (!decision.ok) return deny(decision.reason, decision.client, decision.method);
    const { client, method } = decision;
    /** Log what became of an authenticated request. */
    const outcome = (status: number, extra: Partial<LogEntry> = {}) => record({ client, method, address, route: spec.route, status, result: 'ok', ...extra });
    const failWith = (status: number, reason: string, headers: Record<string, string | number> = {}) => {
      outcome(status, { result: 'error', reason });
      sendJson(res, status, { error: reason }, headers);
    };

    // The one bootstrap run: claimed by its download, carried by its token, ended by its report.
    const runHeader = req.headers[RUN_HEADER];
    const runToken = typeof runHeader === 'string' ? runHeader : null;
    const bootstrapStatus = decision.bootstrapRun ? bootstrap.status(client) : null;
    if (bootstrapStatus === 'claimed' && !(runToken && bootstrap.tokenMatches(client, runToken))) {
      return deny('auth="bootstrap": the password run was claimed by another download', client, method);
    }
    if (bootstrapStatus === 'new' && !(spec.route === 'config' && req.method === 'GET')) {
      return deny('auth="bootstrap": the password run must begin with GET /v1/config', client, method);
    }
    if (bootstrapStatus === 'new' && req.headers[DRY_RUN_HEADER] !== undefined) {
      return failWith(409, 'this would be the client\'s one bootstrap (password) run; a dry run cannot use it: run without --dry-run');
    }

    if (spec.route === 'report') {
      const body = await readBody(req, maxReport);
      if (body === 'too-large') return failWith(413, `run report larger than ${maxReport} bytes`, { connection: 'close' });
      let report: unknown;
      try {
        report = JSON.parse(body.toString('utf8'));
      } catch {
        report = undefined;
      }
      if (report === null || typeof report !== 'object' || Array.isArray(report)) return failWith(400, 'the run report must be a JSON object');
      const stored = { client, receivedAt: new Date().toISOString(), address, method, report };
      writeFileAtomic(join(opts.stateDir, 'reports', `client-${encodeURIComponent(client)}.json`), JSON.stringify(stored, null, 2) + '\n', 0o600);
      if (decision.authType === 'bootstrap') bootstrap.complete(client);
      outcome(200, decision.authType === 'bootstrap' ? { reason: 'bootstrap complete: certificate only from now on' } : {});
      return sendJson(res, 200, { accepted: true });
    }

    if (!build) return failWith(503, 'no build has been published yet', { 'retry-after': 10 });
    const sha256 = build.sha256(client);
    if (sha256 === null) return failWith(404, 'the current build has no configuration for this client');
    const conditional = spec.route === 'config' && notModified(req.headers['if-none-match'], `"${sha256}"`);
    const artifact = conditional ? null : await readArtifact(build, client);
    if (!conditional && !artifact) return failWith(503, 'the build changed while it was being read; try again', { 'retry-after': 1 });
    if (spec.route === 'config.meta' && !artifact?.meta) return failWith(404, 'the current build has no meta file for this client (it was made by an older bindery): run bindery build again');
    const headers: Record<string, string> = { etag: `"${artifact?.sha256 ?? sha256}"`, 'cache-control': 'private, no-cache', [CLIENT_HEADER]: client };
    if (bootstrapStatus === 'new') {
      const token = bootstrap.claim(client);
      if (!token) return deny('auth="bootstrap": a concurrent download claimed the password run first', client, method);
      headers[RUN_HEADER] = token;
    }
    outcome(artifact ? 200 : 304, bootstrapStatus === 'new' ? { reason: 'bootstrap run claimed' } : {});
    if (!artifact) {
      res.writeHead(304, headers);
      return void res.end();
    }
    if (spec.route === 'config') {
      // A build of an older bindery has no meta: served without it (and the client refuses it).
      const meta: Record<string, string> = artifact.meta ? { [META_HEADER]: artifact.meta.json.toString('base64'), [META_SIGNATURE_HEADER]: artifact.meta.signature.toString('base64') } : {};
      return send(res, 200, artifact.tarball, { ...headers, 'content-type': 'application/gzip', [SIGNATURE_HEADER]: artifact.signature.toString('base64'), ...meta });
    }
    if (spec.route === 'config.meta') {
      return send(res, 200, artifact.meta!.json, { ...headers, 'content-type': 'application/json', [META_SIGNATURE_HEADER]: artifact.meta!.signature.toString('base64') });
    }
    return send(res, 200, artifact.signature, { ...headers, 'content-type': 'application/octet-stream' });
  }

  const server: Server = createHttpsServer(
    {
      cert: opts.tls.cert,
      key: opts.tls.key,
      ca: opts.tls.ca,
      minVersion: 'TLSv1.2',
      requestCert: true,
      // Checked per request (socket.authorized), so a client without a certificate can still use a password.
      rejectUnauthorized: false,
      handshakeTimeout: timeouts.handshake,
      maxHeaderSize: 16 * 1024,
      headersTimeout: timeouts.headers,
      requestTimeout: timeouts.request,
      keepAliveTimeout: timeouts.keepAlive,
      connectionsCheckingInterval: timeouts.checkEvery,
    },
    (req, res) => {
      const path = (req.url ?? '').split('?')[0]!;
      handle(req, res, path).catch((e: unknown) => {
        record({ client: null, method: null, address: normalizeAddress(req.socket.remoteAddress ?? ''), route: path, status: 500, result: 'error', reason: e instanceof Error ? e.message : String(e) });
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    },
  );
  // The two timeouts above do not cover a client that stops reading the answer: close any connection idle this long.
  server.setTimeout(timeouts.idle);

  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  return new Promise((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException) => reject(listenError(e, host, port));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      const a = server.address() as AddressInfo;
      const hostForUrl = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({
        url: `https://${hostForUrl}:${a.port}`,
        host: a.address,
        port: a.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
