/**
 * sslkey.xml / sslcert.xml: the key phase gives each client its own key and a certificate from
 * a CA made by the real `bindery ca init`; real openssl checks the results, and the real server
 * accepts the certificate a bootstrap client received in its password run.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { generateKeys, type KeyPhaseResult } from '../src/keys/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { scanRepo } from '../src/repo/index.ts';
import { loadMetadata } from '../src/metadata/index.ts';
import { bindery, FIXTURES, ROOT, run, tempDir } from './helpers.ts';

const HOSTS = ['new1.example.com', 'web1.example.com', 'web2.example.com'];
const KEY_DIR = 'Cfg/etc/pki/tls/private/client.key';
const CERT_DIR = 'Cfg/etc/pki/tls/certs/client.crt';
const EXTRA_DIR = 'Cfg/etc/pki/tls/private/extra.key';
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

/** The key phase in-process for one client (new1: default key sizes, so it is quick), asking for every entry. */
async function keyPhase(dir: string, host = 'new1.example.com'): Promise<KeyPhaseResult> {
  const config = loadConfig(join(dir, 'bcfg2.conf'));
  const repo = await scanRepo(dir, config);
  const needs = loadMetadata(dir).clients.filter((m) => m.hostname === host).map((metadata) => ({ metadata, paths: [...repo.entrySets.keys()] }));
  return generateKeys(repo, needs, config, {}, { jobs: 2 });
}

/** bcfg2.conf naming the test's CA by absolute path. */
const conf = (extra = '') => `[sslca_default]\nca = ${at('ca')}\n${extra}`;

test.before(async () => {
  tmp = tempDir('bindery-ssl-keys-');
  const ca = await bindery(['ca', 'init', at('ca')]);
  assert.is(ca.code, 0, ca.stderr);
  await openssl(['genpkey', '-algorithm', 'ed25519', '-out', at('signing.pem')]);
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
    const base = ['fetch', '--server', url, '--ca', at('ca'), '--trust', at('signing-pub.pem'), '--local-address', '127.0.0.4', '--json'];
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

test('no [sslca_default] section: the build fails naming sslcert.xml, the section and how to make a CA; no key is made for the certificate', async () => {
  const repo = repoCopy('repo-noca', '[communication]\npassword = x\n');
  const r = await build(repo, at('out-noca'));
  assert.is(r.code, 1);
  assert.match(r.stderr, /Cfg\/etc\/pki\/tls\/certs\/client\.crt\/sslcert\.xml:\d+, host \S+, path \/etc\/pki\/tls\/certs\/client\.crt: ca="default": \S+bcfg2\.conf has no \[sslca_default\] section \(add \[sslca_default\] with "ca = <directory made by bindery ca init>"/);
  assert.equal(files(repo, KEY_DIR), ['sslkey.xml'], 'a key without its certificate could never get one');
  assert.equal(files(repo, CERT_DIR), ['sslcert.xml']);
  assert.is(files(repo, EXTRA_DIR).length, 4, 'keys without certificates are still made');
});

/** The failures of a key phase as "path: message" lines, for one host. */
const failuresOf = (r: KeyPhaseResult, host: string) => r.failed.filter((d) => d.host === host);

test('configuration and sslkey.xml/sslcert.xml mistakes are key-not-generated failures with file, line, host and path', async () => {
  // heldBack: the certificate's key is not made either (a key made alone could never be certified).
  const cases: { name: string; conf?: string; edit?: (dir: string) => void; file: string; line?: number; message: RegExp; heldBack?: true }[] = [
    { name: 'ca-missing', conf: `[sslca_default]\nca = ${at('nowhere')}\n`, file: `${CERT_DIR}/sslcert.xml`, line: 6, message: /CA "default" \(\[sslca_default\] ca = \S+nowhere\): \S+nowhere\/ca\.crt does not exist \(create the CA with: bindery ca init /, heldBack: true },
    { name: 'ca-option', conf: '[sslca_default]\nconfig = /etc/pki/openssl.cnf\n', file: `${CERT_DIR}/sslcert.xml`, line: 6, message: /\[sslca_default\] in \S+ has no "ca" option/, heldBack: true },
    { name: 'other-ca', edit: (d) => writeFileSync(join(d, CERT_DIR, 'sslcert.xml'), '<CertInfo>\n  <Cert key="/etc/pki/tls/private/client.key" ca="internal"/>\n</CertInfo>\n'), file: `${CERT_DIR}/sslcert.xml`, line: 2, message: /ca="internal": \S+ has no \[sslca_internal\] section/, heldBack: true },
    { name: 'no-sslkey', edit: (d) => rmSync(join(d, KEY_DIR, 'sslkey.xml')), file: `${CERT_DIR}/sslcert.xml`, line: 6, message: /key="\/etc\/pki\/tls\/private\/client\.key" names no Cfg entry/ },
    { name: 'key-without-sslkey', edit: (d) => writeFileSync(join(d, CERT_DIR, 'sslcert.xml'), '<CertInfo>\n  <Cert key="/etc/motd"/>\n</CertInfo>\n'), file: `${CERT_DIR}/sslcert.xml`, line: 2, message: /cannot issue a certificate for the existing key Cfg\/etc\/motd\/motd/ },
    { name: 'bad-days', edit: (d) => writeFileSync(join(d, CERT_DIR, 'sslcert.xml'), '<CertInfo>\n  <Cert key="/etc/pki/tls/private/client.key" days="a year"/>\n</CertInfo>\n'), file: `${CERT_DIR}/sslcert.xml`, line: 2, message: /days="a year" is not a number of days \(use a whole number from 1 to 36500/, heldBack: true },
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
    if (c.heldBack) assert.equal(files(dir, KEY_DIR), ['sslkey.xml'], `${c.name}: the key was made without its certificate`);
  }
});

test('the key of a certificate that cannot be issued is not made either, and says why', async () => {
  const dir = repoCopy('case-blocked', `[sslca_default]\nca = ${at('nowhere')}\n`);
  const r = await keyPhase(dir);
  const keyFailure = failuresOf(r, 'new1.example.com').find((d) => d.path === '/etc/pki/tls/private/client.key');
  assert.ok(keyFailure);
  assert.match(keyFailure!.message, /^not made: the key goes with the certificate \/etc\/pki\/tls\/certs\/client\.crt, which cannot be issued: CA "default"/);
  assert.equal(files(dir, KEY_DIR), ['sslkey.xml']);
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

test('a key bindery did not make cannot get a certificate (src/ca issues both together): a clear failure, nothing written', async () => {
  const dir = repoCopy('case-orphan-key', conf());
  assert.equal((await keyPhase(dir)).failed, []);
  rmSync(join(dir, CERT_DIR, 'client.crt.H_new1.example.com'));
  const r = await keyPhase(dir);
  assert.equal(r.written, []);
  const [d] = failuresOf(r, 'new1.example.com');
  assert.is(d!.path, '/etc/pki/tls/certs/client.crt');
  assert.match(d!.message, /cannot issue a certificate for the existing key Cfg\/etc\/pki\/tls\/private\/client\.key\/client\.key\.H_new1\.example\.com.*bindery ca issue <ca dir> new1\.example\.com/);
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
