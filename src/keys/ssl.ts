import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { BinderyError, asBinderyError, type Diagnostic } from '../errors.js';
import type { Config } from '../config/index.js';
import { matches, type RepoModel } from '../repo/index.js';
import type { Passphrase } from '../secrets/index.js';
import { clientConditions, parseXml, xmlMatch, type XmlElement } from '../xml/index.js';
import type { CfgFile, ClientMetadata, EntrySet } from '../types.js';
import { bestOf, type Findings, type Origin } from './findings.js';
import { POSITIVE_INT } from './spec.js';

/**
 * SSL keys and certificates from `sslkey.xml` / `sslcert.xml` (Bcfg2 1.4's SSLCA creators in
 * Cfg), made in the key phase: each client gets its own private key and a certificate for it
 * from the CA that `[sslca_<name>] ca` names (a directory made by `bindery ca init`), CN = the
 * client's name. Both are host-specific files under Bcfg2's names, written once. As in Bcfg2,
 * the certificate is for whatever key the client gets: one the key phase makes, or one that is
 * already in the repository.
 */

/** Bcfg2's defaults: `<Key type="rsa" bits="2048"/>`, `<Cert days="365"/>`, `ca="default"`. */
const DEFAULT_BITS = 2048;
const DEFAULT_DAYS = 365;
const DEFAULT_CA = 'default';
const CERT_ATTRIBUTES = new Set(['key', 'ca', 'days']);

/** What planning SSL keys and certificates reads, and where it reports. */
export interface SslPlanContext {
  readonly repo: RepoModel;
  readonly config: Config;
  readonly passphrases: readonly Passphrase[];
  readonly findings: Findings;
}

export interface SslPlanner {
  /** Client m gets the sslkey.xml entry at path. */
  requestKey(path: string, m: ClientMetadata): void;
  /** Client m gets the sslcert.xml entry at path. */
  requestCert(path: string, m: ClientMetadata): void;
  /** One job per (key, client) to make or certify, in a stable order. */
  jobs(): SslJob[];
}

/** A certificate to issue: the entry, the <Cert> asking for it, and its CA and validity. */
export interface CertRequest {
  readonly set: EntrySet;
  readonly origin: Origin;
  readonly caDir: string;
  readonly days: number;
}

/** One client's key (the file it already gets, or one to make) and the certificates to issue for it. */
export interface SslJob {
  readonly host: string;
  readonly keySet: EntrySet;
  /** The key file the client already gets: it is certified as it is. */
  readonly present: CfgFile | undefined;
  /** The size of the key to make when none is present. */
  readonly bits: number;
  /** The client's own requests for the key entry (only when the key is to be made). */
  readonly keyOrigins: Origin[];
  readonly certs: CertRequest[];
  /** Why there can be no key (sslkey.xml errors, a certificate whose key is gone): every request fails. */
  readonly blocks: BinderyError[];
}

/** Plan the SSL keys and certificates clients need (no file is read or written but the CA's presence). */
export function sslPlanner(ctx: SslPlanContext): SslPlanner {
  const { warn, fail } = ctx.findings;
  const { repo, config } = ctx;
  const parsed = new Map<string, XmlElement | BinderyError>();
  const cas = new Map<string, string | BinderyError>();
  const jobs = new Map<string, SslJob>();
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

  /** The job for client m's key from keySet: the key it gets already, or the size to make one (created on first use). */
  const job = (keySet: EntrySet, m: ClientMetadata): SslJob => {
    const id = `${keySet.name}\0${m.hostname}`;
    let j = jobs.get(id);
    if (!j) {
      const found = existing(keySet, m);
      let present: CfgFile | undefined;
      let bits = DEFAULT_BITS;
      const blocks: BinderyError[] = [];
      try {
        if (found.length > 0) {
          present = bestOf(found, keySet);
        } else {
          // sslkey.xml only matters when there is a key to make.
          const creator = keySet.creators.find((c) => c.kind === 'sslkey.xml')!;
          bits = keyBits(root(creator, 'KeyInfo'), m, creator.file.rel);
        }
      } catch (e) {
        blocks.push(asBinderyError(e, 'KEYS'));
      }
      jobs.set(id, (j = { host: m.hostname, keySet, present, bits, keyOrigins: [], certs: [], blocks }));
    }
    return j;
  };

  const requestKey = (path: string, m: ClientMetadata) => {
    const set = repo.entrySets.get(path)!;
    if (existing(set, m).length > 0) return;
    const creator = set.creators.find((c) => c.kind === 'sslkey.xml')!;
    job(set, m).keyOrigins.push({ host: m.hostname, path, file: creator.file.rel });
  };

  const requestCert = (path: string, m: ClientMetadata) => {
    const set = repo.entrySets.get(path)!;
    const creator = set.creators.find((c) => c.kind === 'sslcert.xml')!;
    const rel = creator.file.rel;
    const present = existing(set, m)[0];
    let spec: ReturnType<typeof certSpec>;
    try {
      spec = certSpec(root(creator, 'CertInfo'), m, rel, (d) => warn({ path, ...d }));
    } catch (e) {
      // As with privkey.xml, the creator only matters when it has something to create.
      if (!present) fail({ host: m.hostname, path, file: rel }, e);
      return;
    }
    const at = { file: rel, line: spec.line };
    const origin: Origin = { host: m.hostname, path, ...at };
    const keySet = repo.entrySets.get(spec.key);
    const keyFound = keySet !== undefined && existing(keySet, m).length > 0;
    const keyCreator = keySet?.creators.some((c) => c.kind === 'sslkey.xml') ?? false;
    if (present) {
      // The certificate stays; a new key would not match it, so none is made.
      if (keySet && !keyFound && keyCreator) {
        job(keySet, m).blocks.push(new BinderyError('KEYS', `the certificate ${present.file.rel} exists but its key ${spec.key} does not; a new key would not match it`, { file: present.file.rel }, `remove ${present.file.rel} too, so both are made anew, or restore the key`));
      }
      return;
    }
    try {
      if (!keySet) throw new BinderyError('KEYS', `key="${spec.key}" names no Cfg entry (there is no Cfg${spec.key}/)`, at, `create Cfg${spec.key}/sslkey.xml, or correct key=`);
      if (!keyFound && !keyCreator) throw new BinderyError('KEYS', `key="${spec.key}" has no key file for this client and no sslkey.xml (Cfg${spec.key}/sslkey.xml) to make one`, at, `create Cfg${spec.key}/sslkey.xml containing <KeyInfo/>, or add the client's key to Cfg${spec.key}/`);
      const request = { set, origin, caDir: caDir(spec.ca, at), days: certDays(spec.days, at) };
      job(keySet, m).certs.push(request);
    } catch (e) {
      // Only this certificate fails: the key is still made when the client gets it, and certified once this is fixed.
      fail(origin, e);
    }
  };

  return {
    requestKey,
    requestCert,
    jobs: () =>
      [...jobs.entries()]
        .filter(([, j]) => j.keyOrigins.length + j.certs.length > 0)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([, j]) => j),
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
 * What sslcert.xml asks for, for one client: the first <Cert> after XMLMatch. `ca` and `days`
 * are checked only when the certificate is to be issued (caDir, certDays): one that exists needs neither.
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
