/**
 * Raw Ed25519 signatures (decision 16 (docs/decisions.md)): 64 bytes over the exact file bytes, which is what
 * `openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in FILE -sigfile FILE.sig` checks.
 * Key material never appears in a message: errors name the key's file or variable only.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { BinderyError } from '../errors.js';
import { keyChainFile, keyFingerprint, readKeyChain, type SignedRotation } from '../protocol/rotation.js';

export interface SigningKey {
  readonly privateKey: KeyObject;
  /** The public half as SPKI PEM, published in manifest.json. */
  readonly publicKeyPem: string;
  /** The rotation chain leading to this key (empty when it was never rotated to), carried in each build head. */
  readonly keyChain: readonly SignedRotation[];
}

const SIGNING_KEY_ENV = 'BINDERY_SIGNING_KEY';
const KEY_CHAIN_ENV = 'BINDERY_SIGNING_KEY_CHAIN';

const MAKE_KEY_HINT = 'make one with: openssl genpkey -algorithm ed25519 -out signing-key.pem ' + `(then pass --signing-key signing-key.pem, or put the file's text in ${SIGNING_KEY_ENV})`;

/**
 * The build's signing key: the PKCS#8 PEM file at opts.path, else the PEM text in
 * BINDERY_SIGNING_KEY of opts.env (default process.env). A value with literal "\n" sequences and
 * no real line breaks (as some CI secret stores hand it over) is accepted too. Its rotation
 * chain is the file BINDERY_SIGNING_KEY_CHAIN names, else `<key file>.chain.json` when that
 * exists (`bindery signing-key rotate` writes it there).
 */
export function loadSigningKey(opts: { path?: string; env?: NodeJS.ProcessEnv }): SigningKey {
  const env = opts.env ?? process.env;
  let pem: string;
  if (opts.path) {
    try {
      pem = readFileSync(opts.path, 'utf8');
    } catch (e) {
      const reason = (e as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new BinderyError('CONFIG', `cannot read the signing key (${reason})`, { file: opts.path }, MAKE_KEY_HINT);
    }
  } else if (env[SIGNING_KEY_ENV]) {
    pem = env[SIGNING_KEY_ENV];
    if (!pem.includes('\n') && pem.includes('\\n')) pem = pem.replaceAll('\\n', '\n');
  } else {
    throw new BinderyError('CONFIG', `no signing key: pass --signing-key <file> or set ${SIGNING_KEY_ENV} to the key's PEM text`, {}, MAKE_KEY_HINT);
  }
  const where = opts.path ? { file: opts.path } : {};
  const described = opts.path ? 'the signing key' : `the signing key in ${SIGNING_KEY_ENV}`;
  if (/-----BEGIN (ENCRYPTED PRIVATE KEY|.*PUBLIC KEY)-----/.test(pem)) {
    const what = pem.includes('ENCRYPTED') ? 'encrypted (bindery needs it unencrypted)' : 'a public key, not a private key';
    throw new BinderyError('CONFIG', `${described} is ${what}`, where, MAKE_KEY_HINT);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    // OpenSSL's reason is dropped on purpose: it can quote the input.
    throw new BinderyError('CONFIG', `${described} is not a PEM private key`, where, MAKE_KEY_HINT);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new BinderyError('CONFIG', `${described} is an ${privateKey.asymmetricKeyType ?? 'unknown'} key; bindery signs with Ed25519`, where, MAKE_KEY_HINT);
  }
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return { privateKey, publicKeyPem, keyChain: loadKeyChain(env[KEY_CHAIN_ENV] || (opts.path ? keyChainFile(opts.path) : null), !!env[KEY_CHAIN_ENV], publicKeyPem) };
}

/** The chain in `file` (none when there is no such file and it was not asked for by name); it must lead to `publicKeyPem`. */
function loadKeyChain(file: string | null, named: boolean, publicKeyPem: string): SignedRotation[] {
  if (file === null) return [];
  const chain = readKeyChain(file);
  if (named && !chain.length && !existsSync(file)) throw new BinderyError('CONFIG', `${KEY_CHAIN_ENV} names a key rotation chain file that does not exist`, { file }, `unset ${KEY_CHAIN_ENV}, or point it at the file bindery signing-key rotate wrote`);
  if (chain.length) {
    const last = JSON.parse(Buffer.from(chain.at(-1)!.record, 'base64').toString('utf8')) as { newKey: string };
    if (keyFingerprint(last.newKey) !== keyFingerprint(publicKeyPem)) {
      throw new BinderyError('CONFIG', 'the key rotation chain does not lead to the signing key (its last record names another new key)', { file }, 'use the chain bindery signing-key rotate wrote for this key');
    }
  }
  return chain;
}

/** The raw 64-byte Ed25519 signature of data. */
export function signBytes(data: Buffer, key: SigningKey): Buffer {
  return sign(null, data, key.privateKey);
}

/** Whether signature is a valid Ed25519 signature of data by publicKeyPem (SPKI PEM). */
export function verifyBytes(data: Buffer, signature: Buffer, publicKeyPem: string): boolean {
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: publicKeyPem, format: 'pem' });
  } catch {
    throw new BinderyError('CONFIG', 'the public key is not a PEM public key', {}, 'use the signingKey PEM from manifest.json, or: openssl pkey -in signing-key.pem -pubout');
  }
  if (publicKey.asymmetricKeyType !== 'ed25519') {
    throw new BinderyError('CONFIG', `the public key is an ${publicKey.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
  }
  return verify(null, data, publicKey, signature);
}
