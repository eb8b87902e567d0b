import { isUtf8 } from 'node:buffer';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { BinderyError, type Location } from '../errors.js';
import { ENV_PREFIX, type Passphrase } from './passphrases.js';

/**
 * Bcfg2's encrypted data: base64("Salted__" || salt || AES-256-CBC ciphertext),
 * key and IV from OpenSSL's EVP_BytesToKey with MD5 and one iteration, so files interoperate
 * with `openssl enc -aes-256-cbc -md md5 -a -salt`. docs/secrets.md says what that protects against.
 */

const MAGIC = Buffer.from('Salted__', 'latin1');
const BLOCK = 16;

/** EVP_BytesToKey(MD5, 1 iteration): D1 = MD5(pass‖salt), Di = MD5(Di-1‖pass‖salt); key = D1‖D2, IV = D3. */
function deriveKey(secret: string, salt: Buffer): { key: Buffer; iv: Buffer } {
  const pass = Buffer.from(secret, 'utf8');
  const blocks: Buffer[] = [];
  let prev = Buffer.alloc(0);
  for (let i = 0; i < 3; i++) {
    prev = createHash('md5').update(prev).update(pass).update(salt).digest();
    blocks.push(prev);
  }
  return { key: Buffer.concat([blocks[0]!, blocks[1]!]), iv: blocks[2]! };
}

/** Encrypt `plain` in Bcfg2's format: one unwrapped base64 line and "\n". */
export function encryptText(plain: Buffer, secret: string, salt: Buffer = randomBytes(8)): string {
  if (salt.length !== 8) throw new BinderyError('CRYPT', `salt must be 8 bytes, got ${salt.length}`);
  const { key, iv } = deriveKey(secret, salt);
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([MAGIC, salt, body]).toString('base64') + '\n';
}

/** The bytes of base64 text (any whitespace ignored), or null when it is not base64. */
function fromBase64(data: string | Buffer): Buffer | null {
  const text = (typeof data === 'string' ? data : data.toString('latin1')).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) return null;
  return Buffer.from(text, 'base64');
}

const hasHeader = (raw: Buffer) => raw.length >= MAGIC.length + 8 && raw.subarray(0, MAGIC.length).equals(MAGIC);

/**
 * True when `data` base64-decodes to "Salted__…", as bcfg2-crypt checks before encrypting
 * (a damaged encrypted file counts too: it must not be encrypted a second time).
 */
export function isEncrypted(data: string | Buffer): boolean {
  const raw = fromBase64(data);
  return raw !== null && hasHeader(raw);
}

interface Parsed {
  readonly salt: Buffer;
  readonly body: Buffer;
}

/** Decode and check the envelope. Problems here do not depend on the passphrase. */
function parse(cipherText: string | Buffer, loc: Location): Parsed {
  const hint = 'the file must be the output of `bindery crypt encrypt` or `openssl enc -aes-256-cbc -md md5 -a -salt`';
  const raw = fromBase64(cipherText);
  if (raw === null) throw new BinderyError('CRYPT', 'encrypted data is not valid base64', loc, hint);
  if (!hasHeader(raw)) throw new BinderyError('CRYPT', 'encrypted data does not start with the "Salted__" header', loc, hint);
  const body = raw.subarray(MAGIC.length + 8);
  if (body.length === 0 || body.length % BLOCK !== 0) {
    throw new BinderyError('CRYPT', `encrypted data is truncated (${body.length} bytes of ciphertext, not a non-zero multiple of ${BLOCK})`, loc, hint);
  }
  return { salt: raw.subarray(MAGIC.length, MAGIC.length + 8), body };
}

/**
 * Decrypt with one secret; null when the PKCS#7 padding is wrong (wrong passphrase).
 * The last block is checked first (CBC lets us decrypt it alone) so wrong passphrases
 * cost one block, not the whole file.
 */
function tryDecrypt(p: Parsed, secret: string): Buffer | null {
  const { key, iv } = deriveKey(secret, p.salt);
  const n = p.body.length;
  const lastIv = n > BLOCK ? p.body.subarray(n - 2 * BLOCK, n - BLOCK) : iv;
  const probe = createDecipheriv('aes-256-cbc', key, lastIv).setAutoPadding(false);
  const last = Buffer.concat([probe.update(p.body.subarray(n - BLOCK)), probe.final()]);
  const pad = last[BLOCK - 1]!;
  if (pad < 1 || pad > BLOCK) return null;
  for (let i = BLOCK - pad; i < BLOCK; i++) if (last[i] !== pad) return null;
  const full = createDecipheriv('aes-256-cbc', key, iv).setAutoPadding(false);
  const out = Buffer.concat([full.update(p.body), full.final()]);
  return out.subarray(0, out.length - pad);
}

/** Decrypt with one secret; a CRYPT error for a malformed envelope or a wrong passphrase. */
export function decryptWith(cipherText: string | Buffer, secret: string, loc: Location = {}): Buffer {
  const plain = tryDecrypt(parse(cipherText, loc), secret);
  if (plain === null) {
    throw new BinderyError('CRYPT', 'decryption failed: bad padding (wrong passphrase or damaged data)', loc, 'check that the passphrase is the one the data was encrypted with');
  }
  return plain;
}

/**
 * Decrypt with whichever passphrase works: every passphrase is
 * tried, and exactly one plaintext must come out with valid padding (and valid UTF-8 when
 * `requireUtf8`). None, or two different ones, is a CRYPT error naming the file and the
 * passphrase names tried — never a secret or any plaintext.
 */
export function decryptAny(cipherText: string | Buffer, list: readonly Passphrase[], opts: { requireUtf8: boolean; file: string }): Buffer {
  const loc = { file: opts.file };
  const parsed = parse(cipherText, loc);
  const hint = `add the passphrase to [encryption] in bcfg2.conf or set ${ENV_PREFIX}<NAME>`;
  if (list.length === 0) throw new BinderyError('CRYPT', 'cannot decrypt: no passphrases are configured', loc, hint);
  const winners: { name: string; plain: Buffer }[] = [];
  for (const p of list) {
    const plain = tryDecrypt(parsed, p.secret);
    if (plain && (!opts.requireUtf8 || isUtf8(plain))) winners.push({ name: p.name, plain });
  }
  const tried = list.map((p) => p.name).join(', ');
  if (winners.length === 0) {
    throw new BinderyError('CRYPT', `cannot decrypt: no passphrase yields valid ${opts.requireUtf8 ? 'UTF-8 ' : ''}plaintext (tried ${tried})`, loc, `${hint}; if it was among those tried, the file is damaged`);
  }
  // The same secret under two names is not ambiguous.
  const distinct = winners.filter((w) => !w.plain.equals(winners[0]!.plain));
  if (distinct.length > 0) {
    throw new BinderyError(
      'CRYPT',
      `cannot decrypt: more than one passphrase yields valid plaintext (${winners.map((w) => w.name).join(', ')})`,
      loc,
      opts.requireUtf8 ? 're-encrypt the file so that only one passphrase fits' : 're-encrypt the file (for binary data a wrong passphrase passes the padding check about 1 time in 256)',
    );
  }
  return winners[0]!.plain;
}
