/**
 * One request, in the order it is decided: route → public answers → rate limit → who is it
 * (credentials, reverse DNS when needed) → bootstrap rules → the run report or the artifact.
 * Each step is its own function; a step that answers the request returns null.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { basename } from 'node:path';
import type { ClientAuth } from '../types.js';
import { CLIENT_HEADER, DRY_RUN_HEADER, META_SIGNATURE_HEADER, ROUTES, RUN_HEADER, SIGNATURE_HEADER, type Route } from '../protocol/index.js';
import { authenticate, indexClients, type AuthDecision, type AuthIndex, type AuthPolicy } from './auth.js';
import type { BootstrapStatus, BootstrapStore } from './bootstrap.js';
import type { BuildSource, HostArtifact, ServedBuild } from './build.js';
import { credentials, notModified, readBody, send, sendJson, sourceAddress } from './http.js';
import type { DecisionLog, LogEntry } from './log.js';
import type { RateLimiter } from './ratelimit.js';
import { jsonDepthExceeds, MAX_REPORT_DEPTH, reportProblem, storeReport } from './report.js';
import type { AddressResolver } from './resolver.js';

const REALM = 'bindery';

export interface HandlerContext {
  readonly builds: BuildSource;
  readonly clients: (build: ServedBuild | null) => readonly ClientAuth[];
  readonly policy: AuthPolicy;
  readonly bootstrap: BootstrapStore;
  readonly limiter: RateLimiter;
  readonly resolver: AddressResolver;
  readonly log: DecisionLog;
  readonly reportsDir: string;
  readonly maxReportBytes: number;
  /** True when the connection was set up before the revocation list last changed: it is closed after this answer. */
  readonly staleConnection: (req: IncomingMessage) => boolean;
  /** More fields for /healthz. */
  readonly health?: () => Record<string, unknown>;
}

type Spec = { readonly route: Route; readonly method: 'GET' | 'POST' };

/** An authenticated request, with what the bootstrap rules need. */
interface Authorized {
  readonly decision: Extract<AuthDecision, { ok: true }>;
  readonly address: string;
  readonly bootstrapStatus: BootstrapStatus | null;
  /** Log and answer with an error. */
  fail(status: number, reason: string, headers?: OutgoingHttpHeaders): void;
  /** Log a success (or a 304). */
  done(status: number, reason?: string): void;
  /** Count a failed login, log it, answer 401. */
  deny(reason: string): void;
}

/** The headers of an artifact's answers, made once per artifact (that is, once per build and client). */
interface ArtifactHeaders {
  readonly config: OutgoingHttpHeaders;
  readonly signature: OutgoingHttpHeaders;
  readonly meta: OutgoingHttpHeaders | null;
}

function artifactHeaders(a: HostArtifact, client: string): ArtifactHeaders {
  const common = { etag: `"${a.sha256}"`, 'cache-control': 'private, no-cache', [CLIENT_HEADER]: client };
  // The host record never travels in a header (it can outgrow header limits): it has its own route.
  return {
    config: { ...common, 'content-type': 'application/gzip', [SIGNATURE_HEADER]: a.signature.toString('base64') },
    signature: { ...common, 'content-type': 'application/octet-stream' },
    meta: a.meta ? { ...common, 'content-type': 'application/json', [META_SIGNATURE_HEADER]: a.meta.signature.toString('base64') } : null,
  };
}

export function createHandler(ctx: HandlerContext): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const indexes = new WeakMap<readonly ClientAuth[], AuthIndex>();
  const indexFor = (clients: readonly ClientAuth[]) => {
    let index = indexes.get(clients);
    if (!index) indexes.set(clients, (index = indexClients(clients)));
    return index;
  };
  const headersOf = new WeakMap<HostArtifact, ArtifactHeaders>();

  /** The route, or null when the answer (404, 405) was sent. */
  function route(req: IncomingMessage, res: ServerResponse): Spec | null {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const spec = Object.hasOwn(ROUTES, path) ? ROUTES[path]! : null;
    if (!spec) return sendJson(res, 404, { error: 'not found' }), null;
    // HEAD is GET without the body (Node leaves the body out by itself).
    const allowed = spec.method === 'GET' ? ['GET', 'HEAD'] : [spec.method];
    if (!allowed.includes(req.method ?? '')) return sendJson(res, 405, { error: 'method not allowed' }, { allow: allowed.join(', ') }), null;
    return spec;
  }

  /** Routes that need no credentials. */
  async function publicRoute(spec: Spec, res: ServerResponse): Promise<boolean> {
    if (spec.route === 'healthz') {
      const build = await ctx.builds.current();
      sendJson(res, 200, { ok: true, build: build ? basename(build.dir) : null, ...ctx.health?.() });
      return true;
    }
    if (spec.route === 'signing-key') {
      const build = await ctx.builds.current();
      if (!build) sendJson(res, 503, { error: 'no build has been published yet' });
      else send(res, 200, build.signingKey, { 'content-type': 'application/x-pem-file' });
      return true;
    }
    return false;
  }

  /** Who is asking, by the auth rules; reverse DNS only when an unlisted address must be checked. */
  async function identify(req: IncomingMessage, index: AuthIndex): Promise<{ decision: AuthDecision; note: string | null }> {
    const creds = credentials(req);
    const done = (c: string) => ctx.bootstrap.status(c) === 'done';
    const first = authenticate(creds, index, ctx.policy, done);
    if (first.ok || !first.needsNames) return { decision: first, note: null };
    const resolved = await ctx.resolver.names(creds.address);
    return { decision: authenticate({ ...creds, names: resolved.names }, index, ctx.policy, done), note: resolved.note };
  }

  /** Rate limit, credentials, bootstrap rules; null when the request was answered (429, 401, 409). */
  async function authorize(req: IncomingMessage, res: ServerResponse, spec: Spec, build: ServedBuild | null): Promise<Authorized | null> {
    const address = sourceAddress(req);
    const entry = (e: Partial<LogEntry> & Pick<LogEntry, 'status' | 'result'>): LogEntry => ({ client: null, method: null, address, route: spec.route, ...e });
    const retry = ctx.limiter.retryAfter(address);
    if (retry > 0) {
      ctx.log.limited(entry({ status: 429, result: 'limited', reason: 'too many failed logins from this address' }));
      send(res, 429, 'too many failed logins\n', { 'retry-after': String(retry), 'content-type': 'text/plain', connection: 'close' });
      return null;
    }
    const { decision, note } = await identify(req, indexFor(ctx.clients(build)));
    const deny = (reason: string, client: string | null, method: string | null) => {
      ctx.limiter.recordFailure(address);
      ctx.log.record(entry({ client, method, status: 401, result: 'denied', reason: note ? `${reason} [${note}]` : reason }));
      if (spec.route === 'report') res.setHeader('connection', 'close');
      send(res, 401, 'unauthorized\n', { 'www-authenticate': `Basic realm="${REALM}"`, 'content-type': 'text/plain' });
    };
    if (!decision.ok) return deny(decision.reason, decision.client, decision.method), null;
    const { client, method } = decision;
    const a: Authorized = {
      decision,
      address,
      bootstrapStatus: decision.bootstrapRun ? ctx.bootstrap.status(client) : null,
      fail(status, reason, headers = {}) {
        ctx.log.record(entry({ client, method, status, result: 'error', reason }));
        sendJson(res, status, { error: reason }, headers);
      },
      done(status, reason) {
        ctx.log.record(entry({ client, method, status, result: 'ok', ...(reason ? { reason } : {}) }));
      },
      deny: (reason) => deny(reason, client, method),
    };
    return bootstrapAllows(req, spec, a) ? a : null;
  }

  /** The one bootstrap run: claimed by its download, carried by its token, ended by its report. */
  function bootstrapAllows(req: IncomingMessage, spec: Spec, a: Authorized): boolean {
    const token = req.headers[RUN_HEADER];
    if (a.bootstrapStatus === 'claimed' && !(typeof token === 'string' && ctx.bootstrap.tokenMatches(a.decision.client, token))) {
      return a.deny('auth="bootstrap": the password run was claimed by another download'), false;
    }
    if (a.bootstrapStatus === 'new' && !(spec.route === 'config' && req.method === 'GET')) {
      return a.deny('auth="bootstrap": the password run must begin with GET /v1/config'), false;
    }
    if (a.bootstrapStatus === 'new' && req.headers[DRY_RUN_HEADER] !== undefined) {
      return a.fail(409, 'this would be the client\'s one bootstrap (password) run; a dry run cannot use it: run without --dry-run'), false;
    }
    return true;
  }

  async function receiveReport(req: IncomingMessage, res: ServerResponse, a: Authorized): Promise<void> {
    const { client, method, authType } = a.decision;
    const body = await readBody(req, ctx.maxReportBytes);
    if (body === 'too-large') return a.fail(413, `run report larger than ${ctx.maxReportBytes} bytes`, { connection: 'close' });
    if (jsonDepthExceeds(body, MAX_REPORT_DEPTH)) return a.fail(400, `the run report is nested deeper than ${MAX_REPORT_DEPTH} levels`);
    let report: unknown;
    try {
      report = JSON.parse(body.toString('utf8'));
    } catch {
      return a.fail(400, 'the run report is not JSON');
    }
    const problem = reportProblem(report);
    if (problem) return a.fail(400, problem);
    await storeReport(ctx.reportsDir, { client, receivedAt: new Date().toISOString(), address: a.address, method, report: report as Record<string, unknown> });
    if (authType === 'bootstrap') ctx.bootstrap.complete(client);
    a.done(200, authType === 'bootstrap' ? 'bootstrap complete: certificate only from now on' : undefined);
    sendJson(res, 200, { accepted: true });
  }

  /** The client's tarball, meta and signatures; if `build` was removed meanwhile, the build published since. */
  async function readArtifact(build: ServedBuild, client: string): Promise<HostArtifact | null> {
    try {
      return await build.artifact(client);
    } catch {
      const now = await ctx.builds.current();
      return now && now !== build ? now.artifact(client).catch(() => null) : null;
    }
  }

  async function serveArtifact(req: IncomingMessage, res: ServerResponse, spec: Spec, a: Authorized, build: ServedBuild | null): Promise<void> {
    const { client } = a.decision;
    if (!build) return a.fail(503, 'no build has been published yet', { 'retry-after': '10' });
    const sha256 = build.sha256(client);
    if (sha256 === null) return a.fail(404, 'the current build has no configuration for this client');
    const conditional = spec.route === 'config' && notModified(req.headers['if-none-match'], `"${sha256}"`);
    const artifact = conditional ? null : await readArtifact(build, client);
    if (!conditional && !artifact) return a.fail(503, 'the build changed while it was being read; try again', { 'retry-after': '1' });
    if (spec.route === 'config.meta' && !artifact?.meta) return a.fail(404, 'the current build has no meta file for this client (it was made by an older bindery): run bindery build again');
    let runToken: string | null = null;
    if (a.bootstrapStatus === 'new') {
      runToken = ctx.bootstrap.claim(client);
      if (!runToken) return a.deny('auth="bootstrap": a concurrent download claimed the password run first');
    }
    const run = runToken ? { [RUN_HEADER]: runToken } : null;
    a.done(artifact ? 200 : 304, run ? 'bootstrap run claimed' : undefined);
    if (!artifact) {
      res.writeHead(304, { etag: `"${sha256}"`, 'cache-control': 'private, no-cache', [CLIENT_HEADER]: client, ...run });
      return void res.end();
    }
    let h = headersOf.get(artifact);
    if (!h) headersOf.set(artifact, (h = artifactHeaders(artifact, client)));
    const [headers, body] = spec.route === 'config' ? [h.config, artifact.tarball] : spec.route === 'config.meta' ? [h.meta!, artifact.meta!.json] : [h.signature, artifact.signature];
    send(res, 200, body, run ? { ...headers, ...run } : headers);
  }

  return async (req, res) => {
    const spec = route(req, res);
    if (!spec || (await publicRoute(spec, res))) return;
    if (ctx.staleConnection(req)) res.setHeader('connection', 'close');
    const build = await ctx.builds.current();
    const a = await authorize(req, res, spec, build);
    if (!a) return;
    if (spec.route === 'report') return receiveReport(req, res, a);
    return serveArtifact(req, res, spec, a, build);
  };
}
