/**
 * Signing-key rotation records, made by the build side and checked by `fetch`.
 *
 * A host pins one build signing key (`fetch --trust`). To replace that key without touching
 * every host, the holder of the old key signs a small record naming the new one; builds signed
 * by the new key carry the chain of such records. A client walks the chain from the key it
 * trusts now, one verified step at a time, and from then on trusts only the key at the end:
 * a build signed by any key it was not led to is refused, and so is one signed by a retired key.
 *
 * The signature covers the record's exact JSON bytes, carried base64, so nothing depends on how
 * a JSON encoder orders or spaces them.
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BinderyError } from '../errors.js';

export interface KeyRotation {
  readonly version: 1;
  readonly kind: 'bindery-key-rotation';
  /** SPKI PEM of the key being retired: it signs this record. */
  readonly previousKey: string;
  /** SPKI PEM of the key that signs builds from now on. */
  readonly newKey: string;
  readonly createdAt: string;
}

/** One link of the chain as it travels: the record's JSON bytes and the old key's Ed25519 signature, both base64. */
export interface SignedRotation {
  readonly record: string;
  readonly signature: string;
}

const CHAIN_HINT = 'make rotation records with bindery signing-key rotate, and build with the chain it wrote';

function publicKey(pem: string, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw new BinderyError('CONFIG', `${what} is not a PEM public key`, {}, CHAIN_HINT);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new BinderyError('CONFIG', `${what} is an ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`, {}, CHAIN_HINT);
  return key;
}

/** A key's identity: sha256 of its DER SubjectPublicKeyInfo, so PEM spacing never matters. */
export function keyFingerprint(pem: string): string {
  return createHash('sha256').update(publicKey(pem, 'the key').export({ type: 'spki', format: 'der' })).digest('hex');
}

/** The record retiring `previous` (a private key) in favour of `newKeyPem`, signed by `previous`. */
export function signRotation(previous: KeyObject, newKeyPem: string, createdAt: Date): SignedRotation {
  const previousKey = createPublicKey(previous).export({ type: 'spki', format: 'pem' }).toString();
  const newKey = publicKey(newKeyPem, 'the new signing key').export({ type: 'spki', format: 'pem' }).toString();
  if (keyFingerprint(previousKey) === keyFingerprint(newKey)) throw new BinderyError('USAGE', 'the new signing key is the current one', {}, 'make a new key: openssl genpkey -algorithm ed25519 -out new-signing-key.pem');
  const record: KeyRotation = { version: 1, kind: 'bindery-key-rotation', previousKey, newKey, createdAt: createdAt.toISOString() };
  const bytes = Buffer.from(JSON.stringify(record));
  return { record: bytes.toString('base64'), signature: sign(null, bytes, previous).toString('base64') };
}

/** One link, checked; `file` names the chain file when it is read from one (else it came with a build). */
function parseRecord(link: unknown, index: number, file?: string): { rotation: KeyRotation; bytes: Buffer; signature: Buffer } {
  const bad = (why: string): never => {
    if (file) throw new BinderyError('CONFIG', `key rotation record ${index + 1} ${why}`, { file }, CHAIN_HINT);
    throw new BinderyError('FETCH', `key rotation record ${index + 1} ${why}: nothing was applied`, {}, CHAIN_HINT);
  };
  const l = link as Partial<SignedRotation> | null;
  if (!l || typeof l.record !== 'string' || typeof l.signature !== 'string') bad('is not {record, signature}');
  const bytes = Buffer.from(l!.record!, 'base64');
  let r: Partial<KeyRotation> | null = null;
  try {
    r = JSON.parse(bytes.toString('utf8')) as Partial<KeyRotation>;
  } catch {
    bad('is not JSON');
  }
  if (r?.version !== 1 || r.kind !== 'bindery-key-rotation' || typeof r.previousKey !== 'string' || typeof r.newKey !== 'string' || typeof r.createdAt !== 'string') {
    bad('is not a version 1 key rotation');
  }
  return { rotation: r as KeyRotation, bytes, signature: Buffer.from(l!.signature!, 'base64') };
}

/**
 * The key that must have signed the build, starting from `trusted`: each record signed by the
 * current key (and verified) moves trust to its new key. Records before the current key are
 * history and skipped; a record that names the current key but does not verify is an attack.
 * `followed` counts the steps taken.
 */
export function followRotations(trusted: string, chain: unknown): { key: string; followed: number } {
  if (chain === undefined || chain === null) return { key: trusted, followed: 0 };
  if (!Array.isArray(chain)) throw new BinderyError('FETCH', 'the key rotation chain is not a list: nothing was applied', {}, CHAIN_HINT);
  const links = chain.map((l, i) => parseRecord(l, i));
  let key = trusted;
  let fingerprint = keyFingerprint(trusted);
  let followed = 0;
  const seen = new Set([fingerprint]);
  for (;;) {
    const next = links.find((l) => keyFingerprint(l.rotation.previousKey) === fingerprint);
    if (!next) return { key, followed };
    if (!verify(null, next.bytes, publicKey(key, 'the trusted key'), next.signature)) {
      throw new BinderyError('FETCH', 'a key rotation record naming the trusted key is not signed by it: nothing was applied', {}, 'the server or the connection to it may be compromised');
    }
    key = next.rotation.newKey;
    fingerprint = keyFingerprint(key);
    if (seen.has(fingerprint)) throw new BinderyError('FETCH', 'the key rotation chain goes round in a circle: nothing was applied', {}, CHAIN_HINT);
    seen.add(fingerprint);
    followed++;
  }
}

/**
 * Where the chain leading to the key in `signingKeyPath` lives: beside it. `bindery signing-key
 * rotate` writes it there for the new key, and a build signed with that key picks it up from
 * there and puts it in each build head's `keyChain` (head.ts).
 */
export function keyChainFile(signingKeyPath: string): string {
  return `${signingKeyPath}.chain.json`;
}

/** The chain in `file` (a JSON list of signed records), or an empty one when the file does not exist yet. */
export function readKeyChain(file: string): SignedRotation[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new BinderyError('CONFIG', `cannot read the key rotation chain (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file });
  }
  let chain: unknown;
  try {
    chain = JSON.parse(text);
  } catch {
    throw new BinderyError('CONFIG', 'the key rotation chain is not JSON', { file }, CHAIN_HINT);
  }
  if (!Array.isArray(chain)) throw new BinderyError('CONFIG', 'the key rotation chain is not a JSON list', { file }, CHAIN_HINT);
  chain.forEach((l, i) => parseRecord(l, i, file));
  return chain as SignedRotation[];
}

/**
 * `chain` with one more record: `previous` retires in favour of `newKeyPem`. The chain must end
 * at `previous` (or be empty), so it stays one unbroken line from the first pinned key.
 */
export function extendKeyChain(chain: readonly SignedRotation[], previous: KeyObject, newKeyPem: string, now: Date): SignedRotation[] {
  const previousPem = createPublicKey(previous).export({ type: 'spki', format: 'pem' }).toString();
  const last = chain.length ? parseRecord(chain.at(-1), chain.length - 1).rotation.newKey : null;
  if (last !== null && keyFingerprint(last) !== keyFingerprint(previousPem)) {
    throw new BinderyError('USAGE', `the key rotation chain ends at the key with fingerprint ${keyFingerprint(last).slice(0, 16)}…, not at the signing key given (${keyFingerprint(previousPem).slice(0, 16)}…)`, {}, 'pass --signing-key the key builds are signed with now (the last rotation\'s new key)');
  }
  return [...chain, signRotation(previous, newKeyPem, now)];
}
