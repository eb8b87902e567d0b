/**
 * emit: bound files → signed, deterministic per-host tarballs and host records in a
 * content-addressed store, and a signed manifest, published atomically into an output directory
 * (decision 16 (docs/decisions.md); the format: docs/output-format.md).
 */
export { stableStringify } from './json.js';
export { contentHash, hostTarball, type ContentHashes } from './tarball.js';
export { loadSigningKey, signBytes, verifyBytes, type SigningKey } from './sign.js';
export { emitHost, type EmitTarget, type EmittedHost } from './store.js';
export { abortPublish, beginPublish, finishPublish, keyId, readCurrentBuild, type BuildSummary, type Publication } from './publish.js';
