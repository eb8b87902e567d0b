/** Start the HTTPS server: TLS, timeouts, state, and the pieces the request handler uses. */
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BinderyError } from '../errors.js';
import type { ClientAuth } from '../types.js';
import type { AuthPolicy } from './auth.js';
import { openBootstrapStore, type BootstrapStore } from './bootstrap.js';
import { buildSource, type ServedBuild } from './build.js';
import { createHandler } from './handler.js';
import { sendJson, sourceAddress } from './http.js';
import { decisionLog } from './log.js';
import { createRateLimiter, DEFAULT_RATE_LIMIT, type RateLimiter, type RateLimitOptions } from './ratelimit.js';
import { createResolver, type ResolverOptions } from './resolver.js';
import { checkTls, initialContext, watchCrl, type TlsFiles } from './tls.js';

export interface ServerOptions {
  /** The emit stage's output directory (holding the `current` symlink). */
  readonly buildDir: string;
  /** PEM texts: the server's certificate and key, and the CA client certificates must chain to; the CA's CRL file. */
  readonly tls: TlsFiles;
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
  /** One JSON line per decision (default: stderr). */
  readonly log?: (line: string) => void;
  readonly rateLimit?: RateLimitOptions;
  /** A limiter shared with other server processes (see workers.ts); default: this process's own. */
  readonly limiter?: RateLimiter;
  /** Reverse DNS for clients at addresses clients.xml does not list. */
  readonly resolver?: ResolverOptions;
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

const DEFAULT_MAX_REPORT_BYTES = 1024 * 1024;

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
  /** How often Node checks the headers and request timeouts (its default is 30 s), and the CRL file for changes. */
  readonly checkEvery: number;
}

const DEFAULT_TIMEOUTS: ServerTimeouts = { handshake: 10_000, headers: 10_000, request: 30_000, idle: 30_000, keepAlive: 5_000, checkEvery: 1_000 };

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

function openState(stateDir: string): BootstrapStore {
  try {
    mkdirSync(join(stateDir, 'reports'), { recursive: true, mode: 0o700 });
    return openBootstrapStore(stateDir);
  } catch (e) {
    throw new BinderyError('CONFIG', `cannot use the state directory: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: stateDir }, 'give --state a directory the server can create and write');
  }
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  checkTls(opts.tls);
  const context = initialContext(opts.tls, (o) => createSecureContext(o));
  const line = opts.log ?? ((text: string) => process.stderr.write(text + '\n'));
  const log = decisionLog(line);
  const bootstrap = openState(opts.stateDir);
  const timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  const builds = buildSource(opts.buildDir);

  // Connections set up before the CRL last changed may carry a certificate revoked since: each is closed after its next answer.
  let crlGeneration = 0;
  const generationOf = new WeakMap<Socket, number>();

  const handle = createHandler({
    builds,
    clients: opts.clients,
    policy: opts.policy,
    bootstrap,
    limiter: opts.limiter ?? createRateLimiter(opts.rateLimit ?? DEFAULT_RATE_LIMIT),
    resolver: createResolver(opts.resolver),
    log,
    reportsDir: join(opts.stateDir, 'reports'),
    maxReportBytes: opts.maxReportBytes ?? DEFAULT_MAX_REPORT_BYTES,
    staleConnection: (req) => (generationOf.get(req.socket) ?? crlGeneration) < crlGeneration,
    health: opts.health,
  });

  const server: Server = createHttpsServer(
    {
      ...context,
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
      handle(req, res).catch((e: unknown) => {
        log.record({ client: null, method: null, address: sourceAddress(req), route: (req.url ?? '').split('?')[0]!, status: 500, result: 'error', reason: e instanceof Error ? e.message : String(e) });
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    },
  );
  server.on('secureConnection', (socket: Socket) => generationOf.set(socket, crlGeneration));
  // The two timeouts above do not cover a client that stops reading the answer: close any connection idle this long.
  server.setTimeout(timeouts.idle);
  const stopWatching = watchCrl(
    opts.tls,
    timeouts.checkEvery,
    (o) => {
      server.setSecureContext(o);
      crlGeneration++;
      server.closeIdleConnections();
    },
    (problem) => log.record({ client: null, method: null, address: '', route: 'crl', status: 0, result: problem ? 'error' : 'ok', reason: problem ?? `revocation list ${opts.tls.crlFile} loaded` }),
  );

  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  return new Promise((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException) => {
      stopWatching();
      builds.close();
      reject(listenError(e, host, port));
    };
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
            stopWatching();
            builds.close();
            server.close(() => {
              log.close();
              done();
            });
            server.closeAllConnections();
          }),
      });
    });
  });
}
