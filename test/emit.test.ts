import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { abortPublish, beginPublish, emitHost, finishPublish, hostTarball, keyId, loadSigningKey, readCurrentBuild, signBytes, stableStringify, verifyBytes, type BuildSummary, type EmittedHost, type SigningKey } from '../src/emit/index.ts';
import { layout, parseHostRecord, type Manifest } from '../src/protocol/index.ts';
import { BinderyError } from '../src/errors.ts';
import { renderMessage } from '../src/cli/render.ts';
import type { BindFailure, BoundFile } from '../src/types.ts';
import { spawnSync } from 'node:child_process';
import { fileTree as tree, tempDir } from './helpers.ts';

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

interface Host {
  readonly host: string;
  readonly files: readonly BoundFile[];
  readonly failures?: readonly BindFailure[];
}

/** Every object and signature in an output directory's store (relative to it), sorted. */
function objects(out: string): string[] {
  const dir = join(out, 'objects');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((sub) => readdirSync(join(dir, sub)).map((n) => `objects/${sub}/${n}`)).sort();
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

test('the same files give byte-identical tarballs, whatever order they come in', async () => {
  const a = hostTarball(web);
  const b = hostTarball([...web].reverse());
  assert.ok(a.equals(b));
  assert.not.ok(a.equals(hostTarball(web, { mtime: 1 })), 'the mtime is part of the bytes');
});

test('the gzip header is fixed: no mtime, no name, no level flag, Unix as the OS', async () => {
  const gz = hostTarball(web);
  assert.equal([...gz.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
});

test('real tar lists the entries sorted, with their modes, owner names and the fixed mtime', async () => {
  const dir = join(tmp.dir, 'list');
  mkdirSync(dir);
  writeFileSync(join(dir, 'web.tar.gz'), hostTarball(web, { mtime: Number(EPOCH) }));
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
  writeFileSync(join(dir, 'db.tar.gz'), hostTarball(db));
  const list = run('tar', ['-tzf', 'db.tar.gz'], { cwd: dir });
  assert.equal(list.stdout.trim().split('\n'), ['etc/motd', 'etc/my.cnf']);
  const r = run('tar', ['-xzf', 'db.tar.gz', '--no-same-owner'], { cwd: dir });
  assert.is(r.code, 0, r.stderr);
  assert.is(readFileSync(join(dir, 'etc/motd'), 'utf8'), 'welcome to db1\n');
  assert.is(readFileSync(join(dir, 'etc/my.cnf'), 'utf8'), '[mysqld]\n');
});

/** Publish hosts the way `bindery build` does: begin, emit each host into the store, finish. */
function publish(out: string, hosts: readonly Host[], extra: Partial<BuildSummary> = {}, env: NodeJS.ProcessEnv = {}): Manifest {
  const pub = beginPublish(out, key, { env });
  const hashes = new WeakMap();
  const emitted: EmittedHost[] = [];
  try {
    for (const h of hosts) emitted.push(emitHost(pub.target, h.host, h.files, h.failures ?? [], hashes));
  } catch (e) {
    abortPublish(pub, emitted.flatMap((h) => h.created));
    throw e;
  }
  return finishPublish(pub, { hosts: emitted, failures: hosts.flatMap((h) => h.failures ?? []), skipped: [], warnings: [], revision: null, ...extra });
}

const record = (out: string, m: Manifest, host: string) => readFileSync(join(out, layout.objectPath(m.hosts[host]!.record)));
const recordSig = (out: string, m: Manifest, host: string) => join(out, layout.signaturePath(m.hosts[host]!.record, keyId(key)));

test('an invalid mode is an EMIT error naming the path, and the host when emitted', () => {
  const bad = [file('/etc/motd', 'x', 'rw-r--r--')];
  const e1 = thrown(() => hostTarball(bad));
  assert.is(e1.code, 'EMIT');
  assert.is(e1.location.path, '/etc/motd');
  const out = join(tmp.dir, 'out-badmode');
  const e2 = thrown(() => publish(out, [{ host: 'web1', files: web }, { host: 'db1', files: bad }]));
  assert.is(e2.code, 'EMIT');
  assert.equal([e2.location.host, e2.location.path], ['db1', '/etc/motd']);
  assert.match(e2.message, /invalid mode 'rw-r--r--'/);
  assert.is(readCurrentBuild(out), null, 'nothing is published');
  assert.equal(objects(out), [], 'what the aborted build stored is removed');
});

test('a path that is not clean and absolute, and a long owner name, are refused', () => {
  for (const p of ['etc/motd', '/etc/../motd', '/etc//motd', '/etc/motd/']) {
    assert.is(thrown(() => hostTarball([file(p, 'x')])).location.path, p);
  }
  assert.match(thrown(() => hostTarball([file('/x', 'x', '0644', 'u'.repeat(33))])).message, /invalid owner/);
});

test('a name too long for ustar gets a pax header, which real tar reads', () => {
  const long = '/srv/' + 'deep/'.repeat(40) + 'file.conf';
  const dir = join(tmp.dir, 'pax');
  mkdirSync(dir);
  writeFileSync(join(dir, 'p.tar.gz'), hostTarball([file(long, 'x\n'), file('/etc/ünïcode', 'u\n')]));
  const r = run('tar', ['-tzf', 'p.tar.gz'], { cwd: dir, env: { LC_ALL: 'C.UTF-8' } });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n'), ['etc/ünïcode', long.slice(1)]);
});

test('publish writes hosts/<host>.tar.gz and its signature (links into objects/), which real openssl verifies', () => {
  const out = join(tmp.dir, 'out-openssl');
  const m = publish(out, [{ host: 'web1', files: web }, { host: 'db1', files: db }]);
  for (const host of ['web1', 'db1']) {
    assert.is(realpathSync(join(out, 'hosts', `${host}.tar.gz`)), join(realpathSync(out), layout.objectPath(m.hosts[host]!.tarball)));
    const r = run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pubPath, '-rawin', '-in', join(out, 'hosts', `${host}.tar.gz`), '-sigfile', join(out, 'hosts', `${host}.tar.gz.sig`)]);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Signature Verified Successfully/);
  }
  const v = run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pubPath, '-rawin', '-in', join(out, 'manifest.json'), '-sigfile', join(out, 'manifest.json.sig')]);
  assert.is(v.code, 0, v.stdout + v.stderr);
});

test('each host has a signed record naming it, its tarball\'s sha256 and size, and every file; real openssl verifies it', () => {
  const out = join(tmp.dir, 'out-record');
  const failures = [{ host: 'db1', path: '/etc/broken', file: 'Cfg/etc/broken/broken.genshi', line: 3, message: 'boom' }];
  const m = publish(out, [{ host: 'web1', files: web }, { host: 'db1', files: db, failures }]);
  const bytes = record(out, m, 'db1');
  const sha256 = run('sha256sum', [join(out, 'hosts', 'db1.tar.gz')]).stdout.split(' ')[0];
  assert.is(createHash('sha256').update(bytes).digest('hex'), m.hosts.db1!.record, 'the record is named by its sha256');
  const r = parseHostRecord(bytes);
  assert.equal(r.tarball, { sha256, size: statSync(join(out, 'hosts', 'db1.tar.gz')).size });
  assert.is(r.host, 'db1');
  assert.equal(r.files[1], { path: '/etc/my.cnf', sha256: createHash('sha256').update('[mysqld]\n').digest('hex'), size: 9, mode: '0644', owner: 'root', group: 'root', source: 'Cfg/etc/my.cnf/my.cnf', deltas: ['Cfg/etc/my.cnf/my.cnf.cat'] });
  assert.equal(r.failed, [{ path: '/etc/broken', file: 'Cfg/etc/broken/broken.genshi', line: 3, message: 'boom' }]);
  assert.not.ok(/builtAt|revision/.test(bytes.toString()), 'no build time or revision in a record');
  assert.is(bytes.toString(), stableStringify(r, { compact: true }), 'compact stable JSON');
  const ok = run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pubPath, '-rawin', '-in', join(out, layout.objectPath(m.hosts.db1!.record)), '-sigfile', recordSig(out, m, 'db1')]);
  assert.is(ok.code, 0, ok.stdout + ok.stderr);
  const other = run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pubPath, '-rawin', '-in', join(out, layout.objectPath(m.hosts.db1!.record)), '-sigfile', recordSig(out, m, 'web1')]);
  assert.is.not(other.code, 0, 'another host\'s record signature does not verify');
});

test('a tampered tarball fails verification, in openssl and in verifyBytes', () => {
  const dir = join(tmp.dir, 'tamper');
  mkdirSync(dir);
  const gz = hostTarball(web);
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

test('the manifest is stable JSON of O(hosts): per host its record and tarball hashes, with failures, warnings and a serial; signed', () => {
  const out = join(tmp.dir, 'out-manifest');
  const failures = [{ host: 'db1', path: '/etc/broken', file: 'Cfg/etc/broken/broken.genshi', line: 3, message: 'boom' }];
  const m = publish(out, [{ host: 'web1', files: web }, { host: 'db1', files: db, failures }], { skipped: ['x'], warnings: [{ code: 'W', message: 'w' }], revision: 'abc123' }, { SOURCE_DATE_EPOCH: EPOCH });
  const text = readFileSync(join(out, 'manifest.json'), 'utf8');
  assert.is(text, stableStringify(m));
  assert.ok(verifyBytes(Buffer.from(text), readFileSync(join(out, 'manifest.json.sig')), m.signingKey));
  assert.is(m.signingKey, readFileSync(pubPath, 'utf8'));
  assert.equal([m.version, m.builtAt, m.revision, m.serial], [2, '2023-11-14T22:13:20.000Z', 'abc123', Number(EPOCH)]);
  assert.equal(m.failures, failures);
  assert.equal(Object.keys(m.hosts), ['db1', 'web1']);
  assert.equal(Object.keys(m.hosts.db1!), ['record', 'tarball']);
  assert.is(m.hosts.db1!.tarball, run('sha256sum', [join(out, 'hosts/db1.tar.gz')]).stdout.split(' ')[0]);
});

test('the serial grows with every build, even when the clock says otherwise', () => {
  const out = join(tmp.dir, 'out-serial');
  const a = publish(out, [{ host: 'web1', files: web }], {}, { SOURCE_DATE_EPOCH: EPOCH });
  const b = publish(out, [{ host: 'web1', files: web }], {}, { SOURCE_DATE_EPOCH: EPOCH });
  const c = publish(out, [{ host: 'web1', files: web }], {}, { SOURCE_DATE_EPOCH: '1000' });
  assert.equal([a.serial, b.serial, c.serial], [Number(EPOCH), Number(EPOCH) + 1, Number(EPOCH) + 2]);
  assert.ok(publish(out, [{ host: 'web1', files: web }]).serial >= Math.floor(Date.now() / 1000) - 5, 'without SOURCE_DATE_EPOCH: at least the time in seconds');
});

test('two builds of the same input with SOURCE_DATE_EPOCH are byte-identical, signatures included', () => {
  const env = { SOURCE_DATE_EPOCH: EPOCH };
  const hosts = [{ host: 'web1', files: web }, { host: 'db1', files: db }];
  publish(join(tmp.dir, 'out-a'), hosts, {}, env);
  publish(join(tmp.dir, 'out-b'), [...hosts].reverse(), {}, env);
  const a = tree(readCurrentBuild(join(tmp.dir, 'out-a'))!.dir);
  const b = tree(readCurrentBuild(join(tmp.dir, 'out-b'))!.dir);
  assert.equal(Object.keys(a), ['head.json', 'head.json.sig', 'hosts/db1.tar.gz', 'hosts/db1.tar.gz.sig', 'hosts/web1.tar.gz', 'hosts/web1.tar.gz.sig', 'manifest.json', 'manifest.json.sig']);
  assert.equal(a, b);
  assert.equal(tree(join(tmp.dir, 'out-a', 'objects')), tree(join(tmp.dir, 'out-b', 'objects')));
});

test('identical hosts share one tarball object; objects are written once and never rewritten', () => {
  const out = join(tmp.dir, 'out-share');
  const m1 = publish(out, [{ host: 'web1', files: web }, { host: 'web2', files: web }, { host: 'db1', files: db }]);
  assert.is(m1.hosts.web1!.tarball, m1.hosts.web2!.tarball);
  assert.is.not(m1.hosts.web1!.record, m1.hosts.web2!.record, 'each host has its own record');
  assert.is(objects(out).filter((n) => !n.endsWith('.sig')).length, 2 + 3, 'two tarballs, three records');
  const stamp = (rel: string) => statSync(join(out, rel)).mtimeMs + ':' + statSync(join(out, rel)).ino;
  const before = Object.fromEntries(objects(out).map((n) => [n, stamp(n)]));
  const m2 = publish(out, [{ host: 'web1', files: web }, { host: 'web2', files: web }, { host: 'db1', files: [file('/etc/motd', 'changed\n')] }], { revision: 'r2' });
  assert.is(m2.hosts.web1!.record, m1.hosts.web1!.record, 'an unchanged host\'s record is byte-identical, whatever the build time and revision');
  for (const host of ['web1', 'web2']) {
    for (const rel of [layout.objectPath(m2.hosts[host]!.tarball), layout.objectPath(m2.hosts[host]!.record), layout.signaturePath(m2.hosts[host]!.record, keyId(key))]) {
      assert.is(stamp(rel), before[rel], `${rel} was not rewritten`);
    }
  }
  assert.is.not(m2.hosts.db1!.tarball, m1.hosts.db1!.tarball);
});

test('publish switches `current` in one step, keeps the previous build and removes older builds and their objects', () => {
  const out = join(tmp.dir, 'out-switch');
  const v = (n: number) => [{ host: 'web1', files: [file('/etc/motd', `version ${n}\n`)] }];
  publish(out, v(1));
  const first = readCurrentBuild(out)!;
  const held = openSync(join(first.dir, 'hosts/web1.tar.gz'), 'r');
  const firstBytes = readFileSync(join(first.dir, 'hosts/web1.tar.gz'));

  publish(out, v(2));
  const second = readCurrentBuild(out)!;
  assert.is.not(second.dir, first.dir);
  assert.is(readlinkSync(join(out, 'current')), `.builds/${second.dir.split('/').pop()}`);
  assert.ok(readFileSync(join(out, 'hosts/web1.tar.gz')).equals(readFileSync(join(second.dir, 'hosts/web1.tar.gz'))), '<dir>/hosts follows current');
  assert.ok(readFileSync(join(first.dir, 'hosts/web1.tar.gz')).equals(firstBytes), 'a reader holding the old dir still reads the old build');

  publish(out, v(3));
  const third = readCurrentBuild(out)!;
  assert.not.ok(existsSync(first.dir), 'builds older than the previous one are removed');
  assert.not.ok(existsSync(join(out, layout.objectPath(first.manifest.hosts.web1!.tarball))), 'and objects no kept build refers to');
  assert.ok(existsSync(join(out, layout.objectPath(second.manifest.hosts.web1!.tarball))));
  assert.equal(readdirSync(join(out, '.builds')).sort(), [second.dir, third.dir].map((d) => d.split('/').pop()).sort());
  const buf = Buffer.alloc(firstBytes.length);
  assert.is(readSync(held, buf, 0, buf.length, 0), firstBytes.length);
  closeSync(held);
  assert.ok(buf.equals(firstBytes), 'an open file of a removed build still reads whole');
});

test('a build that fails half-way leaves the output directory exactly as it was', () => {
  const out = join(tmp.dir, 'out-fail');
  publish(out, [{ host: 'web1', files: web }]);
  const snapshot = tree(out);
  const hosts = [{ host: 'a', files: db }, { host: 'b', files: [file('/etc/x', 'new content\n')] }, { host: 'c', files: [file('/etc/x', 'y', 'bad')] }];
  const e = thrown(() => publish(out, hosts));
  assert.is(e.code, 'EMIT');
  assert.is(e.location.host, 'c');
  assert.equal(tree(out), snapshot, 'same files, same bytes: the aborted build\'s objects are gone, no partial build and no lock left');
});

test('a host name that cannot be a file name is refused before anything of it is written', () => {
  const out = join(tmp.dir, 'out-evil');
  const e = thrown(() => publish(out, [{ host: '../evil', files: web }]));
  assert.is(e.code, 'EMIT');
  assert.is(e.location.host, '../evil');
  assert.equal(objects(out), []);
  assert.is(readCurrentBuild(out), null);
});

test('a malformed SOURCE_DATE_EPOCH is a CONFIG error', () => {
  const e = thrown(() => publish(join(tmp.dir, 'out-sde'), [], {}, { SOURCE_DATE_EPOCH: 'yesterday' }));
  assert.is(e.code, 'CONFIG');
  assert.match(e.message, /SOURCE_DATE_EPOCH/);
});

test('publish refuses a directory that is not a bindery output, and touches nothing in it', () => {
  const out = join(tmp.dir, 'out-user');
  mkdirSync(out);
  writeFileSync(join(out, 'notes.txt'), 'mine');
  const e = thrown(() => publish(out, [{ host: 'web1', files: web }]));
  assert.is(e.code, 'EMIT');
  assert.is(e.location.file, out);
  assert.match(e.message, /not a bindery output directory/);
  assert.equal(readdirSync(out), ['notes.txt']);

  const out2 = join(tmp.dir, 'out-user2');
  mkdirSync(join(out2, 'current'), { recursive: true });
  assert.match(thrown(() => publish(out2, [])).message, /'current' is not bindery's link/);
});

test('a second publisher to the same directory is refused while the first holds the lock; a dead one\'s lock is taken over', () => {
  const out = join(tmp.dir, 'out-lock');
  publish(out, [{ host: 'web1', files: web }]);
  const lock = join(out, '.builds', '.lock');
  writeFileSync(lock, `${process.pid}\n`);
  const e = thrown(() => publish(out, [{ host: 'web1', files: web }]));
  assert.match(e.message, new RegExp(`another bindery build \\(pid ${process.pid}\\)`));
  const dead = run(process.execPath, ['-e', '']);
  writeFileSync(lock, `${dead.pid}\n`);
  publish(out, [{ host: 'web1', files: web }]);
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
