/**
 * emit: bound files → signed, deterministic per-host tarballs and a signed manifest, published
 * atomically into an output directory (decision 16 (docs/decisions.md)). The README's "The build output" section describes the layout.
 */
export { stableStringify } from './json.js';
export { hostTarball } from './tarball.js';
export { loadSigningKey, signBytes, verifyBytes, SIGNING_KEY_ENV, type SigningKey } from './sign.js';
export { publishBuild, readCurrentBuild, sourceDateEpoch, type BuildInput, type HostMeta, type Manifest, type ManifestHost, type ManifestFile, type ShardInfo } from './publish.js';
