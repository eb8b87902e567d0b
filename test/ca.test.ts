/**
 * The certificate authority: `bindery ca init` / `ca issue`, checked with openssl, and the
 * issueCertificate() (a new key and certificate; certifyKey(), which the key phase calls for
 * sslcert.xml, shares its signing code).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { caCertPath, initCa, issueCertificate } from '../src/ca/index.ts';
import { BinderyError } from '../src/errors.ts';
import { bindery, run, tempDir } from './helpers.ts';

let tmp: { dir: string; cleanup: () => void };
let caDir: string;

test.before(() => {
  tmp = tempDir('bindery-ca-');
  caDir = join(tmp.dir, 'ca');
});

test.after(() => tmp?.cleanup());

const x509 = (pemFile: string) => new X509Certificate(readFileSync(pemFile));

test('bindery ca init makes a CA: ca.key readable by the owner only, ca.crt a CA certificate', async () => {
  const r = await bindery(['ca', 'init', caDir, '--cn', 'Example CA']);
  assert.is(r.code, 0, r.stderr);
  assert.is(statSync(join(caDir, 'ca.key')).mode & 0o777, 0o600);
  const ca = x509(join(caDir, 'ca.crt'));
  assert.ok(ca.ca, 'basicConstraints CA:TRUE');
  assert.match(ca.subject, /CN=Example CA/);
  const text = await run('openssl', ['x509', '-in', join(caDir, 'ca.crt'), '-noout', '-text']);
  assert.match(text.stdout, /Certificate Sign, CRL Sign/);
});

test('bindery ca init refuses to overwrite an existing CA (exit 2)', async () => {
  const r = await bindery(['ca', 'init', caDir]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /a CA already exists/);
});

test('bindery ca issue makes a client certificate whose CN is the client\'s FQDN, for client authentication only', async () => {
  const r = await bindery(['ca', 'issue', caDir, 'web1.example.com', '--days', '30', '--json']);
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.is(out.certPath, join(caDir, 'issued', 'web1.example.com.crt'));
  assert.is(statSync(out.keyPath).mode & 0o777, 0o600);
  const verify = await run('openssl', ['verify', '-CAfile', join(caDir, 'ca.crt'), '-purpose', 'sslclient', out.certPath]);
  assert.is(verify.code, 0, verify.stdout + verify.stderr);
  const asServer = await run('openssl', ['verify', '-CAfile', join(caDir, 'ca.crt'), '-purpose', 'sslserver', out.certPath]);
  assert.is.not(asServer.code, 0, 'a client certificate is not a server certificate');
  const c = x509(out.certPath);
  assert.match(c.subject, /CN=web1\.example\.com/);
  const days = (Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86_400_000;
  assert.is(days, 30);
  assert.is(c.subjectAltName, undefined);
  // The key matches the certificate.
  assert.ok(c.checkPrivateKey(createPrivateKey(readFileSync(out.keyPath))));
});

test('bindery ca issue --server adds subjectAltName IP 127.0.0.1, DNS localhost and the name', async () => {
  const r = await bindery(['ca', 'issue', caDir, 'config.example.com', '--server', '--san', '10.0.0.1', '--json']);
  assert.is(r.code, 0, r.stderr);
  const c = x509(JSON.parse(r.stdout).certPath);
  assert.is(c.subjectAltName, 'DNS:config.example.com, DNS:localhost, IP Address:127.0.0.1, IP Address:10.0.0.1');
  assert.ok(c.checkHost('localhost'));
  assert.ok(c.checkIP('127.0.0.1'));
  const verify = await run('openssl', ['verify', '-CAfile', join(caDir, 'ca.crt'), '-purpose', 'sslserver', JSON.parse(r.stdout).certPath]);
  assert.is(verify.code, 0, verify.stdout + verify.stderr);
});

test('issueCertificate returns PEM text and writes nothing (the key phase writes it into the repository)', () => {
  const before = readdirSync(join(caDir, 'issued')).sort();
  const issued = issueCertificate(caDir, 'db1.example.com', {});
  assert.equal(readdirSync(join(caDir, 'issued')).sort(), before);
  assert.match(issued.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  const c = new X509Certificate(issued.certPem);
  assert.ok(c.checkIssued(x509(join(caDir, 'ca.crt'))));
  assert.ok(c.verify(x509(join(caDir, 'ca.crt')).publicKey));
  assert.match(c.subject, /CN=db1\.example\.com/);
});

test('two certificates for the same name get different keys and serial numbers', () => {
  const a = new X509Certificate(issueCertificate(caDir, 'twice.example.com').certPem);
  const b = new X509Certificate(issueCertificate(caDir, 'twice.example.com').certPem);
  assert.is.not(a.serialNumber, b.serialNumber);
  assert.is.not(a.publicKey.export({ type: 'spki', format: 'pem' }), b.publicKey.export({ type: 'spki', format: 'pem' }));
});

test('notBefore in the past makes an expired certificate (for tests of expiry)', () => {
  const c = new X509Certificate(issueCertificate(caDir, 'old.example.com', { notBefore: new Date('2020-01-01T00:00:00Z'), days: 1 }).certPem);
  assert.ok(Date.parse(c.validTo) < Date.now());
});

test('a CA that ends before the certificate would start refuses to issue it (a dead certificate helps nobody)', () => {
  const shortCa = join(tmp.dir, 'short-ca');
  initCa(shortCa, { days: 1 });
  try {
    issueCertificate(shortCa, 'late.example.com', { notBefore: new Date(Date.now() + 2 * 86_400_000) });
    assert.unreachable('issued a certificate that starts after its CA ends');
  } catch (e) {
    assert.instance(e, BinderyError);
    assert.is((e as BinderyError).code, 'CONFIG');
    assert.match((e as BinderyError).message, /the CA is valid only until .*: a certificate it issued would never be valid/);
    assert.is((e as BinderyError).location.file, join(shortCa, 'ca.crt'));
  }
  const cut = new X509Certificate(issueCertificate(shortCa, 'now.example.com', { days: 30 }).certPem);
  assert.ok(Date.parse(cut.validTo) <= Date.now() + 86_400_000, 'a certificate is cut to the CA\'s end');
});

test('a name that is not a host name, and days outside 1..36500, are usage errors', () => {
  for (const [name, days] of [['../evil', 1], ['a/b', 1], ['', 1], ['ok.example.com', 0], ['ok.example.com', 1.5]] as const) {
    try {
      issueCertificate(caDir, name, { days });
      assert.unreachable(`accepted ${name} for ${days} days`);
    } catch (e) {
      assert.instance(e, BinderyError);
      assert.is((e as BinderyError).code, 'USAGE');
    }
  }
});

test('a missing CA is a configuration error that says how to make one', () => {
  try {
    issueCertificate(join(tmp.dir, 'nope'), 'x.example.com');
    assert.unreachable();
  } catch (e) {
    assert.is((e as BinderyError).code, 'CONFIG');
    assert.match((e as BinderyError).hint!, /bindery ca init/);
  }
});

test('--ca takes a CA directory or a certificate file', () => {
  assert.is(caCertPath(caDir), join(caDir, 'ca.crt'));
  assert.is(caCertPath(join(caDir, 'ca.crt')), join(caDir, 'ca.crt'));
});

test('initCa refuses a directory that already holds a CA, in the library too', () => {
  assert.throws(() => initCa(caDir), (e: unknown) => e instanceof BinderyError && e.code === 'USAGE');
});

test.run();
