import { createPrivateKey, generateKeyPair, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { BinderyError, asBinderyError, type Diagnostic } from '../errors.js';
import type { Config } from '../config/index.js';
import { matches, specificitySuffix, type RepoModel } from '../repo/index.js';
import { encryptText, passphraseNamed, type Passphrase } from '../secrets/index.js';
import { clientConditions, parseXml, xmlMatch, type XmlElement } from '../xml/index.js';
import type { CfgFile, ClientMetadata, EntrySet } from '../types.js';
import type { Origin } from './phase.js';
import { POSITIVE_INT } from './spec.js';
import { createExclusive, explainWriteError, readIfExists } from './write.js';

/**
 * SSL keys and certificates from `sslkey.xml` / `sslcert.xml` (Bcfg2 1.4's SSLCA creators in
 * Cfg), made in the key phase: each client gets its own private key and a certificate for it
 * from the CA that `[sslca_<name>] ca` names (a directory made by `bindery ca init`), CN = the
 * client's name. Both are host-specific files under Bcfg2's names, written once.
 */

/** Bcfg2's defaults: `<Key type="rsa" bits="2048"/>`, `<Cert days="365"/>`, `ca="default"`. */
const DEFAULT_BITS = 2048;
const DEFAULT_DAYS = 365;
const DEFAULT_CA = 'default';
/** src/ca issues a new RSA key of this size with each certificate (it cannot certify a given key). */
const CA_KEY_BITS = 2048;
const CERT_ATTRIBUTES = new Set(['key', 'ca', 'days']);
/** How long a build that lost the race for a key waits for the winner's certificate. */
const CERT_WAIT_MS = 5000;

/** What the phase lends the SSL creators: its findings, its written/adopted lists, its decryption cache. */
export interface PhaseContext {
  readonly repo: RepoModel;
  readonly config: Config;
  readonly passphrases: readonly Passphrase[];
  warn(d: Diagnostic): void;
  /** A key or certificate some client needs was not made (code key-not-generated). */
  fail(origin: Origin, e: unknown): void;
  wrote(rel: string): void;
  /** A file another build wrote while this one ran, used as is. */
  adopt(rel: string): void;
  readPrivate(rel: string, data: Buffer, encrypted: boolean): Buffer;
}

export interface SslPlanner {
  /** Client m gets the sslkey.xml entry at path. */
  requestKey(path: string, m: ClientMetadata): void;
  /** Client m gets the sslcert.xml entry at path. */
  requestCert(path: string, m: ClientMetadata): void;
  /** One task per (key, client) to make, in a stable order; each reports its own failures. */
  tasks(): (() => Promise<void>)[];
}

interface CertRequest {
  readonly set: EntrySet;
  readonly origin: Origin;
  readonly caDir: string;
  readonly days: number;
}

/** One client's key, and the certificates to issue for it. */
interface Job {
  readonly host: string;
  readonly keySet: EntrySet;
  readonly bits: number;
  /** Every request that leads to this key: the key entry itself and each certificate entry. */
  readonly origins: Origin[];
  readonly certs: CertRequest[];
  /**
   * Problems that stop the key being made, and the certificate entry each comes from: a key
   * made without the certificate it is for could never get one (src/ca issues key and certificate together).
   */
  readonly blocks: { readonly err: BinderyError; readonly cert?: string }[];
}

const rsaKeyPair = promisify(generateKeyPair) as (type: 'rsa', options: { modulusLength: number }) => Promise<{ privateKey: KeyObject }>;

/** Loaded only when a certificate is issued: bind workers import this stage and need no X.509 code. */
const loadCa = () => import('../ca/index.js');

export function planSsl(ctx: PhaseContext): SslPlanner {
  const { repo, config } = ctx;
  const parsed = new Map<string, XmlElement | BinderyError>();
  const cas = new Map<string, string | BinderyError>();
  const jobs = new Map<string, Job>();
  const confName = config.file ?? 'bcfg2.conf';

  /** sslkey.xml / sslcert.xml, parsed once; a broken file is a failure for every client asking. */
  const root = (f: CfgFile, name: 'KeyInfo' | 'CertInfo'): XmlElement => {
    let r = parsed.get(f.file.rel);
    if (!r) {
      try {
        r = parseXml(f.file.data.toString('utf8'), f.file.rel);
        if (r.name !== name) throw new BinderyError('KEYS', `root element is <${r.name}>, expected <${name}>`, { file: f.file.rel, line: r.line }, `${f.kind} starts with <${name}>`);
      } catch (e) {
        r = asBinderyError(e, 'KEYS', { file: f.file.rel });
      }
      parsed.set(f.file.rel, r);
    }
    if (r instanceof BinderyError) throw r;
    return r;
  };

  /** The directory of CA `name` from [sslca_<name>] ca, relative to bcfg2.conf; checked once. */
  const caDir = (name: string, at: { file: string; line: number }): string => {
    let dir = cas.get(name);
    if (dir === undefined) {
      const section = `sslca_${name}`;
      const opts = config.raw[section];
      const value = opts?.ca?.trim();
      if (!opts) {
        dir = new BinderyError('CONFIG', `ca="${name}": ${confName} has no [${section}] section`, at, `add [${section}] with "ca = <directory made by bindery ca init>" to ${confName}`);
      } else if (!value) {
        dir = new BinderyError('CONFIG', `[${section}] in ${confName} has no "ca" option`, at, `set "ca = <directory made by bindery ca init>" (bindery signs with that CA, not with an openssl.cnf)`);
      } else {
        const abs = resolve(config.file ? dirname(resolve(config.file)) : repo.root, value);
        const missing = ['ca.crt', 'ca.key'].find((f) => !existsSync(join(abs, f)));
        dir = missing
          ? new BinderyError('CONFIG', `CA "${name}" ([${section}] ca = ${value}): ${join(abs, missing)} does not exist`, at, `create the CA with: bindery ca init ${abs}`)
          : abs;
      }
      cas.set(name, dir);
    }
    if (dir instanceof BinderyError) throw dir.at(at);
    return dir;
  };

  const existing = (set: EntrySet, m: ClientMetadata) => set.generators.filter((g) => matches(g.specificity, m));

  /** The job making client m's key from keySet (created on first use; sslkey.xml errors block it). */
  const job = (keySet: EntrySet, m: ClientMetadata): Job => {
    const id = `${keySet.name}\0${m.hostname}`;
    let j = jobs.get(id);
    if (!j) {
      const creator = keySet.creators.find((c) => c.kind === 'sslkey.xml')!;
      let bits = DEFAULT_BITS;
      const blocks: Job['blocks'][number][] = [];
      try {
        bits = keyBits(root(creator, 'KeyInfo'), m, creator.file.rel);
      } catch (e) {
        blocks.push({ err: asBinderyError(e, 'KEYS', { file: creator.file.rel }) });
      }
      jobs.set(id, (j = { host: m.hostname, keySet, bits, origins: [], certs: [], blocks }));
    }
    return j;
  };

  const requestKey = (path: string, m: ClientMetadata) => {
    const set = repo.entrySets.get(path)!;
    if (existing(set, m).length > 0) return;
    const creator = set.creators.find((c) => c.kind === 'sslkey.xml')!;
    job(set, m).origins.push({ host: m.hostname, path, file: creator.file.rel });
  };

  const requestCert = (path: string, m: ClientMetadata) => {
    const set = repo.entrySets.get(path)!;
    const creator = set.creators.find((c) => c.kind === 'sslcert.xml')!;
    const rel = creator.file.rel;
    const origin: Origin = { host: m.hostname, path, file: rel };
    const present = existing(set, m)[0];
    let spec: ReturnType<typeof certSpec>;
    try {
      spec = certSpec(root(creator, 'CertInfo'), m, rel, (d) => ctx.warn({ path, ...d }));
    } catch (e) {
      // As with privkey.xml, the creator only matters when it has something to create.
      if (!present) ctx.fail(origin, e);
      return;
    }
    const at = { file: rel, line: spec.line };
    const keySet = repo.entrySets.get(spec.key);
    const key = keySet && existing(keySet, m)[0];
    const keyCreator = keySet?.creators.some((c) => c.kind === 'sslkey.xml') ?? false;
    if (present) {
      // The certificate stays; a new key would not match it, so none is made.
      if (keySet && !key && keyCreator) {
        const err = new BinderyError('KEYS', `the certificate ${present.file.rel} exists but its key ${spec.key} does not; a new key would not match it`, { file: present.file.rel }, `remove ${present.file.rel} too, so both are made anew, or restore the key`);
        job(keySet, m).blocks.push({ err });
      }
      return;
    }
    const suffix = specificitySuffix({ kind: 'host', host: m.hostname });
    if (!keySet) {
      ctx.fail(origin, new BinderyError('KEYS', `key="${spec.key}" names no Cfg entry (there is no Cfg${spec.key}/)`, at, `create Cfg${spec.key}/sslkey.xml, or correct key=`));
    } else if (key) {
      ctx.fail(origin, new BinderyError('KEYS', `cannot issue a certificate for the existing key ${key.file.rel}: bindery's CA issues a new key together with each certificate`, at, `remove ${key.file.rel} so the key phase makes both, or issue by hand (bindery ca issue <ca dir> ${m.hostname}) and save the two files as ${keySet.dir}/${keySet.basename}${suffix} and ${set.dir}/${set.basename}${suffix}`));
    } else if (!keyCreator) {
      ctx.fail(origin, new BinderyError('KEYS', `key="${spec.key}" has no sslkey.xml (Cfg${spec.key}/sslkey.xml), so no key is made for this certificate`, at, `create Cfg${spec.key}/sslkey.xml containing <KeyInfo/>`));
    } else {
      const j = job(keySet, m);
      j.origins.push({ ...origin, line: spec.line });
      try {
        j.certs.push({ set, origin: { ...origin, line: spec.line }, caDir: caDir(spec.ca, at), days: certDays(spec.days, at) });
      } catch (e) {
        j.blocks.push({ err: asBinderyError(e, 'KEYS', at), cert: path });
      }
    }
  };

  /** `[sslca] passphrase`: the [encryption] passphrase generated private keys are stored under. */
  const atRest = (): string | null => {
    const name = config.raw.sslca?.passphrase?.trim();
    return name ? passphraseNamed(ctx.passphrases, name, { file: confName }).secret : null;
  };

  const run = async (j: Job): Promise<void> => {
    const failAll = (e: unknown) => j.origins.forEach((o) => ctx.fail(o, e));
    if (j.blocks.length > 0) {
      for (const o of j.origins) {
        for (const { err, cert } of j.blocks) {
          const why = cert === undefined || cert === o.path ? err : new BinderyError(err.code, `not made: the key goes with the certificate ${cert}, which cannot be issued: ${err.message}`, err.location, err.hint);
          ctx.fail(o, why);
        }
      }
      return;
    }
    const suffix = specificitySuffix({ kind: 'host', host: j.host });
    let keyRel = '';
    let certRel = '';
    try {
      const secret = atRest();
      keyRel = `${j.keySet.dir}/${j.keySet.basename}${suffix}${secret === null ? '' : '.crypt'}`;
      const [cert, ...more] = j.certs;
      for (const c of more) {
        ctx.fail(c.origin, new BinderyError('KEYS', `${j.keySet.name} already gets its certificate from ${cert!.set.name}; bindery's CA cannot certify an existing key a second time`, { file: c.origin.file, line: c.origin.line }, 'give each certificate its own sslkey.xml key'));
      }
      let issued: { keyPem: string; certPem: string | null };
      if (cert) {
        if (j.bits !== CA_KEY_BITS) {
          throw new BinderyError('KEYS', `bits="${j.bits}": a key with a certificate from bindery's CA has ${CA_KEY_BITS} bits`, { file: j.keySet.creators.find((c) => c.kind === 'sslkey.xml')!.file.rel }, `use bits="${CA_KEY_BITS}" (or omit it)`);
        }
        const { issueCertificate } = await loadCa();
        try {
          issued = issueCertificate(cert.caDir, j.host, { days: cert.days });
        } catch (e) {
          const err = asBinderyError(e, 'KEYS');
          throw new BinderyError('KEYS', `cannot issue the certificate: ${err.message}`, { file: cert.origin.file, line: cert.origin.line }, err.hint);
        }
      } else {
        const { privateKey } = await rsaKeyPair('rsa', { modulusLength: j.bits });
        issued = { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), certPem: null };
      }

      let keyPem = issued.keyPem;
      if (await createExclusive(join(repo.root, keyRel), secret === null ? keyPem : encryptText(Buffer.from(keyPem), secret), 0o600)) {
        ctx.wrote(keyRel);
      } else {
        // Another build made this key first: use its key, and the certificate it writes next.
        const theirs = await readIfExists(join(repo.root, keyRel));
        if (!theirs) throw new BinderyError('KEYS', 'the key file vanished while being written', { file: keyRel }, 'run the build again');
        keyPem = ctx.readPrivate(keyRel, theirs, secret !== null).toString('utf8');
        ctx.warn({ code: 'key-adopted', message: 'another build wrote this key first; using its key', file: keyRel });
        ctx.adopt(keyRel);
        issued = { keyPem, certPem: null };
      }
      if (!cert) return;
      certRel = `${cert.set.dir}/${cert.set.basename}${suffix}`;
      const certAbs = join(repo.root, certRel);
      if (issued.certPem !== null && (await createExclusive(certAbs, issued.certPem, 0o644))) {
        ctx.wrote(certRel);
        return;
      }
      let found = await readIfExists(certAbs);
      for (let waited = 0; !found && waited < CERT_WAIT_MS; waited += 50) {
        await sleep(50);
        found = await readIfExists(certAbs);
      }
      if (!found) throw new BinderyError('KEYS', `another build wrote the key ${keyRel} but not its certificate`, { file: certRel }, 'run the build again once the other build has finished');
      if (!certifiesKey(found, keyPem)) {
        throw new BinderyError('KEYS', `the certificate ${certRel} does not belong to the key ${keyRel}`, { file: certRel }, 'remove both files so the key phase makes a matching pair');
      }
      ctx.adopt(certRel);
    } catch (e) {
      failAll(explainWriteError(e, certRel || keyRel));
    }
  };

  return {
    requestKey,
    requestCert,
    tasks: () => [...jobs.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, j]) => () => run(j)),
  };
}

/** The key size sslkey.xml asks for, for one client: the first <Key> after XMLMatch. */
function keyBits(root: XmlElement, m: ClientMetadata, rel: string): number {
  const key = xmlMatch(root, clientConditions(m)).children.find((c) => c.name === 'Key');
  const type = key?.attrs.type ?? 'rsa';
  if (type !== 'rsa') {
    throw new BinderyError('KEYS', `unknown or unsupported key type "${type}"`, { file: rel, line: key?.line }, 'use type="rsa" (bindery\'s CA certifies RSA keys; DSA is not supported)');
  }
  if (key?.attrs.bits === undefined) return DEFAULT_BITS;
  const bits = POSITIVE_INT.test(key.attrs.bits) ? Number(key.attrs.bits) : NaN;
  if (!(bits >= 2048 && bits <= 16384)) {
    throw new BinderyError('KEYS', `bits="${key.attrs.bits}" is not a valid size for an RSA key`, { file: rel, line: key.line }, 'bits must be from 2048 to 16384; TLS libraries refuse smaller RSA keys');
  }
  return bits;
}

/**
 * What sslcert.xml asks for, for one client: the first <Cert> after XMLMatch. `days` is checked
 * later (certDays), once the key is known, so that a bad value also holds back the key.
 */
function certSpec(root: XmlElement, m: ClientMetadata, rel: string, warn: (d: Diagnostic) => void): { key: string; ca: string; days: string | undefined; line: number } {
  const matched = xmlMatch(root, clientConditions(m));
  const cert = matched.children.find((c) => c.name === 'Cert');
  if (!cert) throw new BinderyError('KEYS', 'no <Cert> element applies to this client', { file: rel, line: root.line }, 'add <Cert key="/path/of/the/private.key"/> (outside any Group, or in one this client is in)');
  const at = { file: rel, line: cert.line };
  const key = cert.attrs.key?.trim();
  if (!key) throw new BinderyError('KEYS', '<Cert> has no key attribute', at, 'name the private key entry, e.g. key="/etc/pki/tls/private/client.key"');
  const ignored = [...Object.keys(cert.attrs).filter((a) => !CERT_ATTRIBUTES.has(a)), ...matched.children.filter((c) => c.name !== 'Cert').map((c) => `<${c.name}>`)];
  if (ignored.length > 0) {
    warn({ code: 'ssl-cert-ignored', message: `${ignored.join(', ')} ignored: bindery's certificates carry CN=<client name> and O=bindery only`, ...at, host: m.hostname });
  }
  return { key: key.startsWith('/') ? key : `/${key}`, ca: cert.attrs.ca?.trim() || DEFAULT_CA, days: cert.attrs.days, line: cert.line };
}

function certDays(value: string | undefined, at: { file: string; line: number }): number {
  if (value === undefined) return DEFAULT_DAYS;
  const days = POSITIVE_INT.test(value) ? Number(value) : NaN;
  if (!(days <= 36500)) throw new BinderyError('KEYS', `days="${value}" is not a number of days`, at, 'use a whole number from 1 to 36500, e.g. days="365"');
  return days;
}

/** Does this PEM certificate certify this private key? */
function certifiesKey(certPem: Buffer, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}
