/**
 * The authenticating file server (spec §9, seed 000_). HTTPS only, TLS 1.2+. A client
 * certificate is requested but optional; the verification result is checked here, per request.
 *
 *   GET  /v1/config         the authenticated client's own tarball (ETag = its sha256)
 *   GET  /v1/config.sig     its raw Ed25519 signature
 *   GET  /v1/signing-key    the build's public key (PEM), no authentication
 *   POST /v1/report         the client's run report (JSON)
 *   GET  /healthz           liveness, no authentication
 *
 * No URL names a client: the identity comes from the credentials only, so no request can
 * reach another client's files.
 */
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ClientAuth } from '../types.js';
import { authenticate, indexClients, normalizeAddress, parseBasic, type AuthDecision, type AuthIndex, type AuthPolicy, type Credentials } from './auth.js';
import { openBootstrapStore, type BootstrapStore } from './bootstrap.js';
import { buildSource, type BuildSource, type HostArtifact, type ServedBuild } from './build.js';
import { writeFileAtomic } from '../fsutil/index.js';
import { createRateLimiter, DEFAULT_RATE_LIMIT, type RateLimitOptions } from './ratelimit.js';

export { authenticate, indexClients, normalizeAddress, parseBasic, secretEquals } from './auth.js';
export type { AuthDecision, AuthIndex, AuthMethod, AuthPolicy, Credentials } from './auth.js';
export { openBootstrapStore } from './bootstrap.js';
export type { BootstrapStatus, BootstrapStore } from './bootstrap.js';
export { buildSource } from './build.js';
export type { BuildSource, HostArtifact, ServedBuild } from './build.js';
export { createRateLimiter, DEFAULT_RATE_LIMIT } from './ratelimit.js';
export type { RateLimiter, RateLimitOptions } from './ratelimit.js';

/** Header carrying the base64 Ed25519 signature with the tarball (one response, one build). */
export const SIGNATURE_HEADER = 'bindery-signature';
/** Header carrying a bootstrap run's token from the download to the run report. */
export const RUN_HEADER = 'bindery-run';
export const CLIENT_HEADER = 'bindery-client';
export const REALM = 'bindery';

export interface ServerOptions {
  /** The emit stage's output directory (holding the `current` symlink). */
  readonly buildDir: string;
  /** PEM texts: the server's certificate and key, and the CA client certificates must chain to. */
  readonly tls: { readonly cert: string | Buffer; readonly key: string | Buffer; readonly ca: string | Buffer };
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
}

export interface RunningServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export const DEFAULT_MAX_REPORT_BYTES = 1024 * 1024;

type Route = 'config' | 'config.sig' | 'signing-key' | 'report' | 'healthz';
const ROUTES: Readonly<Record<string, { route: Route; method: 'GET' | 'POST' }>> = {
  '/v1/config': { route: 'config', method: 'GET' },
  '/v1/config.sig': { route: 'config.sig', method: 'GET' },
  '/v1/signing-key': { route: 'signing-key', method: 'GET' },
  '/v1/report': { route: 'report', method: 'POST' },
  '/healthz': { route: 'healthz', method: 'GET' },
};

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
    cert = { commonNames: cn === undefined ? [] : Array.isArray(cn) ? cn : [cn], trusted: socket.authorized };
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

export function startServer(opts: ServerOptions): Promise<RunningServer> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const builds: BuildSource = buildSource(opts.buildDir);
  mkdirSync(join(opts.stateDir, 'reports'), { recursive: true, mode: 0o700 });
  const bootstrap: BootstrapStore = openBootstrapStore(opts.stateDir);
  const limiter = createRateLimiter(opts.rateLimit ?? DEFAULT_RATE_LIMIT);
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

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const address = normalizeAddress(req.socket.remoteAddress ?? '');
    const path = (req.url ?? '').split('?')[0]!;
    const spec = Object.hasOwn(ROUTES, path) ? ROUTES[path]! : null;
    if (!spec) return sendJson(res, 404, { error: 'not found' });
    if (req.method !== spec.method) {
      return sendJson(res, 405, { error: 'method not allowed' }, { allow: spec.method });
    }
    if (spec.route === 'healthz') {
      const build = await builds.current();
      return sendJson(res, 200, { ok: true, build: build ? basename(build.dir) : null });
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
    const ok = (status: number, extra: Partial<LogEntry> = {}) => record({ client, method, address, route: spec.route, status, result: 'ok', ...extra });

    // The one bootstrap run: claimed by its download, carried by its token, ended by its report.
    const runHeader = req.headers[RUN_HEADER];
    const runToken = typeof runHeader === 'string' ? runHeader : null;
    const bootstrapStatus = decision.bootstrapRun ? bootstrap.status(client) : null;
    if (bootstrapStatus === 'claimed' && !(runToken && bootstrap.tokenMatches(client, runToken))) {
      return deny('auth="bootstrap": the password run was claimed by another download', client, method);
    }
    if (bootstrapStatus === 'new' && spec.route !== 'config') {
      return deny('auth="bootstrap": the password run must begin with GET /v1/config', client, method);
    }

    if (spec.route === 'report') {
      const body = await readBody(req, maxReport);
      if (body === 'too-large') {
        ok(413, { result: 'error', reason: `run report larger than ${maxReport} bytes` });
        return sendJson(res, 413, { error: `run report larger than ${maxReport} bytes` }, { connection: 'close' });
      }
      let report: unknown;
      try {
        report = JSON.parse(body.toString('utf8'));
      } catch {
        report = undefined;
      }
      if (report === null || typeof report !== 'object' || Array.isArray(report)) {
        ok(400, { result: 'error', reason: 'run report is not a JSON object' });
        return sendJson(res, 400, { error: 'the run report must be a JSON object' });
      }
      const stored = { client, receivedAt: new Date().toISOString(), address, method, report };
      writeFileAtomic(join(opts.stateDir, 'reports', `client-${encodeURIComponent(client)}.json`), JSON.stringify(stored, null, 2) + '\n', 0o600);
      if (decision.authType === 'bootstrap') bootstrap.complete(client);
      ok(200, decision.authType === 'bootstrap' ? { reason: 'bootstrap complete: certificate only from now on' } : {});
      return sendJson(res, 200, { accepted: true });
    }

    if (!build) {
      ok(503, { result: 'error', reason: 'no build published yet' });
      return sendJson(res, 503, { error: 'no build has been published yet' }, { 'retry-after': 10 });
    }
    let artifact: HostArtifact | null = null;
    const sha256 = build.sha256(client);
    const conditional = spec.route === 'config' && sha256 !== null && notModified(req.headers['if-none-match'], `"${sha256}"`);
    if (sha256 !== null && !conditional) {
      try {
        artifact = await build.artifact(client);
      } catch {
        // The build was replaced and removed between the lookup and the read: serve the new one.
        artifact = await (await builds.current())?.artifact(client).catch(() => null) ?? null;
        if (!artifact) {
          ok(503, { result: 'error', reason: 'the build changed while it was being read' });
          return sendJson(res, 503, { error: 'the build changed; try again' }, { 'retry-after': 1 });
        }
      }
    }
    if (sha256 === null || (!conditional && !artifact)) {
      ok(404, { result: 'error', reason: 'the current build has no configuration for this client' });
      return sendJson(res, 404, { error: 'the current build has no configuration for this client' });
    }
    const headers: Record<string, string> = { etag: `"${artifact?.sha256 ?? sha256}"`, 'cache-control': 'private, no-cache', [CLIENT_HEADER]: client };
    if (bootstrapStatus === 'new') {
      const token = bootstrap.claim(client);
      if (!token) return deny('auth="bootstrap": a concurrent download claimed the password run first', client, method);
      headers[RUN_HEADER] = token;
    }
    if (!artifact) {
      ok(304, bootstrapStatus === 'new' ? { reason: 'bootstrap run claimed' } : {});
      res.writeHead(304, headers);
      return void res.end();
    }
    ok(200, bootstrapStatus === 'new' ? { reason: 'bootstrap run claimed' } : {});
    if (spec.route === 'config') {
      return send(res, 200, artifact.tarball, { ...headers, 'content-type': 'application/gzip', [SIGNATURE_HEADER]: artifact.signature.toString('base64') });
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
      handshakeTimeout: 10_000,
      maxHeaderSize: 16 * 1024,
    },
    (req, res) => {
      handle(req, res).catch((e: unknown) => {
        record({ client: null, method: null, address: normalizeAddress(req.socket.remoteAddress ?? ''), route: req.url ?? '', status: 500, result: 'error', reason: e instanceof Error ? e.message : String(e) });
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    },
  );
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
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
