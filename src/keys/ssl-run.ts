import { createPrivateKey, generateKeyPair, X509Certificate, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BinderyError, asBinderyError } from '../errors.js';
import type { Config } from '../config/index.js';
import { specificitySuffix, type RepoModel } from '../repo/index.js';
import { encryptText, passphraseNamed, type Passphrase } from '../secrets/index.js';
import type { CfgFile } from '../types.js';
import type { Findings } from './findings.js';
import type { CertRequest, SslJob } from './ssl.js';
import { createExclusive, explainWriteError, readIfExists } from './write.js';

/** What writing keys (SSH pairs, SSL keys and certificates) needs besides the plan: the repository to write, and the phase's bookkeeping. */
export interface KeyRunContext {
  readonly repo: RepoModel;
  readonly config: Config;
  readonly passphrases: readonly Passphrase[];
  readonly findings: Findings;
  wrote(rel: string): void;
  /** A file another build wrote while this one ran, used as is. */
  adopt(rel: string): void;
  readPrivate(rel: string, data: Buffer, encrypted: boolean): Buffer;
}

const rsaKeyPair = promisify(generateKeyPair) as (type: 'rsa', options: { modulusLength: number }) => Promise<{ privateKey: KeyObject }>;

/** Loaded only when a certificate is issued: most builds need no X.509 code. */
const loadCa = () => import('../ca/index.js');

/** Make (or certify) one client's key and issue its certificates; every failure is reported to the asking clients. */
export async function runSslJob(j: SslJob, ctx: KeyRunContext): Promise<void> {
  const { repo, config } = ctx;
  const confName = config.file ?? 'bcfg2.conf';
  /** `[sslca] passphrase`: the [encryption] passphrase generated private keys are stored under. */
  const atRest = (): string | null => {
    const name = config.raw.sslca?.passphrase?.trim();
    return name ? passphraseNamed(ctx.passphrases, name, { file: confName }).secret : null;
  };

  /** The key a client already gets, as the CA certifies it; plain or .crypt files only. */
  const presentKey = (f: CfgFile): KeyObject => {
    if (f.kind !== 'plain' && f.kind !== 'crypt') {
      throw new BinderyError('KEYS', `cannot certify a key from a ${f.kind} file`, { file: f.file.rel }, 'make the private key a plain or .crypt file');
    }
    return rsaPrivateKey(ctx.readPrivate(f.file.rel, f.file.data, f.kind === 'crypt'), f.file.rel);
  };

  /** A new key of the size sslkey.xml asks for, written once; when another build wrote it first, its key. */
  const makeKey = async (keyRel: string, secret: string | null): Promise<KeyObject> => {
    const { privateKey } = await rsaKeyPair('rsa', { modulusLength: j.bits });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const abs = join(repo.root, keyRel);
    if (await createExclusive(abs, secret === null ? pem : encryptText(Buffer.from(pem), secret), 0o600)) {
      ctx.wrote(keyRel);
      return privateKey;
    }
    const theirs = await readIfExists(abs);
    if (!theirs) throw new BinderyError('KEYS', 'the key file vanished while being written', { file: keyRel }, 'run the build again');
    ctx.findings.warn({ code: 'key-adopted', message: 'another build wrote this key first; using its key', file: keyRel });
    ctx.adopt(keyRel);
    return rsaPrivateKey(ctx.readPrivate(keyRel, theirs, secret !== null), keyRel);
  };

  /** Issue and write one certificate for key; when another build wrote it first, keep its certificate. */
  const certify = async (c: CertRequest, key: KeyObject, keyRel: string): Promise<void> => {
    const certRel = `${c.set.dir}/${c.set.basename}${specificitySuffix({ kind: 'host', host: j.host })}`;
    try {
      const { certifyKey } = await loadCa();
      let pem: string;
      try {
        pem = certifyKey(c.caDir, j.host, key, { days: c.days });
      } catch (e) {
        const err = asBinderyError(e, 'KEYS');
        throw new BinderyError('KEYS', `cannot issue the certificate: ${err.message}`, { file: c.origin.file, line: c.origin.line }, err.hint);
      }
      const abs = join(repo.root, certRel);
      if (await createExclusive(abs, pem, 0o644)) {
        ctx.wrote(certRel);
        return;
      }
      const theirs = await readIfExists(abs);
      if (!theirs) throw new BinderyError('KEYS', 'the certificate file vanished while being written', { file: certRel }, 'run the build again');
      if (!certifiesKey(theirs, key)) {
        throw new BinderyError('KEYS', `the certificate ${certRel}, written by another build, does not belong to the key ${keyRel}`, { file: certRel }, 'remove the certificate so the key phase issues one for the key');
      }
      ctx.adopt(certRel);
    } catch (e) {
      ctx.findings.fail(c.origin, explainWriteError(e, certRel));
    }
  };

  const origins = [...j.keyOrigins, ...j.certs.map((c) => c.origin)];
  if (j.blocks.length > 0) {
    for (const o of origins) for (const err of j.blocks) ctx.findings.fail(o, err);
    return;
  }
  let key: KeyObject;
  let keyRel = j.present?.file.rel ?? '';
  try {
    if (j.present) {
      key = presentKey(j.present);
    } else {
      const secret = atRest();
      keyRel = `${j.keySet.dir}/${j.keySet.basename}${specificitySuffix({ kind: 'host', host: j.host })}${secret === null ? '' : '.crypt'}`;
      key = await makeKey(keyRel, secret);
    }
  } catch (e) {
    const err = explainWriteError(e, keyRel);
    for (const o of origins) ctx.findings.fail(o, err);
    return;
  }
  // Each certificate on its own: one that cannot be issued leaves the key and the other certificates alone.
  for (const c of j.certs) await certify(c, key, keyRel);
}

/** A private key the CA can certify: PEM (PKCS#8 or PKCS#1), RSA, not protected by a passphrase. */
function rsaPrivateKey(pem: Buffer, rel: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    // Node reports a missing passphrase as a generic OpenSSL error; the PEM header tells.
    const locked = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem.toString('latin1'));
    throw locked
      ? new BinderyError('KEYS', 'cannot read the private key: it is protected by a passphrase', { file: rel }, 'store it without one (openssl pkey -in <key> -out <plain key>); to keep it encrypted at rest, make it a .crypt file with bindery crypt')
      : new BinderyError('KEYS', 'cannot read the private key: it is not a PEM private key (PKCS#8 or PKCS#1)', { file: rel }, 'key= in sslcert.xml must name a private key entry; convert the key with openssl pkey, or remove it so the key phase makes one');
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new BinderyError('KEYS', `cannot certify the private key: its type is ${key.asymmetricKeyType}, not RSA`, { file: rel }, "bindery's CA certifies RSA keys only: replace it with one (openssl genpkey -algorithm RSA), or remove it so the key phase makes one");
  }
  return key;
}

/** Does this PEM certificate certify this private key? */
function certifiesKey(certPem: Buffer, key: KeyObject): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(key);
  } catch {
    return false;
  }
}
