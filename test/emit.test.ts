import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createHash } from 'node:crypto';
import { hostTarball, loadSigningKey, publishBuild, readCurrentBuild, signBytes, stableStringify, verifyBytes, type BuildInput, type SigningKey } from '../src/emit/index.ts';
import { BinderyError } from '../src/errors.ts';
import { renderMessage } from '../src/cli/render.ts';
import type { BoundFile } from '../src/types.ts';
import { spawnSync } from 'node:child_process';
import { tempDir } from './helpers.ts';

const OPENSSL_HINT = 'openssl genpkey -algorithm ed25519 -out signing-key.pem';
const EPOCH = '1700000000'; // 2023-11-14T22:13:20Z

let tmp: { dir: string; cleanup: () => void };
let keyPath: string;
let pubPath: string;
let key: SigningKey;

test.before(() => {
  tmp = tempDir('bindery-emit-');
  keyPath = join(tmp.dir, 'signing-key.pem');
  pubPath = join(tmp.dir, 'pub.pem');
  must('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', keyPath]);
  must('openssl', ['pkey', '-in', keyPath, '-pubout', '-out', pubPath]);
  key = loadSigningKey({ path: keyPath, env: {} });
});
test.after(() => tmp.cleanup());

/**
 * Run a real program. Not helpers.ts run(): it writes to the child's stdin without an 'error'
 * handler, so a program that exits at once (openssl, tar) can crash the suite with EPIPE.
 */
function run(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, pid: r.pid };
}

function must(cmd: string, args: string[]): string {
  const r = run(cmd, args, { cwd: tmp.dir });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

function file(path: string, content: string, mode = '0644', owner = 'root', group = 'root'): BoundFile {
  return { path, data: Buffer.from(content), info: { owner, group, mode, extra: {} }, source: `Cfg${path}${path.slice(path.lastIndexOf('/'))}`, deltas: [] };
}

const web = [
  file('/etc/motd', 'welcome to web1\n'),
  file('/etc/shadow', 'root:*:19000:0:99999:7:::\n', '0000', 'root', 'shadow'),
  file('/var/www/index.html', '<h1>hi</h1>\n', '640', 'www-data', 'www-data'),
  file('/usr/local/bin/helper', '#!/bin/sh\necho hi\n', '4755'),
  file('/etc/apt/sources.list', 'deb http://deb.debian.org/debian bookworm main\n'),
];
const db = [file('/etc/motd', 'welcome to db1\n'), { ...file('/etc/my.cnf', '[mysqld]\n'), deltas: ['Cfg/etc/my.cnf/my.cnf.cat'] }];

function input(hosts: BuildInput['hosts'], extra: Partial<BuildInput> = {}): BuildInput {
  return { hosts, failures: [], skipped: [], warnings: [], revision: null, ...extra };
}

/** Every regular file under dir, by relative path. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (lstatSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
}

function thrown(fn: () => unknown): BinderyError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, BinderyError);
    return e as BinderyError;
  }
  throw new Error('expected a BinderyError');
}

async function rejected(p: Promise<unknown>): Promise<BinderyError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, BinderyError);
    return e as BinderyError;
  }
  throw new Error('expected a BinderyError');
}

test('the same files give byte-identical tarballs, whatever order they come in', async () => {
  const a = await hostTarball(web);
  const b = await hostTarball([...web].reverse());
  assert.ok(a.equals(b));
  assert.not.ok(a.equals(await hostTarball(web, { mtime: 1 })), 'the mtime is part of the bytes');
});

test('the gzip header is fixed: no mtime, no name, no level flag, Unix as the OS', async () => {
  const gz = await hostTarball(web);
  assert.equal([...gz.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
});

test('real tar lists the entries sorted, with their modes, owner names and the fixed mtime', async () => {
  const dir = join(tmp.dir, 'list');
  mkdirSync(dir);
  writeFileSync(join(dir, 'web.tar.gz'), await hostTarball(web, { mtime: Number(EPOCH) }));
  const r = run('tar', ['--full-time', '-tvzf', 'web.tar.gz'], { cwd: dir, env: { TZ: 'UTC', LC_ALL: 'C' } });
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => l.split(/\s+/));
  assert.equal(lines.map((l) => l[5]), ['etc/apt/sources.list', 'etc/motd', 'etc/shadow', 'usr/local/bin/helper', 'var/www/index.html']);
  assert.equal(lines.map((l) => `${l[0]} ${l[1]}`), ['-rw-r--r-- root/root', '-rw-r--r-- root/root', '---------- root/shadow', '-rwsr-xr-x root/root', '-rw-r----- www-data/www-data']);
  assert.ok(lines.every((l) => `${l[3]} ${l[4]}` === '2023-11-14 22:13:20'), r.stdout);
});

test('real tar extracts the contents; parent directories are not entries', async () => {
  const dir = join(tmp.dir, 'extract');
  mkdirSync(dir);
  writeFileSync(join(dir, 'db.tar.gz'), await hostTarball(db));
  const list = run('tar', ['-tzf', 'db.tar.gz'], { cwd: dir });
  assert.equal(list.stdout.trim().split('\n'), ['etc/motd', 'etc/my.cnf']);
  const r = run('tar', ['-xzf', 'db.tar.gz', '--no-same-owner'], { cwd: dir });
  assert.is(r.code, 0, r.stderr);
  assert.is(readFileSync(join(dir, 'etc/motd'), 'utf8'), 'welcome to db1\n');
  assert.is(readFileSync(join(dir, 'etc/my.cnf'), 'utf8'), '[mysqld]\n');
});

test('an invalid mode is an EMIT error naming the path, and publish adds the host', async () => {
  const bad = [file('/etc/motd', 'x', 'rw-r--r--')];
  const e1 = await rejected(hostTarball(bad));
  assert.is(e1.code, 'EMIT');
  assert.is(e1.location.path, '/etc/motd');
  const out = join(tmp.dir, 'out-badmode');
  const e2 = await rejected(publishBuild(out, input([{ host: 'web1', files: web }, { host: 'db1', files: bad }]), key, { env: {} }));
  assert.is(e2.code, 'EMIT');
  assert.equal([e2.location.host, e2.location.path], ['db1', '/etc/motd']);
  assert.match(e2.message, /invalid mode 'rw-r--r--'/);
  assert.is(readCurrentBuild(out), null, 'nothing is published');
});

test('a path that is not clean and absolute, and a long owner name, are refused', async () => {
  for (const p of ['etc/motd', '/etc/../motd', '/etc//motd', '/etc/motd/']) {
    assert.is((await rejected(hostTarball([file(p, 'x')]))).location.path, p);
  }
  assert.match((await rejected(hostTarball([file('/x', 'x', '0644', 'u'.repeat(33))]))).message, /invalid owner/);
});

test('publish writes hosts/<host>.tar.gz and its signature, which real openssl verifies', async () => {
  const out = join(tmp.dir, 'out-openssl');
  await publishBuild(out, input([{ host: 'web1', files: web }, { host: 'db1', files: db }]), key, { env: {} });
  for (const host of ['web1', 'db1']) {
    const r = run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pubPath, '-rawin', '-in', join(out, 'hosts', `${host}.tar.gz`), '-sigfile', join(out, 'hosts', `${host}.tar.gz.sig`)]);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Signature Verified Successfully/);
  }
  const m = run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pubPath, '-rawin', '-in', join(out, 'manifest.json'), '-sigfile', join(out, 'manifest.json.sig')]);
  assert.is(m.code, 0, m.stdout + m.stderr);
});

test('each host gets hosts/<host>.meta.json naming it and its tarball\'s sha256, signed, which real openssl verifies', async () => {
  const out = join(tmp.dir, 'out-meta');
  const manifest = await publishBuild(out, input([{ host: 'web1', files: web }, { host: 'db1', files: db }], { revision: 'abc123' }), key, { env: { SOURCE_DATE_EPOCH: EPOCH } });
  for (const host of ['web1', 'db1']) {
    assert.is(manifest.hosts[host]!.meta, `hosts/${host}.meta.json`);
    const text = readFileSync(join(out, 'hosts', `${host}.meta.json`), 'utf8');
    const sha256 = run('sha256sum', [join(out, 'hosts', `${host}.tar.gz`)]).stdout.split(' ')[0];
    assert.is(text, `{\n  "builtAt": "2023-11-14T22:13:20.000Z",\n  "host": "${host}",\n  "revision": "abc123",\n  "sha256": "${sha256}",\n  "version": 1\n}\n`);
    const r = run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pubPath, '-rawin', '-in', join(out, 'hosts', `${host}.meta.json`), '-sigfile', join(out, 'hosts', `${host}.meta.json.sig`)]);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Signature Verified Successfully/);
  }
  // Another host's meta with this host's signature (or a changed byte) does not verify.
  const other = run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pubPath, '-rawin', '-in', join(out, 'hosts', 'db1.meta.json'), '-sigfile', join(out, 'hosts', 'web1.meta.json.sig')]);
  assert.is.not(other.code, 0);
  const unsetRevision = await publishBuild(join(tmp.dir, 'out-meta-norev'), input([{ host: 'db1', files: db }]), key, { env: {} });
  const meta = JSON.parse(readFileSync(join(tmp.dir, 'out-meta-norev', 'hosts', 'db1.meta.json'), 'utf8'));
  assert.equal(meta, { builtAt: unsetRevision.builtAt, host: 'db1', revision: null, sha256: unsetRevision.hosts.db1!.sha256, version: 1 });
});

test('a tampered tarball fails verification, in openssl and in verifyBytes', async () => {
  const dir = join(tmp.dir, 'tamper');
  mkdirSync(dir);
  const gz = await hostTarball(web);
  const sig = signBytes(gz, key);
  assert.is(sig.length, 64);
  assert.ok(verifyBytes(gz, sig, key.publicKeyPem));
  const bad = Buffer.from(gz);
  bad[bad.length - 9] ^= 1;
  assert.not.ok(verifyBytes(bad, sig, key.publicKeyPem));
  writeFileSync(join(dir, 'h.tar.gz'), bad);
  writeFileSync(join(dir, 'h.tar.gz.sig'), sig);
  const r = run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pubPath, '-rawin', '-in', 'h.tar.gz', '-sigfile', 'h.tar.gz.sig'], { cwd: dir });
  assert.is.not(r.code, 0);
});

test('the manifest is stable JSON describing every host and file, signed by the published key', async () => {
  const out = join(tmp.dir, 'out-manifest');
  const failures = [{ host: 'db1', path: '/etc/broken', file: 'Cfg/etc/broken/broken.genshi', line: 3, message: 'boom' }];
  const manifest = await publishBuild(out, input([{ host: 'web1', files: web }, { host: 'db1', files: db }], { failures, skipped: ['x'], warnings: [{ code: 'W', message: 'w' }], revision: 'abc123' }), key, { env: { SOURCE_DATE_EPOCH: EPOCH } });
  const text = readFileSync(join(out, 'manifest.json'), 'utf8');
  assert.is(text, stableStringify(manifest));
  assert.equal(JSON.parse(text), JSON.parse(JSON.stringify(manifest)));
  assert.ok(verifyBytes(Buffer.from(text), readFileSync(join(out, 'manifest.json.sig')), manifest.signingKey));
  assert.is(manifest.signingKey, readFileSync(pubPath, 'utf8'));
  assert.is(manifest.builtAt, '2023-11-14T22:13:20.000Z');
  assert.is(manifest.revision, 'abc123');
  assert.equal(manifest.failures, failures);
  assert.equal(Object.keys(manifest.hosts), ['db1', 'web1']);
  const dbHost = manifest.hosts.db1;
  assert.is(dbHost.tarball, 'hosts/db1.tar.gz');
  assert.is(dbHost.sha256, run('sha256sum', [join(out, 'hosts/db1.tar.gz')]).stdout.split(' ')[0]);
  assert.equal(dbHost.files[1], { path: '/etc/my.cnf', sha256: createHash('sha256').update('[mysqld]\n').digest('hex'), size: 9, mode: '0644', owner: 'root', group: 'root', source: 'Cfg/etc/my.cnf/my.cnf', deltas: ['Cfg/etc/my.cnf/my.cnf.cat'] });
  assert.is(manifest.hosts.web1.files.find((f) => f.path === '/var/www/index.html')!.mode, '0640');
});

test('two builds of the same input with SOURCE_DATE_EPOCH are byte-identical, signatures included', async () => {
  const env = { SOURCE_DATE_EPOCH: EPOCH };
  const hosts = [{ host: 'web1', files: web }, { host: 'db1', files: db }];
  await publishBuild(join(tmp.dir, 'out-a'), input(hosts), key, { env });
  await publishBuild(join(tmp.dir, 'out-b'), input([...hosts].reverse()), key, { env, concurrency: 1 });
  const a = tree(readCurrentBuild(join(tmp.dir, 'out-a'))!.dir);
  const b = tree(readCurrentBuild(join(tmp.dir, 'out-b'))!.dir);
  assert.equal(Object.keys(a), ['hosts/db1.meta.json', 'hosts/db1.meta.json.sig', 'hosts/db1.tar.gz', 'hosts/db1.tar.gz.sig', 'hosts/web1.meta.json', 'hosts/web1.meta.json.sig', 'hosts/web1.tar.gz', 'hosts/web1.tar.gz.sig', 'manifest.json', 'manifest.json.sig']);
  assert.equal(a, b);
});

test('publish switches `current` in one step, keeps the previous build and removes older ones', async () => {
  const out = join(tmp.dir, 'out-switch');
  const v = (n: number) => [{ host: 'web1', files: [file('/etc/motd', `version ${n}\n`)] }];
  await publishBuild(out, input(v(1)), key, { env: {} });
  const first = readCurrentBuild(out)!;
  const held = openSync(join(first.dir, 'hosts/web1.tar.gz'), 'r');
  const firstBytes = readFileSync(join(first.dir, 'hosts/web1.tar.gz'));

  await publishBuild(out, input(v(2)), key, { env: {} });
  const second = readCurrentBuild(out)!;
  assert.is.not(second.dir, first.dir);
  assert.is(readlinkSync(join(out, 'current')), `.builds/${second.dir.split('/').pop()}`);
  assert.ok(readFileSync(join(out, 'hosts/web1.tar.gz')).equals(readFileSync(join(second.dir, 'hosts/web1.tar.gz'))), '<dir>/hosts follows current');
  assert.ok(existsSync(first.dir), 'the previous build is kept');
  assert.ok(readFileSync(join(first.dir, 'hosts/web1.tar.gz')).equals(firstBytes), 'a reader holding the old dir still reads the old build');
  assert.is.not(first.manifest.hosts.web1.sha256, second.manifest.hosts.web1.sha256);

  await publishBuild(out, input(v(3)), key, { env: {} });
  const third = readCurrentBuild(out)!;
  assert.not.ok(existsSync(first.dir), 'builds older than the previous one are removed');
  assert.ok(existsSync(second.dir));
  assert.equal(readdirSync(join(out, '.builds')).sort(), [second.dir, third.dir].map((d) => d.split('/').pop()).sort());
  const buf = Buffer.alloc(firstBytes.length);
  assert.is(readSync(held, buf, 0, buf.length, 0), firstBytes.length);
  closeSync(held);
  assert.ok(buf.equals(firstBytes), 'an open file of a removed build still reads whole');
});

test('a build that fails half-way leaves the current build untouched and no partial build behind', async () => {
  const out = join(tmp.dir, 'out-fail');
  await publishBuild(out, input([{ host: 'web1', files: web }]), key, { env: {} });
  const before = readCurrentBuild(out)!;
  const snapshot = tree(before.dir);
  let written = 0;
  const onHost = () => {
    if (++written === 2) throw new Error('disk full (simulated)');
  };
  const hosts = ['a', 'b', 'c', 'd'].map((h) => ({ host: h, files: db }));
  const e = await rejected(publishBuild(out, input(hosts), key, { env: {}, concurrency: 1, onHost }));
  assert.is(e.code, 'EMIT');
  assert.is(e.location.host, 'b');
  assert.is(readCurrentBuild(out)!.dir, before.dir);
  assert.equal(tree(before.dir), snapshot);
  assert.equal(readdirSync(join(out, '.builds')), [before.dir.split('/').pop()], 'no partial build and no lock left');
});

test('a host name that cannot be a file name is refused before anything is written', async () => {
  const out = join(tmp.dir, 'out-evil');
  const e = await rejected(publishBuild(out, input([{ host: '../evil', files: web }]), key, { env: {} }));
  assert.is(e.code, 'EMIT');
  assert.is(e.location.host, '../evil');
  assert.not.ok(existsSync(out));
});

test('a malformed SOURCE_DATE_EPOCH is a CONFIG error', async () => {
  const e = await rejected(publishBuild(join(tmp.dir, 'out-sde'), input([]), key, { env: { SOURCE_DATE_EPOCH: 'yesterday' } }));
  assert.is(e.code, 'CONFIG');
  assert.match(e.message, /SOURCE_DATE_EPOCH/);
});

test('identical tarballs are hard-linked from the previous build, changed ones are written; every meta is fresh', async () => {
  const out = join(tmp.dir, 'out-reuse');
  await publishBuild(out, input([{ host: 'web1', files: web }, { host: 'db1', files: db }], { revision: 'r1' }), key, { env: {} });
  const first = readCurrentBuild(out)!;
  await publishBuild(out, input([{ host: 'web1', files: web }, { host: 'db1', files: [file('/etc/motd', 'changed\n')] }], { revision: 'r2' }), key, { env: {} });
  const second = readCurrentBuild(out)!;
  const ino = (d: string, name: string) => statSync(join(d, 'hosts', name)).ino;
  assert.is(ino(second.dir, 'web1.tar.gz'), ino(first.dir, 'web1.tar.gz'));
  assert.is.not(ino(second.dir, 'db1.tar.gz'), ino(first.dir, 'db1.tar.gz'));
  assert.is.not(ino(second.dir, 'web1.meta.json'), ino(first.dir, 'web1.meta.json'), 'the meta of a reused tarball is written, not linked');
  const meta = JSON.parse(readFileSync(join(second.dir, 'hosts', 'web1.meta.json'), 'utf8'));
  assert.equal([meta.builtAt, meta.revision, meta.sha256], [second.manifest.builtAt, 'r2', first.manifest.hosts.web1!.sha256]);
  assert.ok(verifyBytes(readFileSync(join(second.dir, 'hosts', 'web1.meta.json')), readFileSync(join(second.dir, 'hosts', 'web1.meta.json.sig')), key.publicKeyPem));
});

test('publish refuses a directory that is not a bindery output, and touches nothing in it', async () => {
  const out = join(tmp.dir, 'out-user');
  mkdirSync(out);
  writeFileSync(join(out, 'notes.txt'), 'mine');
  const e = await rejected(publishBuild(out, input([{ host: 'web1', files: web }]), key, { env: {} }));
  assert.is(e.code, 'EMIT');
  assert.is(e.location.file, out);
  assert.match(e.message, /not a bindery output directory/);
  assert.equal(readdirSync(out), ['notes.txt']);

  const out2 = join(tmp.dir, 'out-user2');
  mkdirSync(join(out2, 'current'), { recursive: true });
  assert.match((await rejected(publishBuild(out2, input([]), key, { env: {} }))).message, /'current' is not bindery's link/);
});

test('a second publisher to the same directory is refused while the first holds the lock; a dead one\'s lock is taken over', async () => {
  const out = join(tmp.dir, 'out-lock');
  await publishBuild(out, input([{ host: 'web1', files: web }]), key, { env: {} });
  const lock = join(out, '.builds', '.lock');
  writeFileSync(lock, `${process.pid}\n`);
  const e = await rejected(publishBuild(out, input([{ host: 'web1', files: web }]), key, { env: {} }));
  assert.match(e.message, new RegExp(`another bindery build \\(pid ${process.pid}\\)`));
  const dead = run(process.execPath, ['-e', '']);
  writeFileSync(lock, `${dead.pid}\n`);
  await publishBuild(out, input([{ host: 'web1', files: web }]), key, { env: {} });
  assert.not.ok(existsSync(lock), 'the lock is released');
});

test('a missing signing key is a CONFIG error that says how to make one', () => {
  const e = thrown(() => loadSigningKey({ env: {} }));
  assert.is(e.code, 'CONFIG');
  assert.ok(e.hint?.includes(OPENSSL_HINT), e.hint);
  const f = thrown(() => loadSigningKey({ path: join(tmp.dir, 'nope.pem'), env: {} }));
  assert.is(f.code, 'CONFIG');
  assert.is(f.location.file, join(tmp.dir, 'nope.pem'));
  assert.ok(f.hint?.includes(OPENSSL_HINT));
});

test('BINDERY_SIGNING_KEY holds the PEM text itself, also with escaped newlines', () => {
  const pem = readFileSync(keyPath, 'utf8');
  const fromEnv = loadSigningKey({ env: { BINDERY_SIGNING_KEY: pem } });
  assert.is(fromEnv.publicKeyPem, key.publicKeyPem);
  const escaped = loadSigningKey({ env: { BINDERY_SIGNING_KEY: pem.trim().replaceAll('\n', '\\n') } });
  assert.is(escaped.publicKeyPem, key.publicKeyPem);
});

test('an invalid signing key is refused without printing it', async () => {
  const pem = readFileSync(keyPath, 'utf8');
  const broken = pem.replace(/\n[A-Za-z0-9+/]{8}/, '\nAAAA');
  const e = thrown(() => loadSigningKey({ env: { BINDERY_SIGNING_KEY: broken } }));
  assert.is(e.code, 'CONFIG');
  assert.ok(e.hint?.includes(OPENSSL_HINT));
  const body = pem.split('\n')[1];
  assert.not.ok(renderMessage(e.toMessage()).includes(body.slice(0, 16)));
  assert.match(thrown(() => loadSigningKey({ path: pubPath, env: {} })).message, /public key, not a private key/);
  const ec = join(tmp.dir, 'ec.pem');
  must('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', ec]);
  assert.match(thrown(() => loadSigningKey({ path: ec, env: {} })).message, /ec key; bindery signs with Ed25519/);
});

test('stableStringify sorts keys at every level, integer-like ones too, and ends with a newline', () => {
  const s = stableStringify({ b: 1, a: { d: [3, { z: 1, y: undefined }], c: null }, '10': true, '9': 'x' });
  assert.is(s, '{\n  "10": true,\n  "9": "x",\n  "a": {\n    "c": null,\n    "d": [\n      3,\n      {\n        "z": 1\n      }\n    ]\n  },\n  "b": 1\n}\n');
  assert.is(stableStringify({ x: [], y: {} }), JSON.stringify({ x: [], y: {} }, null, 2) + '\n');
});

test.run();
