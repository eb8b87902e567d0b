/**
 * The server's TLS: only forward-secret AEAD suites (ECDHE with AES-GCM or ChaCha20-Poly1305
 * on TLS 1.2; TLS 1.3's own suites), start-up checks of the certificate files, and the CA's
 * revocation list, reloaded when the file changes.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import { BinderyError } from '../errors.js';

/** TLS 1.3 suites (all AEAD), then TLS 1.2 suites with ECDHE key exchange and an AEAD cipher only. */
const CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

export interface TlsFiles {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  readonly ca: string | Buffer;
  /**
   * The CA's revocation list (a PEM file, as `bindery ca revoke` writes it). Watched: made,
   * changed or removed, it applies to new connections without a restart. Absent: no CRL.
   */
  readonly crlFile?: string;
  /** Where they were read from, for error messages. */
  readonly files?: { readonly cert?: string; readonly key?: string; readonly ca?: string };
}

/** Refuse to start with TLS material that cannot work, saying which file and what to do. */
export function checkTls(tls: TlsFiles): void {
  const bad = (what: keyof NonNullable<TlsFiles['files']>, message: string, hint: string): never => {
    throw new BinderyError('CONFIG', message, { file: tls.files?.[what] }, hint);
  };
  const issue = 'make one with bindery ca issue <ca dir> <server name> --server';
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(tls.cert);
  } catch {
    return bad('cert', 'the server certificate is not a PEM certificate', issue);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(tls.key);
  } catch {
    return bad('key', 'the server key is not an unencrypted PEM private key', issue);
  }
  if (!cert.checkPrivateKey(key)) bad('key', 'the server key does not belong to the server certificate', 'give --tls-key the key issued with --tls-cert');
  if (Date.parse(cert.validTo) < Date.now()) bad('cert', `the server certificate expired on ${cert.validTo}`, issue);
  try {
    new X509Certificate(tls.ca);
  } catch {
    bad('ca', 'the CA certificate is not a PEM certificate', 'give --ca the CA directory made by bindery ca init, or its ca.crt');
  }
}

/** The CRL's text, or null when there is none (no file). Any other read error is thrown. */
function readCrl(file: string | undefined): string | null {
  if (!file) return null;
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** The options of the server's secure context: certificate, key, CA, suites and the current CRL. */
function secureContextOptions(tls: TlsFiles): SecureContextOptions {
  const crl = readCrl(tls.crlFile);
  return {
    cert: tls.cert,
    key: tls.key,
    ca: tls.ca,
    ...(crl === null ? {} : { crl }),
    minVersion: 'TLSv1.2',
    ciphers: CIPHERS,
    honorCipherOrder: true,
  };
}

/** secureContextOptions, refusing to start on a CRL that cannot be read or parsed. */
export function initialContext(tls: TlsFiles, probe: (o: SecureContextOptions) => void): SecureContextOptions {
  try {
    const o = secureContextOptions(tls);
    probe(o);
    return o;
  } catch (e) {
    throw new BinderyError('CONFIG', `cannot use the certificate revocation list: ${(e as Error).message}`, { file: tls.crlFile }, 'make it again with bindery ca revoke, or remove it');
  }
}

/**
 * Call `apply` with fresh options whenever the CRL file changes (polled every `intervalMs`).
 * A CRL that cannot be used keeps the previous one in force and is reported. Returns the stop.
 */
export function watchCrl(tls: TlsFiles, intervalMs: number, apply: (o: SecureContextOptions) => void, report: (problem: string | null) => void): () => void {
  const file = tls.crlFile;
  if (!file) return () => {};
  const changed = (now: Stats, before: Stats) => {
    if (now.mtimeMs === before.mtimeMs && now.ino === before.ino && now.size === before.size) return;
    try {
      apply(secureContextOptions(tls));
      report(null);
    } catch (e) {
      report(`revocation list not reloaded, the previous one stays in force: ${(e as Error).message}`);
    }
  };
  watchFile(file, { interval: intervalMs, persistent: false }, changed);
  return () => unwatchFile(file, changed);
}
