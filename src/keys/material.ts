import { generateKeyPair as nodeGenerateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import sshpk from 'sshpk';
import { BinderyError } from '../errors.js';
import type { KeySpec } from './spec.js';

const generate = promisify(nodeGenerateKeyPair) as (type: string, options: object) => Promise<{ privateKey: KeyObject; publicKey: KeyObject }>;

const CURVES: Record<number, string> = { 256: 'prime256v1', 384: 'secp384r1', 521: 'secp521r1' };

/** A new key pair from Node's native crypto (generation runs on the libuv thread pool). */
export async function newKey(spec: Pick<KeySpec, 'type' | 'bits'>): Promise<sshpk.PrivateKey> {
  let pair: { privateKey: KeyObject };
  try {
    switch (spec.type) {
      case 'rsa':
        pair = await generate('rsa', { modulusLength: spec.bits });
        break;
      case 'dsa':
        pair = await generate('dsa', { modulusLength: spec.bits, divisorLength: 160 });
        break;
      case 'ecdsa':
        pair = await generate('ec', { namedCurve: CURVES[spec.bits] });
        break;
      case 'ed25519':
        pair = await generate('ed25519', {});
        break;
    }
  } catch (e) {
    throw new BinderyError('KEYS', `this platform cannot generate ${spec.type} keys: ${(e as Error).message}`, {}, 'use type="ed25519" or type="rsa" in privkey.xml');
  }
  if (spec.type === 'ed25519') {
    // Node's PKCS#8 omits the public half, and sshpk would recompute it in slow pure JS.
    const jwk = pair.privateKey.export({ format: 'jwk' });
    const part = (name: 'A' | 'k', b64url: string | undefined) => ({ name, data: Buffer.from(b64url!, 'base64url') });
    return new sshpk.PrivateKey({ type: 'ed25519', parts: [part('A', jwk.x), part('k', jwk.d)] });
  }
  return sshpk.parsePrivateKey(pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), 'pkcs8');
}

/** The private key as ssh-keygen writes it ("OPENSSH PRIVATE KEY", bcrypt-protected when a passphrase is given). */
export function privateKeyText(key: sshpk.PrivateKey, passphrase: string | null, comment: string): Buffer {
  key.comment = comment;
  return key.toBuffer('openssh', passphrase ? { passphrase } : undefined);
}

/** Load a private key in any format ssh-keygen writes; wrong or missing passphrase is a KEYS error. */
export function loadPrivateKey(text: Buffer, passphrase: string | null, file: string): sshpk.PrivateKey {
  try {
    return sshpk.parsePrivateKey(text, 'auto', passphrase ? { passphrase } : undefined);
  } catch (e) {
    const why = e instanceof Error && /passphrase/i.test(e.name + e.message) ? 'it is protected by a passphrase privkey.xml does not give (or gives wrongly)' : 'it is not a private key ssh-keygen writes';
    throw new BinderyError('KEYS', `cannot read the private key: ${why}`, { file }, 'fix or remove the file; bindery regenerates a missing key');
  }
}

/** "type base64 comment\n": Bcfg2's public key file, with the comment of decision 11 (docs/decisions.md). */
export function publicKeyLine(key: sshpk.PrivateKey, comment: string): string {
  const [type, blob] = key.toPublic().toString('ssh').split(' ');
  return `${type} ${blob} ${comment}\n`;
}

/** The first two fields (type and key) of a public key line: what identifies the key. */
export function publicKeyId(line: string): string {
  return line.trim().split(/\s+/).slice(0, 2).join(' ');
}
