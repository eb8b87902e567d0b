/**
 * fetch against a hostile server: a real HTTPS server on 127.0.0.1 (node:https with a
 * certificate of the test CA) that holds the build signing key, as whoever owns the server does,
 * and serves what each test makes it serve: old builds, bodies larger than stated, gzip bombs,
 * slow drips, rotated keys, failed paths. Tarballs are made by GNU tar from real files.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lchownSync, mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { fetchAndApply, type FetchOptions } from '../src/client/index.ts';
import { keyFingerprint, signRotation, type SignedRotation } from '../src/protocol/rotation.ts';
import { signBytes, type SigningKey } from '../src/emit/index.ts';
import { BinderyError } from '../src/errors.ts';
import { reportProblem } from '../src/server/report.ts';
import { HEAD_FORMAT, hostsTree, merkleProof, merkleRoot } from '../src/protocol/head.ts';
import { ROOT, run, tempDir } from './helpers.ts';
import { makePki, makeSigningKey, type Pki } from './fixtures/server-kit/index.ts';

let tmp: { dir: string; cleanup: () => void };
let pki: Pki;
let k0: SigningKey;
let hostile: { url: string; server: Server };
/** What the hostile server does with the next GET /v1/config. */
let answer: (req: IncomingMessage, res: ServerResponse) => void;
/** Run reports posted to it. */
const reports: Record<string, unknown>[] = [];
let seq = 0;

const newDir = (name: string) => {
  const d = join(tmp.dir, `${name}-${++seq}`);
  mkdirSync(d, { recursive: true });
  return d;
};
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A gzip tarball made by GNU tar from real files: path -> content (or { size } for a sparse file of zeros). */
async function tarball(files: Record<string, string | { size: number }>, mode = '0644'): Promise<Buffer> {
  const dir = newDir('tar');
  for (const [path, f] of Object.entries(files)) {
    const abs = join(dir, path);
    mkdirSync(dirname(abs), { recursive: true });
    if (typeof f === 'string') writeFileSync(abs, f);
    else {
      writeFileSync(abs, '');
      truncateSync(abs, f.size);
    }
    chmodSync(abs, parseInt(mode, 8));
  }
  const out = join(dir, '..', `${seq}.tar.gz`);
  const names = Object.keys(files).map((p) => p.slice(1));
  const r = await run('tar', ['-czf', out, '--owner=root', '--group=root', '-C', dir, ...names]);
  assert.is(r.code, 0, `tar (apt-get install tar): ${r.stderr}`);
  return readFileSync(out);
}

interface Build {
  readonly tgz: Buffer;
  readonly record: Record<string, unknown>;
  readonly key: SigningKey;
}

/** One file as a format 2 record lists it. */
const recordFile = (path: string, data: string | Buffer, mode = '0644') => ({ path, sha256: sha256(Buffer.from(data)), size: Buffer.byteLength(data), mode, owner: 'root', group: 'root', source: `Cfg${path}`, deltas: [] });

/** A build of `files` for web1 with its format 2 record (plus a build time); `extra` adds or overrides record fields. */
async function build(files: Record<string, string>, extra: Record<string, unknown> = {}, key = k0): Promise<Build> {
  const tgz = await tarball(files);
  const record = {
    version: 2,
    host: 'web1',
    tarball: { sha256: sha256(tgz), size: tgz.length },
    files: Object.entries(files).map(([path, data]) => recordFile(path, data)),
    failed: [],
    builtAt: '2026-12-01T00:00:00.000Z',
    ...extra,
  };
  return { tgz, record, key };
}

/** What the hostile server does with GET /v1/config.meta (the record, for servers that do not send it with the tarball). */
let answerRecord: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => void res.writeHead(404).end();

/** The record's bytes and their signature (base64). */
const recordHeaders = (b: Build) => {
  const json = Buffer.from(JSON.stringify(b.record));
  return { json, signature: signBytes(json, b.key).toString('base64') };
};

/** Serve `b` at GET /v1/config.meta: the record as the body, its signature in a header. */
function serveRecord(b: Build) {
  answerRecord = (_req, res) => {
    const { json, signature } = recordHeaders(b);
    res.writeHead(200, { 'content-type': 'application/json', 'bindery-meta-signature': signature });
    res.end(json);
  };
}

/** Serve `b` as bindery serve does: the tarball with its signature; its signed record at GET /v1/config.meta. */
function serve(b: Build, body: (res: ServerResponse) => void = (res) => res.end(b.tgz), headers: Record<string, string> = {}) {
  serveRecord(b);
  answer = (req, res) => {
    const etag = `"${sha256(b.tgz)}"`;
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag });
      return void res.end();
    }
    res.writeHead(200, { etag, 'content-type': 'application/gzip', 'bindery-signature': signBytes(b.tgz, b.key).toString('base64'), ...headers });
    body(res);
  };
}

test.before(async () => {
  tmp = tempDir('bindery-client-attacks-');
  pki = makePki(tmp.dir);
  k0 = makeSigningKey(tmp.dir);
  const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    if (req.method === 'POST' && req.url === '/v1/report') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const report = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        // Held to the shape bindery serve accepts.
        const problem = reportProblem(report);
        res.writeHead(problem ? 400 : 200, { 'content-type': 'application/json' });
        if (problem) return void res.end(JSON.stringify({ error: problem }));
        reports.push(report);
        res.end('{"accepted":true}');
      });
      return;
    }
    if (req.url === '/v1/config.meta') return answerRecord(req, res);
    answer(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hostile = { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
});

test.after(async () => {
  hostile.server.closeAllConnections();
  await new Promise((r) => hostile.server.close(r));
  tmp?.cleanup();
});

const opts = (root: string, over: Partial<FetchOptions> = {}): FetchOptions => ({
  server: hostile.url,
  ca: pki.caPem,
  user: 'web1',
  password: 'pw',
  trust: k0.publicKeyPem,
  root,
  stateDir: join(root, '..', `${root.split('/').pop()}-state`),
  chown: false,
  ...over,
});

async function refused(p: Promise<unknown>, message: RegExp): Promise<BinderyError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, BinderyError, String(e));
    assert.match((e as Error).message, message, (e as Error).message);
    return e as BinderyError;
  }
  assert.unreachable('should have been refused');
  throw new Error('unreachable');
}

const motd = (root: string) => readFileSync(join(root, 'etc/motd'), 'utf8');

test('a replayed older build (by serial) is refused once a newer one was applied; --allow-downgrade applies it on purpose', async () => {
  const root = newDir('rollback-serial');
  const old = await build({ '/etc/motd': 'old issue\n' }, { serial: 7 });
  const fresh = await build({ '/etc/motd': 'new issue\n' }, { serial: 8 });
  serve(old);
  await fetchAndApply(opts(root));
  serve(fresh);
  await fetchAndApply(opts(root));
  assert.is(motd(root), 'new issue\n');
  serve(old);
  for (const dryRun of [false, true]) {
    const e = await refused(fetchAndApply(opts(root, { dryRun })), /^the server sent an older build \(serial 7, built .*\) than the one this host applied last \(serial 8, built .*\): nothing was applied$/);
    assert.match(e.hint!, /--allow-downgrade/);
  }
  assert.is(motd(root), 'new issue\n', 'the rollback did not revert the file');
  const r = await fetchAndApply(opts(root, { allowDowngrade: true }));
  assert.is(r.serial, 7);
  assert.is(motd(root), 'old issue\n');
});

test('without a serial the build time decides: an older build is refused', async () => {
  const root = newDir('rollback-time');
  serve(await build({ '/etc/motd': 'february\n' }, { builtAt: '2026-02-01T00:00:00.000Z' }));
  await fetchAndApply(opts(root));
  serve(await build({ '/etc/motd': 'january\n' }, { builtAt: '2026-01-01T00:00:00.000Z' }));
  await refused(fetchAndApply(opts(root)), /older build \(built 2026-01-01T00:00:00\.000Z\) than the one this host applied last \(built 2026-02-01T00:00:00\.000Z\)/);
  assert.is(motd(root), 'february\n');
});

test('the state is kept per server, host and root; a damaged state file is an error, never ignored', async () => {
  const root = newDir('state');
  serve(await build({ '/etc/motd': 'x\n' }, { serial: 3 }));
  const o = opts(root);
  await fetchAndApply(o);
  const dir = join(o.stateDir!, `127.0.0.1_${new URL(hostile.url).port}`);
  const [name, ...others] = readdirSync(dir);
  assert.match(name!, /^web1@[0-9a-f]{16}\.json$/, 'a staging root has its own state file');
  assert.equal(others, []);
  const state = JSON.parse(readFileSync(join(dir, name!), 'utf8'));
  assert.is(state.applied.serial, 3);
  // Another root starts afresh: the same old build is not a rollback there.
  serve(await build({ '/etc/motd': 'older\n' }, { serial: 2 }));
  await refused(fetchAndApply(o), /older build \(serial 2/);
  assert.is((await fetchAndApply(opts(newDir('state-other'), { stateDir: o.stateDir }))).serial, 2);
  writeFileSync(join(dir, name!), '{"version":1');
  const e = await refused(fetchAndApply(o), /state file is damaged/);
  assert.is(e.location.file, join(dir, name!));
});

test('--max-age refuses a build older than allowed (a frozen server), also when the server answers 304', async () => {
  const root = newDir('freeze');
  const day = 86_400_000;
  serve(await build({ '/etc/motd': 'x\n' }, { builtAt: new Date(Date.now() - 3 * day).toISOString() }));
  const e = await refused(fetchAndApply(opts(root, { maxAgeMs: 2 * day })), /longer ago than --max-age allows: nothing was applied$/);
  assert.match(e.hint!, /freeze attack/);
  assert.not.ok(existsSync(join(root, 'etc')));
  await fetchAndApply(opts(root, { maxAgeMs: 4 * day }));
  const unchanged = await fetchAndApply(opts(root, { maxAgeMs: 4 * day }));
  assert.is(unchanged.status, 'unchanged');
  await refused(fetchAndApply(opts(root, { maxAgeMs: 2 * day })), /longer ago than --max-age allows/);
});

test('a user-owned .ssh symlink to etc/sudoers.d is not followed: the key file fails, sudoers.d stays empty, the rest applies', async () => {
  const root = newDir('sudoers');
  mkdirSync(join(root, 'etc/sudoers.d'), { recursive: true });
  mkdirSync(join(root, 'home/deploy'), { recursive: true });
  // The relative link stays inside --root, so only the ownership rule stops it.
  symlinkSync('../../etc/sudoers.d', join(root, 'home/deploy/.ssh'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    // As the attack has it: the user deploy (here nobody) owns its home and the link.
    lchownSync(join(root, 'home/deploy'), 65534, 65534);
    lchownSync(join(root, 'home/deploy/.ssh'), 65534, 65534);
  }
  serve(await build({ '/home/deploy/.ssh/authorized_keys': 'deploy ALL=(ALL) NOPASSWD: ALL\n', '/etc/motd': 'hello\n' }));
  for (const dryRun of [true, false]) {
    const r = await fetchAndApply(opts(root, { dryRun }));
    assert.equal(r.failed, [{ path: '/home/deploy/.ssh/authorized_keys', reason: `/home/deploy/.ssh is a symlink owned by uid ${asRoot ? 65534 : process.getuid!()}, not root: not followed` }]);
  }
  assert.equal(readdirSync(join(root, 'etc/sudoers.d')), []);
  assert.is(motd(root), 'hello\n');
});

test('a root-owned symlink in a root-owned directory (as /lib -> usr/lib) is followed when fetch runs as root; a user\'s is not', async () => {
  const root = newDir('merged-usr');
  mkdirSync(join(root, 'usr/lib'), { recursive: true });
  symlinkSync('usr/lib', join(root, 'lib'));
  serve(await build({ '/lib/systemd/system/app.service': '[Service]\n' }));
  const r = await fetchAndApply(opts(root));
  if (process.getuid?.() === 0) {
    assert.equal(r.failed, []);
    assert.is(readFileSync(join(root, 'usr/lib/systemd/system/app.service'), 'utf8'), '[Service]\n');
  } else {
    // The test user owns the link, so it is not trusted, though fetch runs as that user.
    assert.match(r.failed[0]!.reason, /is a symlink owned by uid \d+, not root/);
  }
});

test('a root-owned symlink is resolved component by component too: a user\'s link on its way is not followed', async () => {
  const root = newDir('link-chain');
  mkdirSync(join(root, 'etc/sudoers.d'), { recursive: true });
  mkdirSync(join(root, 'home/deploy'), { recursive: true });
  symlinkSync('home/deploy/lib', join(root, 'lib'));
  symlinkSync('../../etc/sudoers.d', join(root, 'home/deploy/lib'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    lchownSync(join(root, 'home/deploy'), 65534, 65534);
    lchownSync(join(root, 'home/deploy/lib'), 65534, 65534);
  }
  serve(await build({ '/lib/evil': 'deploy ALL=(ALL) NOPASSWD: ALL\n' }));
  const r = await fetchAndApply(opts(root));
  const uid = asRoot ? 65534 : process.getuid!();
  assert.equal(r.failed, [{ path: '/lib/evil', reason: asRoot ? `/home/deploy/lib is a symlink owned by uid ${uid}, not root: not followed` : `/lib is a symlink owned by uid ${uid}, not root: not followed` }]);
  assert.equal(readdirSync(join(root, 'etc/sudoers.d')), []);
});

test('a symlink or FIFO at the target itself is replaced, never followed or read', async () => {
  const root = newDir('target-link');
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'shadow'), 'secret hash\n');
  symlinkSync('../shadow', join(root, 'etc/motd'));
  serve(await build({ '/etc/motd': 'managed\n' }));
  const dry = await fetchAndApply(opts(root, { dryRun: true }));
  assert.not.match(dry.diff!, /secret hash/);
  assert.is(dry.changes[0]!.action, 'create');
  await fetchAndApply(opts(root));
  assert.is(readFileSync(join(root, 'shadow'), 'utf8'), 'secret hash\n');
  assert.is(motd(root), 'managed\n');
});

test('a body larger than the signed record states is cut at that size, streamed to disk and refused', async () => {
  const root = newDir('huge');
  const b = await build({ '/etc/motd': 'x\n' });
  let sent = 0;
  const chunk = Buffer.alloc(1 << 20);
  serve(b, (res) => {
    // Chunked, no Content-Length: 1 GiB unless the client hangs up first.
    const pump = () => {
      while (sent < 1 << 30 && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('close', () => {});
    pump();
  });
  const rss = process.memoryUsage().rss;
  await refused(fetchAndApply(opts(root)), new RegExp(`^the server sent at least \\d+ bytes, more than the ${b.tgz.length} its signed record states: nothing was applied$`));
  assert.ok(sent < 64 << 20, `the client stopped reading early (${sent} bytes sent)`);
  assert.ok(process.memoryUsage().rss - rss < 128 << 20, 'the body was not held in memory');
  assert.not.ok(existsSync(join(root, 'etc')));
});

test('a declared Content-Length over the stated size is refused before the body is read', async () => {
  const root = newDir('declared');
  const b = await build({ '/etc/motd': 'x\n' });
  // It claims 1 GiB and sends 4 KiB, then waits: only the declared length can refuse it in time.
  serve(b, (res) => void res.write(Buffer.alloc(4096)), { 'content-length': String(b.tgz.length + (1 << 30)) });
  await refused(fetchAndApply(opts(root, { timeoutMs: 5000 })), new RegExp(`^the server sent ${b.tgz.length + (1 << 30)} bytes, more than the ${b.tgz.length} its signed record states`));
  serve(b);
  await fetchAndApply(opts(root));
  assert.is(motd(root), 'x\n');
});

test('a signed gzip bomb is refused once its output passes what the record states', async () => {
  const root = newDir('bomb');
  // 512 MiB of zeros, about 500 KiB gzipped, validly signed; the record says it is 10 bytes.
  const tgz = await tarball({ '/etc/motd': { size: 512 << 20 } });
  const record = { version: 2, host: 'web1', tarball: { sha256: sha256(tgz), size: tgz.length }, files: [recordFile('/etc/motd', Buffer.alloc(10))], failed: [] };
  serve({ tgz, record, key: k0 });
  const rss = process.memoryUsage().rss;
  const started = Date.now();
  const e = await refused(fetchAndApply(opts(root)), /^the configuration unpacks to more than \d+ bytes, more than its signed record states: nothing was applied$/);
  assert.match(e.hint!, /gzip bomb/);
  assert.ok(process.memoryUsage().rss - rss < 128 << 20, 'the output was not held in memory');
  assert.ok(Date.now() - started < 5000, 'refused early, not after unpacking it all');
  assert.not.ok(existsSync(join(root, 'etc')));
});

test('a file whose content is not what the record states, or one the record does not list, is refused', async () => {
  const root = newDir('files');
  const b = await build({ '/etc/motd': 'real\n' });
  serve({ ...b, record: { ...b.record, files: [recordFile('/etc/motd', 'other\n')] } });
  await refused(fetchAndApply(opts(root)), /^\/etc\/motd in the tarball is not the content its signed record states/);
  serve({ ...b, record: { ...b.record, files: [] } });
  await refused(fetchAndApply(opts(root)), /holds \/etc\/motd, which its signed record does not list/);
  assert.not.ok(existsSync(join(root, 'etc')));
});

test('a slow-drip server is cut off at the overall deadline, though it is never idle', async () => {
  const root = newDir('drip');
  const b = await build({ '/etc/motd': 'x\n' });
  let timer: NodeJS.Timeout | undefined;
  serve(b, (res) => {
    let i = 0;
    timer = setInterval(() => (i < b.tgz.length ? res.write(b.tgz.subarray(i, ++i)) : res.end()), 200);
    res.on('close', () => clearInterval(timer));
  });
  const started = Date.now();
  await refused(fetchAndApply(opts(root, { timeoutMs: 1500 })), /^the run took longer than its deadline \(--timeout\)/);
  clearInterval(timer);
  const took = Date.now() - started;
  assert.ok(took >= 1400 && took < 4000, `cut off at the deadline (${took} ms)`);
  assert.not.ok(existsSync(join(root, 'etc')));
});

const newKey = (name: string) => makeSigningKey(tmp.dir, `${name}-${++seq}.pem`);
const rotate = (from: SigningKey, to: SigningKey): SignedRotation => signRotation(from.privateKey, to.publicKeyPem, new Date('2026-12-02T00:00:00Z'));

test('a rotated key is followed from the pinned one and remembered; the retired key and keys never announced are refused', async () => {
  const root = newDir('rotate');
  const k1 = newKey('k1');
  const k2 = newKey('k2');
  const r1 = rotate(k0, k1);
  serve(await build({ '/etc/motd': 'signed by k1\n' }, { serial: 1, keyChain: [r1] }, k1));
  const first = await fetchAndApply(opts(root));
  assert.is(first.keyRotations, 1);
  assert.is(motd(root), 'signed by k1\n');

  // The retired key (perhaps stolen) signs a newer build: refused, though it is the pinned --trust.
  serve(await build({ '/etc/motd': 'signed by k0\n' }, { serial: 2 }, k0));
  await refused(fetchAndApply(opts(root)), /signed record does not verify with the trusted key/);
  // A key nobody announced: refused.
  serve(await build({ '/etc/motd': 'signed by k2\n' }, { serial: 2 }, k2));
  await refused(fetchAndApply(opts(root)), /does not verify with the trusted key/);
  // k1 announces k2: followed one more step, from the remembered k1.
  serve(await build({ '/etc/motd': 'signed by k2\n' }, { serial: 3, keyChain: [r1, rotate(k1, k2)] }, k2));
  const second = await fetchAndApply(opts(root));
  assert.is(second.keyRotations, 1);
  assert.is(motd(root), 'signed by k2\n');

  // A fresh host pinned to k0 walks the whole chain at once.
  const fresh = newDir('rotate-fresh');
  assert.is((await fetchAndApply(opts(fresh))).keyRotations, 2);
});

test('a forged rotation record (naming the pinned key, signed by the new one) is refused', async () => {
  const root = newDir('forged');
  const evil = newKey('evil');
  // A record claiming k0 retired itself for evil, signed by evil: k0's holder never signed it.
  const bytes = Buffer.from(JSON.stringify({ version: 1, kind: 'bindery-key-rotation', previousKey: k0.publicKeyPem, newKey: evil.publicKeyPem, createdAt: '2026-12-02T00:00:00Z' }));
  const chain = [{ record: bytes.toString('base64'), signature: signBytes(bytes, evil).toString('base64') }];
  serve(await build({ '/etc/motd': 'evil\n' }, { keyChain: chain }, evil));
  await refused(fetchAndApply(opts(root)), /^a key rotation record naming the trusted key is not signed by it: nothing was applied$/);
  assert.not.ok(existsSync(join(root, 'etc')));
});

test('bindery signing-key rotate writes the chain beside the new key, and fetch follows it; extending a chain from a key it does not end at is refused', async () => {
  const dir = newDir('rotate-cli');
  const old = newKey('cli-old');
  const next = newKey('cli-new');
  const third = newKey('cli-third');

  const bindery = (...args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'bindery.js'), ...args]);
  const keyFile = (k: SigningKey) => {
    const f = join(dir, `${keyFingerprint(k.publicKeyPem).slice(0, 8)}.pem`);
    writeFileSync(f, k.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    return f;
  };
  const r = await bindery('signing-key', 'rotate', '--signing-key', keyFile(old), '--new-key', keyFile(next), '--json');
  assert.is(r.code, 0, r.stderr);
  const chain = `${keyFile(next)}.chain.json`;
  assert.equal(JSON.parse(r.stdout), { ok: true, chain, rotations: 1, previousKey: keyFingerprint(old.publicKeyPem), newKey: keyFingerprint(next.publicKeyPem) }, 'written beside the new key');
  // That chain ends at `next`: extending it from `old` would fork it.
  const forked = await bindery('signing-key', 'rotate', '--signing-key', keyFile(old), '--new-key', keyFile(third), '--chain', chain);
  assert.is(forked.code, 2, forked.stderr);
  assert.match(forked.stderr, /the key rotation chain ends at the key with fingerprint [0-9a-f]{16}…, not at the signing key given/);

  const root = newDir('rotate-cli-root');
  serve(await build({ '/etc/motd': 'rotated\n' }, { keyChain: JSON.parse(readFileSync(chain, 'utf8')) }, next));
  const applied = await fetchAndApply(opts(root, { trust: old.publicKeyPem }));
  assert.is(applied.keyRotations, 1);
  assert.is(motd(root), 'rotated\n');

  // The next rotation starts from the chain beside the current key on its own.
  const again = await bindery('signing-key', 'rotate', '--signing-key', keyFile(next), '--new-key', keyFile(third), '--json');
  assert.is(again.code, 0, again.stderr);
  assert.is(JSON.parse(again.stdout).rotations, 2);
  serve(await build({ '/etc/motd': 'rotated twice\n' }, { keyChain: JSON.parse(readFileSync(`${keyFile(third)}.chain.json`, 'utf8')) }, third));
  const fresh = newDir('rotate-cli-fresh');
  assert.is((await fetchAndApply(opts(fresh, { trust: old.publicKeyPem }))).keyRotations, 2);
  assert.is((await fetchAndApply(opts(root, { trust: old.publicKeyPem }))).keyRotations, 1, 'from the key the state remembers');
});

test('a build published between the tarball\'s headers and its record is fetched again; the record\'s size caps a chunked body', async () => {
  const root = newDir('record-route');
  const a = await build({ '/etc/motd': 'build a\n' }, { serial: 1 });
  const b = await build({ '/etc/motd': 'build b\n' }, { serial: 2 });
  // The tarball with its signature only, as servers that keep the record out of the headers send it.
  const tarballOnly = (x: Build) => (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { etag: `"${sha256(x.tgz)}"`, 'content-length': String(x.tgz.length), 'bindery-signature': signBytes(x.tgz, x.key).toString('base64') });
    res.end(x.tgz);
  };
  let gets = 0;
  // First GET: build a's tarball, but b was published before its record is asked for.
  answer = (req, res) => (++gets === 1 ? tarballOnly(a) : tarballOnly(b))(req, res);
  serveRecord(b);
  const r = await fetchAndApply(opts(root));
  assert.is(gets, 2, 'fetched again');
  assert.is(r.serial, 2);
  assert.is(motd(root), 'build b\n');
  // A server that keeps pairing a's tarball with b's record is refused.
  answer = tarballOnly(a);
  await refused(fetchAndApply(opts(newDir('record-route-stuck'))), /keeps sending a tarball other than the one its signed record describes/);
  // The size the route's record states caps the body.
  const big = await build({ '/etc/motd': 'big\n' }, { serial: 3 });
  answer = (_req, res) => {
    res.writeHead(200, { etag: `"${sha256(big.tgz)}"`, 'bindery-signature': signBytes(big.tgz, k0).toString('base64') });
    res.write(big.tgz);
    res.end(Buffer.alloc(1 << 20));
  };
  serveRecord(big);
  await refused(fetchAndApply(opts(root)), new RegExp(`more than the ${big.tgz.length} its signed record states`));
  answerRecord = (_req, res) => void res.writeHead(404).end();
});

test('each file\'s mode and owners must be the record\'s; a record with neither serial nor build time gets a rollback warning', async () => {
  const root = newDir('modes');
  const b = await build({ '/etc/motd': 'v2\n' }, { builtAt: undefined });
  serve({ ...b, record: { ...b.record, files: [recordFile('/etc/motd', 'v2\n', '4755')] } });
  await refused(fetchAndApply(opts(root)), /^\/etc\/motd in the tarball has mode 0644 root:root, not the 4755 root:root its signed record states/);
  serve(b);
  const first = await fetchAndApply(opts(root));
  assert.equal(first.warnings, [], 'nothing to compare with on the first run');
  assert.is(motd(root), 'v2\n');
  // Without a serial or a build time, a later run cannot tell old from new: it says so.
  serve(await build({ '/etc/motd': 'v2 again\n' }, { builtAt: undefined }));
  const second = await fetchAndApply(opts(root));
  assert.equal(second.warnings.map((w) => w.code), ['fetch-unordered-build']);
  assert.is(motd(root), 'v2 again\n');
});

test('paths the server could not bind are reported and left untouched, in the result and the run report', async () => {
  const root = newDir('failed-paths');
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/ganglia.conf'), 'local, kept\n');
  reports.length = 0;
  const b = await build({ '/etc/motd': 'bound\n', '/etc/ganglia.conf': 'must not be applied\n' }, { failed: [{ path: '/etc/ganglia.conf', message: 'TemplateError: ganglia needs the group' }] });
  serve(b);
  const r = await fetchAndApply(opts(root));
  assert.equal(r.serverFailed, ['/etc/ganglia.conf']);
  assert.equal(r.failed, []);
  assert.is(readFileSync(join(root, 'etc/ganglia.conf'), 'utf8'), 'local, kept\n');
  assert.is(motd(root), 'bound\n');
  assert.equal(reports.at(-1)!.failed, [{ path: '/etc/ganglia.conf', reason: 'the server could not bind it; left untouched', unbound: true }]);
  assert.is(reports.at(-1)!.ok, true);
  assert.equal((reports.at(-1)!.files as { path: string }[]).map((f) => f.path), ['/etc/motd']);
});

/**
 * Serve `b` with a build head signed by its key over the hosts web1 (this record) and `others`;
 * `head` overrides head fields, `proof` replaces the proof steps, and a header left out of
 * `only` is not sent.
 */
function serveWithHead(b: Build, over: { head?: Record<string, unknown>; proof?: (p: string[]) => unknown; others?: string[]; only?: string[] } = {}) {
  serve(b);
  const json = Buffer.from(JSON.stringify(b.record));
  const hosts = Object.fromEntries([['web1', { record: sha256(json) }], ...(over.others ?? ['db1', 'db2']).map((h) => [h, { record: sha256(Buffer.from(h)) }])]);
  const { names, levels } = hostsTree(hosts);
  const head = Buffer.from(JSON.stringify({ format: HEAD_FORMAT, serial: 50, builtAt: new Date().toISOString(), revision: 'abc123', keyId: keyFingerprint(b.key.publicKeyPem).slice(0, 16), hostsRoot: merkleRoot(levels), ...over.head }));
  const steps = merkleProof(levels, names.indexOf('web1'));
  const headers: Record<string, string> = {
    'bindery-meta-signature': signBytes(json, b.key).toString('base64'),
    'bindery-head': head.toString('base64'),
    'bindery-head-signature': signBytes(head, b.key).toString('base64'),
    'bindery-head-proof': Buffer.from(JSON.stringify(over.proof ? over.proof(steps) : steps)).toString('base64'),
  };
  answerRecord = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', ...Object.fromEntries(Object.entries(headers).filter(([k]) => !over.only || k === 'bindery-meta-signature' || over.only.includes(k))) });
    res.end(json);
  };
}

test('the build head orders a build whose record states no serial or time, and is what the state remembers', async () => {
  const root = newDir('head-orders');
  serveWithHead(await build({ '/etc/motd': 'headed\n' }, { builtAt: undefined }));
  const r = await fetchAndApply(opts(root, { maxAgeMs: 60_000 }));
  assert.equal([r.serial, r.revision, r.warnings], [50, 'abc123', []]);
  const stateDir = opts(root).stateDir!;
  const [server] = readdirSync(stateDir);
  const [file] = readdirSync(join(stateDir, server!));
  assert.is(JSON.parse(readFileSync(join(stateDir, server!, file!), 'utf8')).applied.serial, 50);
  serveWithHead(await build({ '/etc/motd': 'older\n' }, { builtAt: undefined }), { head: { serial: 49 } });
  await refused(fetchAndApply(opts(root)), /^the server sent an older build \(serial 49, built .*, from abc123\) than the one this host applied last \(serial 50, /);
  assert.is(motd(root), 'headed\n');
});

test('a changed, missing or reordered proof step, a missing proof or head signature, or a head naming another key is refused; nothing is written', async () => {
  const b = await build({ '/etc/motd': 'x\n' }, { builtAt: undefined });
  const cases: [Parameters<typeof serveWithHead>[1], RegExp][] = [
    [{ proof: (p) => p.map((s, i) => (i === 0 ? s.slice(0, 2) + (s[2] === 'a' ? 'b' : 'a') + s.slice(3) : s)) }, /^the build head's proof does not show this record \(sha256 [0-9a-f]{64}\) as web1's in that build: nothing was applied$/],
    [{ proof: (p) => p.slice(1) }, /proof does not show this record/],
    [{ proof: (p) => [...p].reverse() }, /proof does not show this record/],
    [{ proof: () => 'not a list' }, /proof does not show this record/],
    [{ only: ['bindery-head', 'bindery-head-signature'] }, /proof does not show this record/],
    [{ only: ['bindery-head', 'bindery-head-proof'] }, /^the build head does not verify with the trusted key: nothing was applied$/],
    [{ head: { keyId: '0000000000000000' } }, /^the build head names signing key 0000000000000000, not the key that signed it: nothing was applied$/],
    [{ head: { format: 'bindery-build-head-0' } }, /^the build head is of format "bindery-build-head-0", not bindery-build-head-1: nothing was applied$/],
  ];
  for (const [over, message] of cases) {
    const root = newDir('head-tampered');
    serveWithHead(b, { others: ['db1', 'db2', 'db3'], ...over });
    await refused(fetchAndApply(opts(root)), message);
    assert.equal(readdirSync(root), [], String(message));
    assert.not.ok(existsSync(opts(root).stateDir!), 'no state was saved');
  }
});

test('once an ordered build was applied, a build without a head (stripped) is refused; --allow-downgrade applies it', async () => {
  const root = newDir('head-stripped');
  serveWithHead(await build({ '/etc/motd': 'ordered\n' }, { builtAt: undefined }));
  await fetchAndApply(opts(root));
  serve(await build({ '/etc/motd': 'stripped\n' }, { builtAt: undefined }));
  await refused(fetchAndApply(opts(root)), /^the server sent a build that states no serial or build time \(no build head\), but this host last applied an ordered build: nothing was applied$/);
  assert.is(motd(root), 'ordered\n');
  await fetchAndApply(opts(root, { allowDowngrade: true }));
  assert.is(motd(root), 'stripped\n');
});

test.run();
