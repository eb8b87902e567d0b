/**
 * A small certificate authority for the server and its clients (seed 000_: "SSL Cert-based client
 * authentication"). Node's crypto generates the keys and makes the signatures (native, fast);
 * node-forge lays out the X.509 structures, which Node cannot. RSA 2048 because forge encodes RSA
 * public keys only.
 *
 * Layout of a CA directory: `ca.key` (PKCS#8 PEM, mode 0600) and `ca.crt` (PEM); once a
 * certificate is revoked, `revoked.json` (what was revoked, the source of truth) and `ca.crl`
 * (the revocation list made from it, which `bindery serve` reads).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';
import { BinderyError } from '../errors.js';
import { writeFileAtomic } from '../fsutil/index.js';

const CA_KEY = 'ca.key';
const CA_CERT = 'ca.crt';
export const CA_CRL = 'ca.crl';
const REVOKED = 'revoked.json';

export interface IssueOptions {
  /** A server certificate (serverAuth, with subjectAltName) rather than a client one (clientAuth). */
  readonly server?: boolean;
  /** Validity in days from notBefore (default 825 for issued certificates). */
  readonly days?: number;
  /** Start of validity (default: now minus 5 minutes, for clock skew). */
  readonly notBefore?: Date;
  /** Extra subjectAltNames for a server certificate (DNS names or IP addresses). */
  readonly altNames?: readonly string[];
}

export interface IssuedCertificate {
  readonly keyPem: string;
  readonly certPem: string;
}

const DEFAULT_CA_DAYS = 3650;
const DEFAULT_DAYS = 825;
const SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

function newRsaKey(): { keyPem: string; publicKey: forge.pki.PublicKey } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: forgePublicKey(publicKey) };
}

/** forge's view of an RSA key (private or public, PEM or KeyObject); other key types cannot be certified. */
function forgePublicKey(key: string | KeyObject): forge.pki.PublicKey {
  const pub = typeof key !== 'string' && key.type === 'public' ? key : createPublicKey(key);
  if (pub.asymmetricKeyType !== 'rsa') {
    throw new BinderyError('USAGE', `cannot certify a ${pub.asymmetricKeyType} key`, {}, 'bindery\'s CA certifies RSA keys only');
  }
  return forge.pki.publicKeyFromPem(pub.export({ type: 'spki', format: 'pem' }).toString());
}

/** forge exports this but its type definitions do not declare it. */
const forgeTbs = (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate;

/** What forge's cert.sign() does, with the RSA signature made natively (forge's is ~50 ms of JS). */
function signCertificate(cert: forge.pki.Certificate, signerKeyPem: string): void {
  const oid = forge.pki.oids.sha256WithRSAEncryption!;
  cert.signatureOid = oid;
  cert.siginfo.algorithmOid = oid;
  cert.tbsCertificate = forgeTbs(cert);
  const tbs = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary');
  cert.signature = sign('sha256', tbs, signerKeyPem).toString('binary');
}

/** A positive random serial (the top bit cleared so DER does not read it as negative). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

function checkDays(days: number, what: string): void {
  if (!Number.isInteger(days) || days < 1 || days > 36500) {
    throw new BinderyError('USAGE', `${what}: days must be a whole number from 1 to 36500, not ${days}`);
  }
}

function validity(cert: forge.pki.Certificate, days: number, notBefore?: Date): void {
  const start = notBefore ?? new Date(Date.now() - SKEW_MS);
  cert.validity.notBefore = start;
  cert.validity.notAfter = new Date(start.getTime() + days * DAY_MS);
}

/** Create a CA in `dir` (made if missing). Refuses to overwrite an existing CA. */
export function initCa(dir: string, opts: { commonName?: string; days?: number } = {}): { certPath: string; keyPath: string } {
  const days = opts.days ?? DEFAULT_CA_DAYS;
  checkDays(days, 'ca init');
  const keyPath = join(dir, CA_KEY);
  const certPath = join(dir, CA_CERT);
  if (existsSync(keyPath) || existsSync(certPath)) {
    throw new BinderyError('USAGE', `a CA already exists in ${dir}`, { file: keyPath }, 'use another directory, or remove ca.key and ca.crt to start over (every issued certificate becomes useless)');
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { keyPem, publicKey } = newRsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  validity(cert, days);
  const subject = [{ name: 'commonName', value: opts.commonName ?? 'bindery CA' }, { name: 'organizationName', value: 'bindery' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  signCertificate(cert, keyPem);
  writeFileAtomic(keyPath, keyPem, 0o600);
  writeFileAtomic(certPath, forge.pki.certificateToPem(cert), 0o644);
  return { certPath, keyPath };
}

function readCa(caDir: string): { cert: forge.pki.Certificate; keyPem: string } {
  const keyPath = join(caDir, CA_KEY);
  const certPath = join(caDir, CA_CERT);
  let keyPem: string;
  let certPem: string;
  try {
    keyPem = readFileSync(keyPath, 'utf8');
    certPem = readFileSync(certPath, 'utf8');
  } catch (e) {
    throw new BinderyError('CONFIG', `cannot read the CA: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: (e as NodeJS.ErrnoException).path ?? caDir }, 'create one with: bindery ca init <dir>');
  }
  try {
    createPrivateKey(keyPem);
    return { cert: forge.pki.certificateFromPem(certPem), keyPem };
  } catch {
    throw new BinderyError('CONFIG', 'the CA key or certificate is not a PEM RSA key / certificate', { file: caDir }, 'the directory must hold ca.key and ca.crt made by bindery ca init');
  }
}

/** Valid hostname-ish CN: the client's FQDN (seed 000_), no path or control characters. */
function checkCommonName(name: string): void {
  if (!/^[A-Za-z0-9*]([A-Za-z0-9_.*-]{0,252})$/.test(name) || name.includes('..')) {
    throw new BinderyError('USAGE', `"${name}" is not a host name`, {}, 'the common name must be the client\'s FQDN as listed in clients.xml (letters, digits, . - _)');
  }
}

/**
 * Issue a key and certificate signed by the CA in `caDir`. A client certificate's CN is the
 * client's FQDN (seed 000_); a server certificate also carries subjectAltName DNS:<name>,
 * DNS:localhost, IP:127.0.0.1 and any `altNames`. Nothing is written to disk.
 */
export function issueCertificate(caDir: string, commonName: string, opts: IssueOptions = {}): IssuedCertificate {
  const { keyPem, publicKey } = newRsaKey();
  return { keyPem, certPem: makeCertificate(caDir, commonName, publicKey, opts) };
}

/**
 * A certificate for an existing RSA key (private or public; PEM or KeyObject), signed by the CA
 * in `caDir`, as issueCertificate makes it. Returns the certificate PEM; nothing is written.
 */
export function certifyKey(caDir: string, commonName: string, key: string | KeyObject, opts: IssueOptions = {}): string {
  return makeCertificate(caDir, commonName, forgePublicKey(key), opts);
}

function makeCertificate(caDir: string, commonName: string, publicKey: forge.pki.PublicKey, opts: IssueOptions): string {
  checkCommonName(commonName);
  const days = opts.days ?? DEFAULT_DAYS;
  checkDays(days, 'ca issue');
  const ca = readCa(caDir);
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  validity(cert, days, opts.notBefore);
  const caNotAfter = ca.cert.validity.notAfter;
  if (cert.validity.notAfter > caNotAfter) {
    // Cut to the CA's own end: if that is already past (or before the start), the certificate would never be valid.
    if (caNotAfter.getTime() <= Math.max(Date.now(), cert.validity.notBefore.getTime())) {
      throw new BinderyError('CONFIG', `the CA is valid only until ${caNotAfter.toISOString()}: a certificate it issued would never be valid`, { file: join(caDir, CA_CERT) }, 'make a new CA with bindery ca init, and issue every certificate again');
    }
    cert.validity.notAfter = caNotAfter;
  }
  cert.setSubject([{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'bindery' }]);
  cert.setIssuer(ca.cert.subject.attributes);
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    opts.server ? { name: 'extKeyUsage', serverAuth: true } : { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
  ];
  if (opts.server) {
    const names = [...new Set([commonName, 'localhost', '127.0.0.1', ...(opts.altNames ?? [])])];
    extensions.push({ name: 'subjectAltName', altNames: names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })) });
  }
  cert.setExtensions(extensions);
  signCertificate(cert, ca.keyPem);
  return forge.pki.certificateToPem(cert);
}

/** Issue and write `<outDir>/<name>.key` (0600) and `<name>.crt`. */
export function issueToFiles(caDir: string, commonName: string, outDir: string, opts: IssueOptions = {}): { keyPath: string; certPath: string } {
  const issued = issueCertificate(caDir, commonName, opts);
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const keyPath = join(outDir, `${commonName}.key`);
  const certPath = join(outDir, `${commonName}.crt`);
  writeFileAtomic(keyPath, issued.keyPem, 0o600);
  writeFileAtomic(certPath, issued.certPem, 0o644);
  return { keyPath, certPath };
}

/** `--ca` accepts a CA directory (its ca.crt is used) or a PEM file. */
export function caCertPath(pathOrDir: string): string {
  try {
    return statSync(pathOrDir).isDirectory() ? join(pathOrDir, CA_CERT) : pathOrDir;
  } catch {
    return pathOrDir;
  }
}

/** Subject CN and validity of a PEM certificate, for `ca issue` output and tests. */
export function describeCertificate(certPem: string): { subject: string; issuer: string; validFrom: string; validTo: string; subjectAltName: string | null } {
  const c = new X509Certificate(certPem);
  return { subject: c.subject, issuer: c.issuer, validFrom: c.validFrom, validTo: c.validTo, subjectAltName: c.subjectAltName ?? null };
}

interface Revoked {
  /** Upper-case hex, as OpenSSL prints it. */
  readonly serial: string;
  readonly name: string;
  readonly revokedAt: string;
}

function readRevoked(caDir: string): Revoked[] {
  const file = join(caDir, REVOKED);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new BinderyError('CONFIG', `cannot read the revocation record: ${(e as NodeJS.ErrnoException).code}`, { file });
  }
  try {
    const list = JSON.parse(text) as Revoked[];
    if (Array.isArray(list) && list.every((r) => typeof r.serial === 'string' && /^[0-9A-F]+$/.test(r.serial) && typeof r.revokedAt === 'string')) return list;
  } catch {
    // reported below
  }
  throw new BinderyError('CONFIG', 'the revocation record is damaged', { file }, 'restore revoked.json from a backup: without it, revoked certificates would be trusted again');
}

const asn1 = forge.asn1;
const der = (type: number, value: string | forge.asn1.Asn1[], constructed = Array.isArray(value)) => asn1.create(asn1.Class.UNIVERSAL, type, constructed, value);
const seq = (items: forge.asn1.Asn1[]) => der(asn1.Type.SEQUENCE, items);
/** A positive INTEGER from hex, minimally encoded. */
function integer(hex: string): forge.asn1.Asn1 {
  let h = hex.replace(/^(00)+(?=..)/, '');
  if (h.length % 2) h = '0' + h;
  if (parseInt(h.slice(0, 2), 16) >= 0x80) h = '00' + h;
  return der(asn1.Type.INTEGER, forge.util.hexToBytes(h));
}
/** UTCTime before 2050, GeneralizedTime from then on (RFC 5280). */
const time = (d: Date) => (d.getUTCFullYear() < 2050 ? der(asn1.Type.UTCTIME, asn1.dateToUtcTime(d)) : der(asn1.Type.GENERALIZEDTIME, asn1.dateToGeneralizedTime(d)));
const oid = (id: string) => der(asn1.Type.OID, asn1.oidToDer(id).getBytes());
const octets = (value: forge.asn1.Asn1) => der(asn1.Type.OCTETSTRING, asn1.toDer(value).getBytes(), false);

/**
 * The CA's certificate revocation list (X.509 v2, RFC 5280) of `revoked`, as PEM: next update at
 * the CA's own end of validity (the list is rewritten on every revocation, not on a schedule),
 * CRL number = count of revocations, signed with the CA key.
 */
function makeCrl(ca: { cert: forge.pki.Certificate; keyPem: string }, revoked: readonly Revoked[], now: Date): string {
  const sigAlg = seq([oid(forge.pki.oids.sha256WithRSAEncryption!), der(asn1.Type.NULL, '')]);
  const extensions = asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
    seq([
      seq([oid('2.5.29.35'), octets(seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, ca.cert.generateSubjectKeyIdentifier().getBytes())]))]),
      seq([oid('2.5.29.20'), octets(integer(revoked.length.toString(16)))]),
    ]),
  ]);
  const tbs = seq([
    integer('01'),
    sigAlg,
    forge.pki.distinguishedNameToAsn1(ca.cert.subject),
    time(now),
    time(ca.cert.validity.notAfter),
    ...(revoked.length ? [seq(revoked.map((r) => seq([integer(r.serial), time(new Date(r.revokedAt))])))] : []),
    extensions,
  ]);
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = sign('sha256', tbsDer, ca.keyPem);
  const crl = seq([tbs, sigAlg, der(asn1.Type.BITSTRING, '\x00' + signature.toString('binary'), false)]);
  const body = Buffer.from(asn1.toDer(crl).getBytes(), 'binary').toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN X509 CRL-----\n${body}${body.endsWith('\n') ? '' : '\n'}-----END X509 CRL-----\n`;
}

/**
 * Revoke a certificate this CA issued: `which` is a certificate file, or a name whose
 * certificate `ca issue` wrote to `<dir>/issued/<name>.crt`. Records it in revoked.json and
 * rewrites ca.crl, which a running `bindery serve` picks up by itself.
 */
export function revokeCertificate(caDir: string, which: string, now = new Date()): { serial: string; name: string; crlPath: string; alreadyRevoked: boolean } {
  const ca = readCa(caDir);
  const file = existsSync(which) && statSync(which).isFile() ? which : join(caDir, 'issued', `${which}.crt`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BinderyError('USAGE', code === 'ENOENT' ? `no certificate issued for "${which}"` : 'not a PEM certificate', { file }, 'name a certificate file, or a name `bindery ca issue` issued into this CA\'s issued/ directory');
  }
  const caCert = new X509Certificate(forge.pki.certificateToPem(ca.cert));
  if (!cert.checkIssued(caCert) || !cert.verify(caCert.publicKey)) {
    throw new BinderyError('USAGE', 'this certificate was not issued by this CA', { file }, `give the CA directory that issued it (its issuer is ${cert.issuer.replaceAll('\n', ', ')})`);
  }
  const serial = cert.serialNumber.toUpperCase().replace(/^(00)+(?=.)/, '');
  const name = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? which;
  const revoked = readRevoked(caDir);
  const alreadyRevoked = revoked.some((r) => r.serial === serial);
  const list = alreadyRevoked ? revoked : [...revoked, { serial, name, revokedAt: now.toISOString() }];
  writeFileAtomic(join(caDir, REVOKED), JSON.stringify(list, null, 2) + '\n', 0o644);
  const crlPath = join(caDir, CA_CRL);
  writeFileAtomic(crlPath, makeCrl(ca, list, now), 0o644);
  return { serial, name, crlPath, alreadyRevoked };
}
