import { BinderyError, type Diagnostic } from '../errors.js';
import type { Config } from '../config/index.js';
import { clientConditions, parseXml, xmlMatch, type XmlElement } from '../xml/index.js';
import { decryptWith, passphraseNamed, type Passphrase } from '../secrets/index.js';
import type { CfgFile, ClientMetadata, Specificity } from '../types.js';

/** Key types bindery generates (Bcfg2: rsa, dsa; the issue adds ecdsa and ed25519). */
export type KeyType = 'rsa' | 'dsa' | 'ecdsa' | 'ed25519';

/** What privkey.xml asks for, for one client. */
export interface KeySpec {
  readonly type: KeyType;
  readonly bits: number;
  /** Passphrase protecting the private key itself (ssh-keygen -N); null = none. */
  readonly passphrase: string | null;
  /** Where the generated files apply: host-specific or group-specific. */
  readonly specificity: Specificity;
}

/** Sizes ssh-keygen accepts, and its defaults. */
const SIZES: Record<KeyType, { dflt: number; ok: (bits: number) => boolean; says: string }> = {
  rsa: { dflt: 3072, ok: (b) => b >= 1024 && b <= 16384, says: 'between 1024 and 16384' },
  dsa: { dflt: 1024, ok: (b) => b === 1024, says: '1024 (the only size OpenSSH accepts for DSA)' },
  ecdsa: { dflt: 256, ok: (b) => b === 256 || b === 384 || b === 521, says: '256, 384 or 521' },
  ed25519: { dflt: 256, ok: (b) => b === 256, says: 'omitted (ed25519 keys have a fixed size)' },
};

export const POSITIVE_INT = /^\s*[1-9]\d*\s*$/;

/** A parsed privkey.xml: checked once, evaluated per client. */
export interface PrivKeyFile {
  readonly file: CfgFile;
  readonly root: XmlElement;
}

export function parsePrivKey(file: CfgFile): PrivKeyFile {
  const root = parseXml(file.file.data.toString('utf8'), file.file.rel);
  if (root.name !== 'PrivateKey') {
    throw new BinderyError('KEYS', `root element is <${root.name}>, expected <PrivateKey>`, { file: file.file.rel, line: root.line }, 'privkey.xml starts with <PrivateKey>');
  }
  const prio = root.attrs.priority;
  if (prio !== undefined && !POSITIVE_INT.test(prio)) {
    throw new BinderyError('KEYS', `priority="${prio}" is not a positive integer`, { file: file.file.rel, line: root.line }, 'use e.g. priority="50"');
  }
  return { file, root };
}

/** Root lax_decryption="true|false" (1.4) or decrypt="lax|strict" (1.3) overrides [encryption]. */
function isLax(root: XmlElement, config: Config): boolean {
  if (root.attrs.lax_decryption !== undefined) return root.attrs.lax_decryption.toLowerCase() === 'true';
  if (root.attrs.decrypt !== undefined) return root.attrs.decrypt.toLowerCase() === 'lax';
  return config.encryption.laxDecryption;
}

/**
 * The key a client gets from privkey.xml: XMLMatch, then the first Params and the
 * first Passphrase (an unconditional one beats one inside a matching Group, as in Bcfg2).
 * Returns null when lax decryption of the passphrase failed: a warning, and no key.
 */
export function keySpecFor(pk: PrivKeyFile, m: ClientMetadata, config: Config, list: readonly Passphrase[], warn: (d: Diagnostic) => void): KeySpec | null {
  const rel = pk.file.file.rel;
  const matched = xmlMatch(pk.root, clientConditions(m));
  const params = matched.children.find((c) => c.name === 'Params');
  const passEl = matched.children.find((c) => c.name === 'Passphrase');

  const type = (params?.attrs.type ?? 'rsa') as KeyType;
  if (!(type in SIZES)) {
    throw new BinderyError('KEYS', `unknown key type "${type}"`, { file: rel, line: params?.line }, 'use type="rsa", "dsa", "ecdsa" or "ed25519"');
  }
  const size = SIZES[type];
  let bits = size.dflt;
  if (params?.attrs.bits !== undefined) {
    bits = POSITIVE_INT.test(params.attrs.bits) ? Number(params.attrs.bits) : NaN;
    if (!size.ok(bits)) {
      throw new BinderyError('KEYS', `bits="${params.attrs.bits}" is not a valid size for a ${type} key`, { file: rel, line: params.line }, `bits must be ${size.says}`);
    }
  }

  let passphrase: string | null = null;
  if (passEl) {
    const name = passEl.attrs.encrypted;
    if (name === undefined) {
      passphrase = passEl.text === '' ? null : passEl.text;
    } else {
      const loc = { file: rel, line: passEl.line, host: m.hostname };
      try {
        if (passEl.text.trim() === '') throw new BinderyError('CRYPT', `<Passphrase encrypted="${name}"> has no encrypted text`, loc, 'put the output of `bindery crypt` (one base64 line) inside the element');
        const plain = decryptWith(passEl.text, passphraseNamed(list, name, loc).secret, loc);
        passphrase = new TextDecoder('utf-8', { fatal: true }).decode(plain);
      } catch (e) {
        const err = e instanceof BinderyError ? e : new BinderyError('CRYPT', 'the decrypted passphrase is not UTF-8 text', loc, `check that it was encrypted with the "${name}" passphrase`);
        if (!isLax(pk.root, config)) throw err.at(loc);
        warn({ code: 'key-passphrase-undecryptable', message: `${err.message}; no key generated for this client (lax_decryption)`, ...loc });
        return null;
      }
    }
  }
  return { type, bits, passphrase, specificity: keySpecificity(pk, m, config, warn) };
}

/**
 * Host- or group-specific: with a category and not perhost, the client's group
 * in that category at root priority (default 50); otherwise (or with no such group) the host.
 */
function keySpecificity(pk: PrivKeyFile, m: ClientMetadata, config: Config, warn: (d: Diagnostic) => void): Specificity {
  const root = pk.root;
  const category = root.attrs.category ?? config.sshkeys.category;
  const perhost = root.attrs.perhost !== undefined ? root.attrs.perhost.toLowerCase() === 'true' : !category;
  if (category && !perhost) {
    const group = m.categories[category];
    if (group) return { kind: 'group', group, prio: Number(root.attrs.priority ?? 50) };
    warn({ code: 'key-no-group-in-category', message: `no group in category "${category}"; generating a host-specific key`, file: pk.file.file.rel, host: m.hostname });
  }
  return { kind: 'host', host: m.hostname };
}
