/**
 * sslkey.xml / sslcert.xml: the key phase gives each client its own key and a certificate from
 * a CA made by the real `bindery ca init`, or certifies a key already in the repository (made by
 * real openssl); real openssl checks the results, and the real server accepts the certificate a
 * bootstrap client received in its password run.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { generateKeys, type KeyPhaseResult } from '../src/keys/index.ts';
import { initCa } from '../src/ca/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { scanRepo } from '../src/repo/index.ts';
import { loadMetadata } from '../src/metadata/index.ts';
import { bindery, FIXTURES, ROOT, run, tempDir } from './helpers.ts';

const HOSTS = ['new1.example.com', 'web1.example.com', 'web2.example.com'];
const KEY_DIR = 'Cfg/etc/pki/tls/private/client.key';
const CERT_DIR = 'Cfg/etc/pki/tls/certs/client.crt';
const EXTRA_DIR = 'Cfg/etc/pki/tls/private/extra.key';
/** new1's key and certificate, as the key phase names them. */
const NEW1_KEY = `${KEY_DIR}/client.key.H_new1.example.com`;
const NEW1_CERT = `${CERT_DIR}/client.crt.H_new1.example.com`;
const DAY_MS = 24 * 60 * 60 * 1000;

let tmp: { dir: string; cleanup: () => void };
const at = (...p: string[]) => join(tmp.dir, ...p);

/** A writable copy of the fixture at <tmp>/<name> (beside <tmp>/ca, which its bcfg2.conf names as ../ca). */
function repoCopy(name: string, conf?: string): string {
  const dir = at(name);
  cpSync(join(FIXTURES, 'ssl-keys'), dir, { recursive: true });
  if (conf !== undefined) writeFileSync(join(dir, 'bcfg2.conf'), conf);
  return dir;
}

/** Every file under Cfg/ with its modification time: what a build that writes nothing leaves alone. */
function snapshot(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(dir, p)] = statSync(p).mtimeMs;
    }
  };
  walk(join(dir, 'Cfg'));
  return out;
}

const files = (dir: string, rel: string) => (existsSync(join(dir, rel)) ? readdirSync(join(dir, rel)).sort() : []);

async function openssl(args: string[]): Promise<string> {
  const r = await run('openssl', args);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** The certificate's public key and the private key's, both as openssl prints them. */
async function sameKey(certFile: string, keyFile: string): Promise<boolean> {
  return (await openssl(['x509', '-noout', '-pubkey', '-in', certFile])) === (await openssl(['pkey', '-pubout', '-in', keyFile]));
}

/** openssl verify of a certificate against a CA directory's ca.crt. */
async function verifies(certFile: string, ca = at('ca')): Promise<boolean> {
  return (await openssl(['verify', '-CAfile', join(ca, 'ca.crt'), certFile])).trim() === `${certFile}: OK`;
}

/** The size of a private key, as openssl prints it. */
async function keyBitsOf(keyFile: string): Promise<number> {
  return Number(/\((\d+) bit/.exec(await openssl(['pkey', '-noout', '-text', '-in', keyFile]))![1]);
}

async function validityDays(certFile: string): Promise<number> {
  const out = await openssl(['x509', '-noout', '-startdate', '-enddate', '-in', certFile]);
  const date = (name: string) => Date.parse(new RegExp(`${name}=(.*)`).exec(out)![1]!);
  return Math.round((date('notAfter') - date('notBefore')) / DAY_MS);
}

/** Unpack a host's tarball from a build output; returns the directory. */
async function unpack(out: string, host: string, into: string): Promise<string> {
  mkdirSync(into, { recursive: true });
  const r = await run('tar', ['-xzf', join(out, 'hosts', `${host}.tar.gz`), '-C', into]);
  assert.is(r.code, 0, r.stderr);
  return into;
}

async function build(repo: string, out: string) {
  const r = await bindery(['build', repo, '--out', out, '--signing-key', at('signing.pem'), '--json']);
  return { ...r, json: r.stdout ? JSON.parse(r.stdout) : null };
}

/**
 * The key phase in-process for some clients (new1 unless told: default key sizes, so it is
 * quick), asking for every entry. afterScan runs between the scan and the phase, like a concurrent build would.
 */
async function keyPhase(dir: string, opts: { hosts?: string[]; afterScan?: () => Promise<void> } = {}): Promise<KeyPhaseResult> {
  const hosts = opts.hosts ?? ['new1.example.com'];
  const config = loadConfig(join(dir, 'bcfg2.conf'));
  const repo = await scanRepo(dir, config);
  await opts.afterScan?.();
  const needs = loadMetadata(dir).clients.filter((m) => hosts.includes(m.hostname)).map((metadata) => ({ metadata, paths: [...repo.entrySets.keys()] }));
  return generateKeys(repo, needs, config, {}, { jobs: 2 });
}

/** bcfg2.conf naming the test's CA by absolute path. */
const conf = (extra = '') => `[sslca_default]\nca = ${at('ca')}\n${extra}`;

test.before(async () => {
  tmp = tempDir('bindery-ssl-keys-');
  const ca = await bindery(['ca', 'init', at('ca')]);
  assert.is(ca.code, 0, ca.stderr);
  await openssl(['genpkey', '-algorithm', 'ed25519', '-out', at('signing.pem')]);
  initCa(at('ca2'), { commonName: 'second CA' });
  repoCopy('repo');
});

test.after(() => tmp?.cleanup());

test('bindery build issues each client its own key and a certificate from the CA, written back under Bcfg2 names', async () => {
  const r = await build(at('repo'), at('out'));
  assert.is(r.code, 0, r.stderr);
  assert.equal(files(at('repo'), KEY_DIR), [...HOSTS.map((h) => `client.key.H_${h}`), 'sslkey.xml'].sort());
  assert.equal(files(at('repo'), CERT_DIR), [...HOSTS.map((h) => `client.crt.H_${h}`), 'sslcert.xml'].sort());
  assert.equal(files(at('repo'), EXTRA_DIR), [...HOSTS.map((h) => `extra.key.H_${h}`), 'sslkey.xml'].sort());
  assert.is(r.json.keysWritten.length, 9);
  for (const h of HOSTS) assert.is(statSync(at('repo', KEY_DIR, `client.key.H_${h}`)).mode & 0o777, 0o600);
});

test('each tarball\'s certificate verifies with openssl against the CA, names the host, and matches the shipped key', async () => {
  for (const host of HOSTS) {
    const root = await unpack(at('out'), host, at('unpacked', host));
    const cert = join(root, 'etc/pki/tls/certs/client.crt');
    const key = join(root, 'etc/pki/tls/private/client.key');
    assert.is((await openssl(['verify', '-CAfile', at('ca', 'ca.crt'), cert])).trim(), `${cert}: OK`);
    assert.match(await openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', cert]), new RegExp(`^subject=.*CN=${host.replaceAll('.', '\\.')}`, 'm'));
    assert.ok(await sameKey(cert, key), `the certificate of ${host} does not match its key`);
    // What the client receives is what was written back into the repository.
    assert.is(readFileSync(cert, 'utf8'), readFileSync(at('repo', CERT_DIR, `client.crt.H_${host}`), 'utf8'));
    assert.match(readFileSync(key, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
  }
  const listing = (await run('tar', ['-tvzf', join(at('out'), 'hosts', 'web1.example.com.tar.gz')])).stdout;
  assert.match(listing, /^-rw------- root\/root .* etc\/pki\/tls\/private\/client\.key$/m, 'private keys default to mode 0600');
});

test('Group conditionals in sslcert.xml and Client conditionals in sslkey.xml apply per client', async () => {
  // web2 is in short-lived: days="30"; the others get days="365".
  assert.is(await validityDays(at('unpacked', 'web2.example.com', 'etc/pki/tls/certs/client.crt')), 30);
  assert.is(await validityDays(at('unpacked', 'web1.example.com', 'etc/pki/tls/certs/client.crt')), 365);
  // extra.key has no certificate: web1 gets bits="3072", the others the default 2048.
  const bits = async (host: string) => /\((\d+) bit/.exec(await openssl(['pkey', '-noout', '-text', '-in', at('unpacked', host, 'etc/pki/tls/private/extra.key')]))![1];
  assert.is(await bits('web1.example.com'), '3072');
  assert.is(await bits('web2.example.com'), '2048');
});

test('a second build writes nothing: existing keys and certificates are kept', async () => {
  const before = snapshot(at('repo'));
  const r = await build(at('repo'), at('out'));
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.keysWritten, []);
  assert.equal(snapshot(at('repo')), before);
});

/** `bindery serve` on the build, as a real process; resolves with its URL. */
function serve(): Promise<{ url: string; child: ChildProcess }> {
  const args = ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'serve', '--build', at('out'), '--repo', at('repo'), '--tls-cert', at('ca/issued/server.test.crt'), '--tls-key', at('ca/issued/server.test.key'), '--ca', at('ca'), '--listen', '127.0.0.1:0', '--state', at('state'), '--log', at('decisions.jsonl')];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
      const m = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m) resolve({ url: m[1]!, child });
    });
    child.on('exit', (code) => reject(new Error(`bindery serve exited with ${code}: ${err}`)));
  });
}

test('a bootstrap client gets its certificate in its password run, then authenticates with it; the password is refused afterwards', async () => {
  const issued = await bindery(['ca', 'issue', at('ca'), 'server.test', '--server']);
  assert.is(issued.code, 0, issued.stderr);
  const { url, child } = await serve();
  try {
    writeFileSync(at('new1.pw'), 'new1-secret\n', { mode: 0o600 });
    const base = ['fetch', '--server', url, '--ca', at('ca'), '--trust', at('signing-pub.pem'), '--state', at('fetch-state'), '--local-address', '127.0.0.4', '--json'];
    await openssl(['pkey', '-in', at('signing.pem'), '-pubout', '-out', at('signing-pub.pem')]);
    for (const d of ['first', 'second', 'third']) mkdirSync(at('root-new1', d), { recursive: true });

    const first = await bindery([...base, '--user', 'new1.example.com', '--password-file', at('new1.pw'), '--root', at('root-new1', 'first')]);
    assert.is(first.code, 0, first.stderr);
    assert.ok(JSON.parse(first.stdout).reportPosted, 'the password run completes the bootstrap');
    const cert = at('root-new1', 'first', 'etc/pki/tls/certs/client.crt');
    const key = at('root-new1', 'first', 'etc/pki/tls/private/client.key');
    assert.is(readFileSync(cert, 'utf8'), readFileSync(at('repo', CERT_DIR, 'client.crt.H_new1.example.com'), 'utf8'));

    const withCert = await bindery([...base, '--cert', cert, '--key', key, '--root', at('root-new1', 'second')]);
    assert.is(withCert.code, 0, withCert.stderr);
    assert.is(JSON.parse(withCert.stdout).client, 'new1.example.com');

    const again = await bindery([...base, '--user', 'new1.example.com', '--password-file', at('new1.pw'), '--root', at('root-new1', 'third')]);
    assert.is(again.code, 1, again.stdout);
    assert.match(again.stderr, /refused/);
    const log = readFileSync(at('decisions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(log.filter((l) => l.client === 'new1.example.com' && l.route === 'config').map((l) => [l.method, l.result]), [['name', 'ok'], ['cert', 'ok'], ['name', 'denied']]);
  } finally {
    await new Promise<void>((resolve) => {
      child.removeAllListeners('exit');
      child.on('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
});

test('with [sslca] passphrase the key is stored .crypt in the repository and shipped as plain PEM', async () => {
  const repo = repoCopy('repo-crypt', conf('[sslca]\npassphrase = keys\n[encryption]\nkeys = key-at-rest\n'));
  const r = await build(repo, at('out-crypt'));
  assert.is(r.code, 0, r.stderr);
  assert.equal(files(repo, KEY_DIR), [...HOSTS.map((h) => `client.key.H_${h}.crypt`), 'sslkey.xml'].sort());
  const stored = join(repo, KEY_DIR, 'client.key.H_web1.example.com.crypt');
  assert.match(readFileSync(stored, 'utf8'), /^U2FsdGVkX1/);
  const plain = await openssl(['enc', '-d', '-aes-256-cbc', '-md', 'md5', '-a', '-A', '-pass', 'pass:key-at-rest', '-in', stored]);
  const root = await unpack(at('out-crypt'), 'web1.example.com', at('unpacked-crypt'));
  assert.is(readFileSync(join(root, 'etc/pki/tls/private/client.key'), 'utf8'), plain);
  assert.match(plain, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.ok(await sameKey(join(root, 'etc/pki/tls/certs/client.crt'), join(root, 'etc/pki/tls/private/client.key')));
  const again = await build(repo, at('out-crypt'));
  assert.equal(again.json.keysWritten, []);
});

test('no [sslca_default] section: the build fails naming sslcert.xml, the section and how to make a CA; the keys are made, and certified by the build after the CA is configured', async () => {
  const repo = repoCopy('repo-noca', '[communication]\npassword = x\n');
  const r = await build(repo, at('out-noca'));
  assert.is(r.code, 1);
  assert.match(r.stderr, /Cfg\/etc\/pki\/tls\/certs\/client\.crt\/sslcert\.xml:\d+, host \S+, path \/etc\/pki\/tls\/certs\/client\.crt: ca="default": \S+bcfg2\.conf has no \[sslca_default\] section \(add \[sslca_default\] with "ca = <directory made by bindery ca init>"/);
  assert.not.match(r.stderr, /path \/etc\/pki\/tls\/private\/client\.key:/, 'only the certificate fails');
  assert.equal(files(repo, KEY_DIR), [...HOSTS.map((h) => `client.key.H_${h}`), 'sslkey.xml'].sort());
  assert.equal(files(repo, CERT_DIR), ['sslcert.xml']);
  const keys = HOSTS.map((h) => readFileSync(join(repo, KEY_DIR, `client.key.H_${h}`)));

  writeFileSync(join(repo, 'bcfg2.conf'), conf('[communication]\npassword = x\n'));
  const fixed = await build(repo, at('out-noca'));
  assert.is(fixed.code, 0, fixed.stderr);
  assert.equal(fixed.json.keysWritten, HOSTS.map((h) => `${CERT_DIR}/client.crt.H_${h}`));
  for (const [i, h] of HOSTS.entries()) {
    assert.ok(readFileSync(join(repo, KEY_DIR, `client.key.H_${h}`)).equals(keys[i]!), `${h}: the key stays`);
    assert.ok(await verifies(join(repo, CERT_DIR, `client.crt.H_${h}`)), h);
    assert.ok(await sameKey(join(repo, CERT_DIR, `client.crt.H_${h}`), join(repo, KEY_DIR, `client.key.H_${h}`)), h);
  }
});

/** The failures of a key phase as "path: message" lines, for one host. */
const failuresOf = (r: KeyPhaseResult, host: string) => r.failed.filter((d) => d.host === host);

test('configuration and sslkey.xml/sslcert.xml mistakes are key-not-generated failures with file, line, host and path', async () => {
  // keyMade: only the certificate fails; its key is made all the same, to be certified once the mistake is fixed.
  const cases: { name: string; conf?: string; edit?: (dir: string) => void; file: string; line?: number; message: RegExp; keyMade?: true }[] = [
    { name: 'ca-missing', conf: `[sslca_default]\nca = ${at('nowhere')}\n`, file: `${CERT_DIR}/sslcert.xml`, line: 6, message: /CA "default" \(\[sslca_default\] ca = \S+nowhere\): \S+nowhere\/ca\.crt does not exist \(create the CA with: bindery ca init /, keyMade: true },
    { name: 'ca-option', conf: '[sslca_default]\nconfig = /etc/pki/openssl.cnf\n', file: `${CERT_DIR}/sslcert.xml`, line: 6, message: /\[sslca_default\] in \S+ has no "ca" option/, keyMade: true },
    { name: 'other-ca', edit: (d) => writeFileSync(join(d, CERT_DIR, 'sslcert.xml'), '<CertInfo>\n  <Cert key="/etc/pki/tls/private/client.key" ca="internal"/>\n</CertInfo>\n'), file: `${CERT_DIR}/sslcert.xml`, line: 2, message: /ca="internal": \S+ has no \[sslca_internal\] section/, keyMade: true },
    { name: 'no-sslkey', edit: (d) => rmSync(join(d, KEY_DIR, 'sslkey.xml')), file: `${CERT_DIR}/sslcert.xml`, line: 6, message: /key="\/etc\/pki\/tls\/private\/client\.key" names no Cfg entry/ },
    { name: 'key-not-a-key', edit: (d) => writeFileSync(join(d, CERT_DIR, 'sslcert.xml'), '<CertInfo>\n  <Cert key="/etc/motd"/>\n</CertInfo>\n'), file: 'Cfg/etc/motd/motd', message: /cannot read the private key: it is not a PEM private key \(PKCS#8 or PKCS#1\) \(key= in sslcert\.xml must name a private key entry/ },
    { name: 'bad-days', edit: (d) => writeFileSync(join(d, CERT_DIR, 'sslcert.xml'), '<CertInfo>\n  <Cert key="/etc/pki/tls/private/client.key" days="a year"/>\n</CertInfo>\n'), file: `${CERT_DIR}/sslcert.xml`, line: 2, message: /days="a year" is not a number of days \(use a whole number from 1 to 36500/, keyMade: true },
    { name: 'no-key-attr', edit: (d) => writeFileSync(join(d, CERT_DIR, 'sslcert.xml'), '<CertInfo>\n  <Cert days="10"/>\n</CertInfo>\n'), file: `${CERT_DIR}/sslcert.xml`, line: 2, message: /<Cert> has no key attribute/ },
    { name: 'bad-root', edit: (d) => writeFileSync(join(d, KEY_DIR, 'sslkey.xml'), '<PrivateKey/>\n'), file: `${KEY_DIR}/sslkey.xml`, line: 1, message: /root element is <PrivateKey>, expected <KeyInfo>/ },
    { name: 'bad-bits', edit: (d) => writeFileSync(join(d, EXTRA_DIR, 'sslkey.xml'), '<KeyInfo>\n  <Key bits="1024"/>\n</KeyInfo>\n'), file: `${EXTRA_DIR}/sslkey.xml`, line: 2, message: /bits="1024" is not a valid size for an RSA key \(bits must be from 2048 to 16384/ },
    { name: 'dsa', edit: (d) => writeFileSync(join(d, EXTRA_DIR, 'sslkey.xml'), '<KeyInfo>\n  <Key type="dsa"/>\n</KeyInfo>\n'), file: `${EXTRA_DIR}/sslkey.xml`, line: 2, message: /unsupported key type "dsa"/ },
  ];
  for (const c of cases) {
    const dir = repoCopy(`case-${c.name}`, c.conf ?? conf());
    c.edit?.(dir);
    const r = await keyPhase(dir);
    const mine = failuresOf(r, 'new1.example.com').filter((d) => d.file === c.file);
    assert.ok(mine.length > 0, `${c.name}: expected a failure in ${c.file}, got ${JSON.stringify(r.failed)}`);
    for (const d of mine) {
      assert.is(d.code, 'key-not-generated', c.name);
      assert.is(d.line, c.line, `${c.name}: line of ${d.message}`);
      assert.match(d.message, c.message, c.name);
      assert.ok(d.path?.startsWith('/etc/'), `${c.name}: path ${d.path}`);
    }
    if (c.keyMade) {
      assert.ok(existsSync(join(dir, NEW1_KEY)), `${c.name}: the key is made even though its certificate cannot be issued`);
      assert.not.ok(failuresOf(r, 'new1.example.com').some((d) => d.path === '/etc/pki/tls/private/client.key'), `${c.name}: the key entry does not fail`);
    }
  }
});

test('a certificate that cannot be issued leaves its key alone: the key is made, and the next run certifies it', async () => {
  const dir = repoCopy('case-later', `[sslca_default]\nca = ${at('nowhere')}\n`);
  const first = await keyPhase(dir);
  assert.equal(failuresOf(first, 'new1.example.com').map((d) => d.path), ['/etc/pki/tls/certs/client.crt']);
  assert.ok(first.written.includes(NEW1_KEY));
  const key = readFileSync(join(dir, NEW1_KEY));

  writeFileSync(join(dir, 'bcfg2.conf'), conf());
  const second = await keyPhase(dir);
  assert.equal(second.failed, []);
  assert.equal(second.written, [NEW1_CERT]);
  assert.ok(readFileSync(join(dir, NEW1_KEY)).equals(key));
  assert.ok(await verifies(join(dir, NEW1_CERT)));
  assert.ok(await sameKey(join(dir, NEW1_CERT), join(dir, NEW1_KEY)));
});

test('an existing certificate whose key is gone is kept, and no mismatching key is made', async () => {
  const dir = repoCopy('case-orphan-cert', conf());
  assert.equal((await keyPhase(dir)).failed, []);
  rmSync(join(dir, KEY_DIR, 'client.key.H_new1.example.com'));
  const certBefore = readFileSync(join(dir, CERT_DIR, 'client.crt.H_new1.example.com'));
  const r = await keyPhase(dir);
  assert.equal(r.written, []);
  const [d] = failuresOf(r, 'new1.example.com');
  assert.is(d!.path, '/etc/pki/tls/private/client.key');
  assert.match(d!.message, /the certificate Cfg\/etc\/pki\/tls\/certs\/client\.crt\/client\.crt\.H_new1\.example\.com exists but its key \/etc\/pki\/tls\/private\/client\.key does not/);
  assert.ok(readFileSync(join(dir, CERT_DIR, 'client.crt.H_new1.example.com')).equals(certBefore));
});

test('a deleted certificate is issued again for the key that stays', async () => {
  const dir = repoCopy('case-orphan-key', conf());
  assert.equal((await keyPhase(dir)).failed, []);
  const key = readFileSync(join(dir, NEW1_KEY));
  rmSync(join(dir, NEW1_CERT));
  const r = await keyPhase(dir);
  assert.equal(r.failed, []);
  assert.equal(r.written, [NEW1_CERT]);
  assert.ok(readFileSync(join(dir, NEW1_KEY)).equals(key));
  assert.ok(await sameKey(join(dir, NEW1_CERT), join(dir, NEW1_KEY)));
});

test('a key made with openssl genpkey is certified as it is', async () => {
  const dir = repoCopy('case-openssl-key', conf());
  await openssl(['genpkey', '-algorithm', 'RSA', '-out', join(dir, NEW1_KEY)]);
  const key = readFileSync(join(dir, NEW1_KEY));
  const r = await keyPhase(dir);
  assert.equal(r.failed, []);
  assert.equal(r.written.filter((f) => !f.startsWith(EXTRA_DIR)), [NEW1_CERT]);
  assert.ok(readFileSync(join(dir, NEW1_KEY)).equals(key));
  assert.ok(await verifies(join(dir, NEW1_CERT)));
  assert.ok(await sameKey(join(dir, NEW1_CERT), join(dir, NEW1_KEY)));
  assert.match(await openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', join(dir, NEW1_CERT)]), /CN=new1\.example\.com/);
  assert.is(await validityDays(join(dir, NEW1_CERT)), 365);
});

test('a key shared by all clients, in PKCS#1 ("BEGIN RSA PRIVATE KEY"), gets a certificate per client naming it', async () => {
  const dir = repoCopy('case-shared-key', conf());
  const shared = join(dir, KEY_DIR, 'client.key');
  await openssl(['genpkey', '-algorithm', 'RSA', '-out', at('shared.pem')]);
  await openssl(['pkey', '-traditional', '-in', at('shared.pem'), '-out', shared]);
  assert.match(readFileSync(shared, 'utf8'), /^-----BEGIN RSA PRIVATE KEY-----\n/);
  const hosts = ['new1.example.com', 'web2.example.com'];
  const r = await keyPhase(dir, { hosts });
  assert.equal(r.failed, []);
  assert.equal(r.written.filter((f) => !f.startsWith(EXTRA_DIR)), hosts.map((h) => `${CERT_DIR}/client.crt.H_${h}`));
  for (const h of hosts) {
    const cert = join(dir, CERT_DIR, `client.crt.H_${h}`);
    assert.ok(await verifies(cert), h);
    assert.ok(await sameKey(cert, shared), h);
    assert.match(await openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', cert]), new RegExp(`CN=${h.replaceAll('.', '\\.')}`));
  }
  assert.equal(files(dir, KEY_DIR), ['client.key', 'sslkey.xml'], 'no host key is made beside the shared one');
});

test('a .crypt key encrypted with openssl enc is decrypted with the [encryption] passphrases and certified; it stays encrypted', async () => {
  const dir = repoCopy('case-crypt-key', conf('[encryption]\nops = wrong one\nkeys = key-at-rest\n'));
  const plain = at('crypt-key.pem');
  await openssl(['genpkey', '-algorithm', 'RSA', '-out', plain]);
  const stored = join(dir, `${NEW1_KEY}.crypt`);
  await openssl(['enc', '-aes-256-cbc', '-md', 'md5', '-salt', '-a', '-A', '-pass', 'pass:key-at-rest', '-in', plain, '-out', stored]);
  const before = readFileSync(stored);
  const r = await keyPhase(dir);
  assert.equal(r.failed, []);
  assert.equal(r.written.filter((f) => !f.startsWith(EXTRA_DIR)), [NEW1_CERT]);
  assert.ok(readFileSync(stored).equals(before));
  assert.not.ok(existsSync(join(dir, NEW1_KEY)), 'no plain copy of the key is written');
  assert.ok(await verifies(join(dir, NEW1_CERT)));
  assert.ok(await sameKey(join(dir, NEW1_CERT), plain));
});

test('keys the CA cannot certify fail naming the key file; nothing is written for them', async () => {
  const cases: { name: string; make: (out: string) => string[]; message: RegExp }[] = [
    { name: 'ec', make: (out) => ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', out], message: /cannot certify the private key: its type is ec, not RSA \(bindery's CA certifies RSA keys only/ },
    { name: 'passphrase', make: (out) => ['genpkey', '-algorithm', 'RSA', '-aes256', '-pass', 'pass:locked', '-out', out], message: /cannot read the private key: it is protected by a passphrase \(store it without one/ },
  ];
  for (const c of cases) {
    const dir = repoCopy(`case-uncertifiable-${c.name}`, conf());
    await openssl(c.make(join(dir, NEW1_KEY)));
    const r = await keyPhase(dir);
    const [d, ...more] = failuresOf(r, 'new1.example.com');
    assert.equal(more, [], c.name);
    assert.is(d!.file, NEW1_KEY, c.name);
    assert.is(d!.line, undefined, `${c.name}: a line of sslcert.xml means nothing in the key file`);
    assert.is(d!.path, '/etc/pki/tls/certs/client.crt', c.name);
    assert.match(d!.message, c.message, c.name);
    assert.not.match(d!.message, /BEGIN|locked/, `${c.name}: no key material or passphrase in messages`);
    assert.equal(files(dir, CERT_DIR), ['sslcert.xml'], c.name);
  }
});

test('two sslcert.xml entries naming one key: one key, and a certificate from each CA for it', async () => {
  const dir = repoCopy('case-two-certs', conf(`[sslca_second]\nca = ${at('ca2')}\n`));
  const OTHER_DIR = 'Cfg/etc/pki/other/client.crt';
  mkdirSync(join(dir, OTHER_DIR), { recursive: true });
  writeFileSync(join(dir, OTHER_DIR, 'sslcert.xml'), '<CertInfo>\n  <Cert key="/etc/pki/tls/private/client.key" ca="second" days="90"/>\n</CertInfo>\n');
  const other = `${OTHER_DIR}/client.crt.H_new1.example.com`;
  const r = await keyPhase(dir);
  assert.equal(r.failed, []);
  assert.equal(r.written.filter((f) => !f.startsWith(EXTRA_DIR)), [other, NEW1_CERT, NEW1_KEY].sort());
  assert.ok(await verifies(join(dir, NEW1_CERT), at('ca')));
  assert.ok(await verifies(join(dir, other), at('ca2')));
  assert.not.ok((await run('openssl', ['verify', '-CAfile', at('ca', 'ca.crt'), join(dir, other)])).code === 0, 'each certificate is signed by its own CA');
  assert.ok(await sameKey(join(dir, NEW1_CERT), join(dir, NEW1_KEY)));
  assert.ok(await sameKey(join(dir, other), join(dir, NEW1_KEY)));
  assert.is(await validityDays(join(dir, other)), 90);
  assert.equal((await keyPhase(dir)).written, [], 'a second run writes nothing');
});

test('a key of another size than 2048 bits gets its certificate too', async () => {
  const dir = repoCopy('case-3072', conf());
  writeFileSync(join(dir, KEY_DIR, 'sslkey.xml'), '<KeyInfo>\n  <Key type="rsa" bits="3072"/>\n</KeyInfo>\n');
  const r = await keyPhase(dir);
  assert.equal(r.failed, []);
  assert.is(await keyBitsOf(join(dir, NEW1_KEY)), 3072);
  assert.ok(await verifies(join(dir, NEW1_CERT)));
  assert.ok(await sameKey(join(dir, NEW1_CERT), join(dir, NEW1_KEY)));
  assert.match(await openssl(['x509', '-noout', '-text', '-in', join(dir, NEW1_CERT)]), /Public-Key: \(3072 bit\)/);
});

test('a build that loses the race for a key certifies the key the winner wrote', async () => {
  const dir = repoCopy('case-lost-race', conf());
  // The other build writes its key after this one scanned the repository.
  const r = await keyPhase(dir, { afterScan: async () => void (await openssl(['genpkey', '-algorithm', 'RSA', '-out', join(dir, NEW1_KEY)])) });
  assert.equal(r.failed, []);
  assert.ok(r.adopted.includes(NEW1_KEY));
  assert.ok(r.written.includes(NEW1_CERT) && !r.adopted.includes(NEW1_CERT), 'this build issues the certificate itself');
  assert.ok(r.diagnostics.some((d) => d.code === 'key-adopted' && d.file === NEW1_KEY));
  assert.ok(await sameKey(join(dir, NEW1_CERT), join(dir, NEW1_KEY)), 'the certificate is for the winner\'s key');
  assert.equal(readdirSync(join(dir, KEY_DIR)).filter((f) => f.startsWith('.#')), [], 'no temporary files are left');
});

test('two key phases racing on one repository agree: one key and one matching certificate per client', async () => {
  const dir = repoCopy('race', conf());
  const [a, b] = await Promise.all([bindery(['keys', dir, '--json']), bindery(['keys', dir, '--json'])]);
  assert.is(a.code, 0, a.stderr);
  assert.is(b.code, 0, b.stderr);
  assert.equal(files(dir, KEY_DIR), [...HOSTS.map((h) => `client.key.H_${h}`), 'sslkey.xml'].sort());
  assert.equal(readdirSync(join(dir, CERT_DIR)).filter((f) => f.startsWith('.#')), [], 'no temporary files are left');
  for (const h of HOSTS) assert.ok(await sameKey(join(dir, CERT_DIR, `client.crt.H_${h}`), join(dir, KEY_DIR, `client.key.H_${h}`)), h);
  // Whatever the interleaving, each file was written by exactly one of the two runs (`written` leaves out adopted files).
  const [ja, jb] = [JSON.parse(a.stdout), JSON.parse(b.stdout)];
  assert.is(ja.written.length + jb.written.length, 9);
  assert.equal([...ja.written, ...jb.written].sort(), [...new Set([...ja.written, ...jb.written])].sort());
});

test.run();
