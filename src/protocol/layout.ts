/**
 * Names in a build output directory (docs/output-format.md), in one place for the compiler that
 * writes it, the server that reads it and anything that copies it elsewhere:
 *
 *   objects/<aa>/<sha256>              tarballs and host records, named by their content
 *   objects/<aa>/<sha256>.<key>.sig    their raw Ed25519 signatures by signing key <key>
 *   .builds/<id>/manifest.json(.sig)   one published build
 *   .builds/<id>/head.json(.sig)       its signed build head (head.ts)
 *   .builds/<id>/hosts/<host>.tar.gz(.sig)  links into objects/
 *   current -> .builds/<id>            swapped with one rename()
 *   hosts, manifest.json, manifest.json.sig -> current/…
 *   .cache/                            the incremental build cache (by default)
 */
export const OBJECTS = 'objects';
export const BUILDS = '.builds';
export const CURRENT = 'current';
export const HOSTS = 'hosts';
export const MANIFEST = 'manifest.json';
export const HEAD = 'head.json';
export const SIGNATURE_SUFFIX = '.sig';
export const CACHE = '.cache';
export const LOCK = '.lock';
/** Links at the top of the output directory, each to the same name under current/. */
export const STABLE_LINKS = [HOSTS, MANIFEST, MANIFEST + SIGNATURE_SUFFIX] as const;

/** Where an object lives, relative to the output directory. */
export function objectPath(sha256: string): string {
  return `${OBJECTS}/${sha256.slice(0, 2)}/${sha256}`;
}

/** Where the signature of an object by the key with id `keyId` lives, relative to the output directory. */
export function signaturePath(sha256: string, keyId: string): string {
  return `${objectPath(sha256)}.${keyId}${SIGNATURE_SUFFIX}`;
}

/** A host's tarball link, relative to a build directory. */
export function hostTarballPath(host: string): string {
  return `${HOSTS}/${host}.tar.gz`;
}
