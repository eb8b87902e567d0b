/**
 * The authenticating file server. HTTPS only (TLS 1.2 with ECDHE and AEAD suites, or 1.3). A
 * client certificate is requested but optional; the verification result is checked per request.
 * The routes are in src/protocol; docs/server.md describes the API and the auth rules.
 *
 * No URL names a client: the identity comes from the credentials only, so no request can
 * reach another client's files.
 */
export { startServer } from './server.js';
export type { RunningServer, ServerOptions, ServerTimeouts } from './server.js';
export { authenticate, indexClients, normalizeAddress, parseBasic, secretEquals } from './auth.js';
export type { AuthDecision, AuthIndex, AuthMethod, AuthPolicy, Credentials } from './auth.js';
export type { ServedBuild } from './build.js';
export { createRateLimiter, limitKey } from './ratelimit.js';
export type { RateLimiter, RateLimitOptions } from './ratelimit.js';
export { openLineSink } from './log.js';
export type { LineSink } from './log.js';
export type { ResolverOptions } from './resolver.js';
export { clientHazards } from './hazards.js';
export { announceListening, isWorker, leavePool, startWorkers, workerLimiter } from './workers.js';
export type { WorkerPool } from './workers.js';
