/**
 * The wire protocol between `bindery serve` and `bindery fetch`: routes and headers. Both sides
 * import it from here, so the client never depends on the server.
 */
/** Header carrying the base64 Ed25519 signature with the tarball (one response, one build). */
export const SIGNATURE_HEADER = 'bindery-signature';
/**
 * The host record (format v2, see format.ts) is the body of GET /v1/config.meta, its raw Ed25519
 * signature (base64) in META_SIGNATURE_HEADER. The tarball's signature does not say whose it is;
 * the signed record names the host and the tarball's sha256, so a client can refuse another
 * host's tarball. A record can be larger than HTTP header limits, so it never travels in a
 * header: a client fetches the record, then /v1/config, and checks that the tarball's sha256 (its
 * ETag) is the record's; a mismatch means a new build was published in between: fetch both again.
 */
export const META_HEADER = 'bindery-meta';
export const META_SIGNATURE_HEADER = 'bindery-meta-signature';
/** Header carrying a bootstrap run's token from the download to the run report. */
export const RUN_HEADER = 'bindery-run';
export const CLIENT_HEADER = 'bindery-client';
/**
 * Sent by `fetch --dry-run`: a dry run must not spend a bootstrap client's one password run
 * (it would post no report, and the password would be refused from then on), so it gets 409.
 */
export const DRY_RUN_HEADER = 'bindery-dry-run';
export type Route = 'config' | 'config.sig' | 'config.meta' | 'signing-key' | 'report' | 'healthz';
export const ROUTES: Readonly<Record<string, { route: Route; method: 'GET' | 'POST' }>> = {
  '/v1/config': { route: 'config', method: 'GET' },
  '/v1/config.sig': { route: 'config.sig', method: 'GET' },
  '/v1/config.meta': { route: 'config.meta', method: 'GET' },
  '/v1/signing-key': { route: 'signing-key', method: 'GET' },
  '/v1/report': { route: 'report', method: 'POST' },
  '/healthz': { route: 'healthz', method: 'GET' },
};

export { FORMAT_VERSION, parseHostRecord, type HostRecord, type Manifest, type ManifestHost, type RecordFailure, type RecordFile, type ShardInfo } from './format.js';
export * as layout from './layout.js';
