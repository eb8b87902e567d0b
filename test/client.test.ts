/**
 * The client against a real server over TLS: verify before anything touches disk, dry-run
 * diffs, atomic application with modes (and owners as root), the run report.
 */
import { userInfo } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectedClientName, fetchAndApply, type FetchOptions } from '../src/client/index.ts';
import { startServer, type RunningServer } from '../src/server/index.ts';
import { BinderyError } from '../src/errors.ts';
import type { SigningKey } from '../src/emit/index.ts';
import { layout } from '../src/protocol/index.ts';
import { tempDir } from './helpers.ts';
import { clientAuth, makePki, makeSigningKey, publish, type HostFiles, type Pki } from './fixtures/server-kit/index.ts';

let tmp: { dir: string; cleanup: () => void };
let pki: Pki;
let key: SigningKey;
let server: RunningServer;
let stateDir: string;
const started: RunningServer[] = [];

/** A uuid in the standard form, which fetch knows is not a host name. */
const UUID = '5b0a8c1e-3f2d-4e6a-9b7c-1d2e3f4a5b6c';

const files = {
  '/etc/motd': 'welcome to web1\nsecond line\n',
  '/etc/app/app.conf': { data: 'port = 80\n', mode: '0640' },
  '/etc/app/secret.key': { data: 'TOP SECRET\n', mode: '0600' },
  '/usr/local/bin/tool': { data: '#!/bin/sh\necho tool\n', mode: '0755' },
};

const base = (root: string, over: Partial<FetchOptions> = {}): FetchOptions => ({
  server: server.url,
  ca: pki.caPem,
  cert: pki.client('web1').certPem,
  key: pki.client('web1').keyPem,
  trust: key.publicKeyPem,
  root,
  localAddress: '127.0.0.2',
  chown: false,
  stateDir: null,
  ...over,
});

const newRoot = (name: string) => {
  const root = join(tmp.dir, name);
  mkdirSync(root, { recursive: true });
  return root;
};

/** Every file under dir, relative, sorted. */
function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
    .sort();
}

test.before(async () => {
  tmp = tempDir('bindery-client-');
  pki = makePki(tmp.dir);
  key = makeSigningKey(tmp.dir);
  await publish(join(tmp.dir, 'out'), { web1: files, other: { '/etc/motd': 'not yours\n' }, boot1: { '/etc/motd': 'first run\n' }, nat1: { '/etc/motd': 'behind the NAT\n' } }, key);
  stateDir = join(tmp.dir, 'state');
  server = await startServer({
    buildDir: join(tmp.dir, 'out'),
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.caPem },
    clients: () => [
      clientAuth('web1', { auth: 'cert', addresses: ['127.0.0.2'] }),
      clientAuth('other', { addresses: ['127.0.0.3'] }),
      clientAuth('boot1', { auth: 'bootstrap', password: 'boot1-pw', addresses: ['127.0.0.4'] }),
      clientAuth('nat1', { uuid: UUID, password: 'nat1-pw', addresses: ['127.0.0.5'] }),
    ],
    policy: { globalPassword: 'g', defaultAuth: 'cert+password' },
    stateDir,
    port: 0,
    log: () => {},
  });
  started.push(server);
});

test.after(async () => {
  await Promise.all(started.map((s) => s.close()));
  tmp?.cleanup();
});

test('a dry run shows a unified diff, hides unreadable files\' content, and changes nothing, not even the report', async () => {
  const root = newRoot('dry');
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/motd'), 'welcome to web1\nfirst line\n');
  const r = await fetchAndApply(base(root, { dryRun: true }));
  assert.is(r.client, 'web1');
  assert.match(r.diff!, /--- a\/etc\/motd\n\+\+\+ b\/etc\/motd/);
  assert.match(r.diff!, /-first line\n\+second line/);
  assert.match(r.diff!, /--- \/dev\/null\n\+\+\+ b\/usr\/local\/bin\/tool\n@@ -0,0 \+1,2 @@\n\+#!\/bin\/sh/);
  assert.match(r.diff!, /b\/etc\/app\/app\.conf\n# created, mode 0640 \(not shown/, 'mode 0640: not shown');
  assert.match(r.diff!, /b\/etc\/app\/secret\.key\n# created, mode 0600 \(not shown/);
  assert.not.ok(r.diff!.includes('TOP SECRET'));
  assert.not.ok(r.reportPosted);
  assert.equal(listFiles(root), ['etc/motd']);
  assert.is(readFileSync(join(root, 'etc/motd'), 'utf8'), 'welcome to web1\nfirst line\n');
  assert.not.ok(existsSync(join(stateDir, 'reports', 'client-web1.json')));
});

test('a real run writes every file atomically with its mode, then posts the run report', async () => {
  const root = newRoot('apply');
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/motd'), 'old\n');
  const r = await fetchAndApply(base(root));
  assert.equal(r.failed, []);
  assert.equal(Object.fromEntries(r.changes.map((c) => [c.file.path, c.action])), {
    '/etc/app/app.conf': 'create',
    '/etc/app/secret.key': 'create',
    '/etc/motd': 'update',
    '/usr/local/bin/tool': 'create',
  });
  assert.equal(listFiles(root), ['etc/app/app.conf', 'etc/app/secret.key', 'etc/motd', 'usr/local/bin/tool'], 'no temporary files are left');
  assert.is(readFileSync(join(root, 'etc/motd'), 'utf8'), files['/etc/motd']);
  assert.is(statSync(join(root, 'etc/app/app.conf')).mode & 0o7777, 0o640);
  assert.is(statSync(join(root, 'etc/app/secret.key')).mode & 0o7777, 0o600);
  assert.is(statSync(join(root, 'usr/local/bin/tool')).mode & 0o7777, 0o755);
  assert.ok(r.reportPosted);
  const stored = JSON.parse(readFileSync(join(stateDir, 'reports', 'client-web1.json'), 'utf8'));
  assert.is(stored.report.sha256, r.sha256);
  assert.is(stored.report.ok, true);
  assert.equal([r.client, r.serverFailed], ['web1', []]);
  assert.equal([stored.report.client, stored.report.status], ['web1', 'applied'], 'the report names the host from the signed record');

  const again = await fetchAndApply(base(root));
  assert.ok(again.changes.every((c) => c.action === 'unchanged'), 'a second run changes nothing');
});

test('a mode-only difference is a metadata change', async () => {
  const root = newRoot('mode');
  await fetchAndApply(base(root));
  const { chmodSync } = await import('node:fs');
  chmodSync(join(root, 'etc/app/app.conf'), 0o666);
  const r = await fetchAndApply(base(root, { dryRun: true }));
  assert.is(r.changes.find((c) => c.file.path === '/etc/app/app.conf')!.action, 'metadata');
  await fetchAndApply(base(root));
  assert.is(statSync(join(root, 'etc/app/app.conf')).mode & 0o7777, 0o640);
});

test('a signature from another key is refused before anything touches disk', async () => {
  const root = newRoot('untrusted');
  const otherKey = makeSigningKey(tmp.dir, 'other-signing-key.pem');
  try {
    await fetchAndApply(base(root, { trust: otherKey.publicKeyPem }));
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.instance(e, BinderyError);
    assert.is((e as BinderyError).code, 'FETCH');
    assert.match((e as BinderyError).message, /(build head|signed record) does not verify with the trusted key/);
  }
  assert.equal(readdirSync(root), []);
});

test('a tampered tarball on the server is refused before anything touches disk', async () => {
  const out = join(tmp.dir, 'tampered-out');
  await publish(out, { web1: files }, key);
  const sig = join(out, 'hosts', 'web1.tar.gz.sig');
  const bytes = readFileSync(sig);
  bytes[0] = bytes[0]! ^ 0xff;
  writeFileSync(sig, bytes);
  const s = await startServer({
    buildDir: out,
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.caPem },
    clients: () => [clientAuth('web1', { auth: 'cert', addresses: ['127.0.0.2'] })],
    policy: { globalPassword: null, defaultAuth: 'cert' },
    stateDir: join(tmp.dir, 'tampered-state'),
    port: 0,
    log: () => {},
  });
  started.push(s);
  const root = newRoot('tampered');
  try {
    await fetchAndApply(base(root, { server: s.url }));
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /signature does not verify/);
  }
  assert.equal(readdirSync(root), []);
});

/** Refused with a FETCH error matching `message`. */
async function refused(p: Promise<unknown>, message: RegExp, code = 'FETCH'): Promise<BinderyError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, BinderyError);
    assert.is((e as BinderyError).code, code, (e as Error).message);
    assert.match((e as Error).message, message);
    return e as BinderyError;
  }
  assert.unreachable('should have been refused');
  throw new Error('unreachable');
}

/**
 * A server on a build of its own (web1 and db1, both validly signed) that `tamper` changes on
 * disk first, as a compromised server could: it holds every host's signed files.
 */
async function tamperedServer(name: string, tamper: (hostsDir: string, outDir: string) => void): Promise<{ url: string; stateDir: string }> {
  const out = join(tmp.dir, `${name}-out`);
  const hosts: HostFiles = { web1: files, db1: { '/etc/motd': 'db1 only\n', '/etc/db.conf': { data: 'db password\n', mode: '0600' } } };
  await publish(out, hosts, key);
  tamper(join(out, 'hosts'), out);
  const state = join(tmp.dir, `${name}-state`);
  const s = await startServer({
    buildDir: out,
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.caPem },
    clients: () => [clientAuth('web1', { auth: 'cert', addresses: ['127.0.0.2'] })],
    policy: { globalPassword: null, defaultAuth: 'cert' },
    stateDir: state,
    port: 0,
    log: () => {},
  });
  started.push(s);
  return { url: s.url, stateDir: state };
}

type Hosts = Record<string, { record: string; tarball: string }>;

/** Make the served manifest give host `to` what `pick` takes from host `from` (as a compromised server could). */
const replay = (out: string, from: string, to: string, pick: (keyof Hosts[string])[]) => {
  const path = join(out, '.builds', readdirSync(join(out, '.builds')).find((n) => !n.startsWith('.'))!, 'manifest.json');
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as { hosts: Hosts };
  for (const k of pick) manifest.hosts[to]![k] = manifest.hosts[from]![k];
  writeFileSync(path, JSON.stringify(manifest));
  return manifest.hosts;
};

test('a server handing this host another host\'s validly signed tarball and record is refused; nothing is written or reported', async () => {
  const s = await tamperedServer('replay', (_, out) => replay(out, 'db1', 'web1', ['record', 'tarball']));
  for (const dryRun of [true, false]) {
    const root = newRoot(`replay-${dryRun}`);
    const e = await refused(fetchAndApply(base(root, { server: s.url, dryRun })), /^the server sent the configuration of another host \(db1\), not of web1: nothing was applied$/);
    assert.match(e.hint!, /compromised/);
    assert.equal(readdirSync(root), []);
  }
  assert.not.ok(existsSync(join(s.stateDir, 'reports', 'client-web1.json')), 'no run report');
});

test('another host\'s tarball with this host\'s own record is refused: the sha256 does not match', async () => {
  const s = await tamperedServer('replay-tarball', (_, out) => replay(out, 'db1', 'web1', ['tarball']));
  const root = newRoot('replay-tarball');
  await refused(fetchAndApply(base(root, { server: s.url })), /^the server keeps sending a tarball other than the one its signed record describes: nothing was applied$/);
  assert.equal(readdirSync(root), []);
});

test('a tampered record (another host name, same signature) is refused', async () => {
  const s = await tamperedServer('tampered-record', (_, out) => {
    const hosts = replay(out, 'db1', 'web1', ['record', 'tarball']);
    // db1's record, edited to claim to be web1's.
    const path = join(out, layout.objectPath(hosts.web1!.record));
    writeFileSync(path, readFileSync(path, 'utf8').replace('"host":"db1"', '"host":"web1"'));
  });
  const root = newRoot('tampered-record');
  await refused(fetchAndApply(base(root, { server: s.url })), /signed record does not verify with the trusted key: nothing was applied/);
  assert.equal(readdirSync(root), []);
});

test('the name checked: --host, else the certificate\'s CN, else --user unless it is root or a uuid', () => {
  const web1 = pki.client('web1').certPem;
  assert.is(expectedClientName({ host: 'h1', cert: web1, user: 'u1' }), 'h1');
  assert.is(expectedClientName({ cert: web1, user: 'root' }), 'web1');
  assert.is(expectedClientName({ user: 'boot1' }), 'boot1');
  for (const user of ['root', UUID, UUID.toUpperCase(), undefined]) {
    let e: unknown;
    try {
      expectedClientName({ user });
    } catch (x) {
      e = x;
    }
    assert.instance(e, BinderyError, String(user));
    assert.is((e as BinderyError).code, 'USAGE');
    assert.match((e as BinderyError).hint!, /pass --host NAME/);
  }
});

test('user root and uuid users must pass --host (before any download); with it they fetch, and a wrong --host is refused', async () => {
  const root = newRoot('by-address');
  const asRoot = (over: Partial<FetchOptions> = {}) => base(root, { cert: undefined, key: undefined, user: 'root', password: 'g', localAddress: '127.0.0.3', ...over });
  const e = await refused(fetchAndApply(asRoot()), /--user root does not say this host's name/, 'USAGE');
  assert.match(e.hint!, /pass --host NAME/);
  await refused(fetchAndApply(asRoot({ host: 'web1' })), /another host \(other\), not of web1/);
  assert.equal(readdirSync(root), []);
  const ok = await fetchAndApply(asRoot({ host: 'OTHER' }));
  assert.is(ok.client, 'other', 'host names compare case-insensitively');
  assert.is(readFileSync(join(root, 'etc/motd'), 'utf8'), 'not yours\n');

  const natRoot = newRoot('by-uuid');
  const asUuid = (over: Partial<FetchOptions> = {}) => base(natRoot, { cert: undefined, key: undefined, user: UUID, password: 'nat1-pw', localAddress: '127.0.0.5', ...over });
  await refused(fetchAndApply(asUuid()), /--user is a uuid, not this host's name; fetch needs the name/, 'USAGE');
  assert.equal(readdirSync(natRoot), []);
  assert.ok((await fetchAndApply(asUuid({ host: 'nat1' }))).reportPosted);
  assert.is(readFileSync(join(natRoot, 'etc/motd'), 'utf8'), 'behind the NAT\n');
});

test('a certificate client checks its CN: --host naming another host makes it refuse its own configuration', async () => {
  const root = newRoot('wrong-host');
  await refused(fetchAndApply(base(root, { host: 'other' })), /another host \(web1\), not of other/);
  assert.equal(readdirSync(root), []);
});

test('a symlinked directory never leads outside the root: an absolute or climbing link resolves under it, as in a chroot', async () => {
  const root = newRoot('symlinked');
  const outside = newRoot('outside');
  mkdirSync(join(root, 'etc'));
  // Absolute: /…/outside on this machine, but <root>/…/outside for the host being staged.
  symlinkSync(outside, join(root, 'etc', 'app'));
  mkdirSync(join(root, 'usr', 'local'), { recursive: true });
  // Climbing: more .. than there are directories stops at the root.
  symlinkSync('../../../../../../opt', join(root, 'usr', 'local', 'bin'));
  const r = await fetchAndApply(base(root));
  assert.equal(readdirSync(outside), []);
  if (process.getuid?.() === 0) {
    assert.equal(r.failed, []);
    assert.is(readFileSync(join(root, outside, 'app.conf'), 'utf8'), 'port = 80\n');
    assert.is(readFileSync(join(root, 'opt', 'tool'), 'utf8'), '#!/bin/sh\necho tool\n');
  } else {
    // The links are the test user's, not root's: not followed at all.
    assert.equal(r.failed.map((f) => f.path).sort(), ['/etc/app/app.conf', '/etc/app/secret.key', '/usr/local/bin/tool']);
  }
  assert.ok(existsSync(join(root, 'etc/motd')), 'the other files are applied');
});

test('a bootstrap client\'s dry run is refused and leaves its one password run for the real one', async () => {
  const boot = (root: string, over: Partial<FetchOptions> = {}) => base(root, { cert: undefined, key: undefined, user: 'boot1', password: 'boot1-pw', localAddress: '127.0.0.4', ...over });
  const root = newRoot('boot-dry');
  const rejects = async (p: Promise<unknown>, message: RegExp, code = 'FETCH') => {
    try {
      await p;
      assert.unreachable('should have thrown');
    } catch (e) {
      assert.instance(e, BinderyError);
      assert.is((e as BinderyError).code, code);
      assert.match((e as Error).message, message);
    }
  };
  await rejects(fetchAndApply(boot(root, { dryRun: true })), /answered 409 for the configuration: .*a dry run cannot use it/);
  // An unusable --trust is found before the download, which would spend the run.
  await rejects(fetchAndApply(boot(root, { trust: 'not a key' })), /not a PEM public key/, 'CONFIG');
  assert.not.ok(existsSync(join(stateDir, 'bootstrap', 'client-boot1.json')), 'the bootstrap run is not spent');
  const real = await fetchAndApply(boot(root));
  assert.ok(real.reportPosted);
  assert.is(readFileSync(join(root, 'etc/motd'), 'utf8'), 'first run\n');
  await rejects(fetchAndApply(boot(newRoot('boot-again'))), /refused this client's credentials \(401\)/);
});

test('wrong credentials are a FETCH error naming the 401', async () => {
  try {
    await fetchAndApply(base(newRoot('refused'), { cert: undefined, key: undefined, user: 'web1', password: 'g' }));
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.is((e as BinderyError).code, 'FETCH');
    assert.match((e as Error).message, /refused this client's credentials \(401\)/);
  }
});

test('owners are applied when asked to: another user as root, this user otherwise; an unknown user fails that file only', async () => {
  // chown to another user needs root; anyone may chown a file to themselves.
  const asRoot = process.getuid?.() === 0;
  const self = userInfo();
  const owner = asRoot ? 'nobody' : self.username;
  const group = asRoot ? 'root' : (readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[2] === String(self.gid))?.split(':')[0] ?? 'root');
  const out = join(tmp.dir, 'owned-out');
  await publish(out, { web1: { '/etc/owned': { data: 'x\n', owner, group, mode: '0644' }, '/etc/ghost': { data: 'y\n', owner: 'no-such-user' } } }, key);
  const s = await startServer({
    buildDir: out,
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.caPem },
    clients: () => [clientAuth('web1', { auth: 'cert', addresses: ['127.0.0.2'] })],
    policy: { globalPassword: null, defaultAuth: 'cert' },
    stateDir: join(tmp.dir, 'owned-state'),
    port: 0,
    log: () => {},
  });
  started.push(s);
  const root = newRoot('owned');
  const r = await fetchAndApply(base(root, { server: s.url, chown: true }));
  const uid = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${owner}:`))!.split(':')[2];
  assert.is(statSync(join(root, 'etc/owned')).uid, Number(uid));
  assert.equal(r.failed, [{ path: '/etc/ghost', reason: 'unknown user no-such-user on this host' }]);
  assert.not.ok(existsSync(join(root, 'etc/ghost')));
});

test.run();
