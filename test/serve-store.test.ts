/**
 * bindery serve --build s3://… against a real S3 server (RADOS Gateway): clients download while a
 * new build is published and switched to, the store goes away and comes back (a real TCP proxy
 * in front of the gateway is closed), and a build signed by another key is refused.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { issueToFiles } from '../src/ca/index.ts';
import { bindery, copyFixture, ROOT, run, tempDir } from './helpers.ts';
import { startRgw, type Rgw } from './rgw.ts';

let rgw: Rgw;
let tmp: { dir: string; cleanup: () => void };
let repo: { dir: string; cleanup: () => void };
let serve: ChildProcess | null = null;
let url = '';
let storeUrl = '';
const at = (...p: string[]) => join(tmp.dir, ...p);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A TCP proxy in front of the gateway: closing it is a store outage as the server sees one. */
let proxy: { server: Server; sockets: Set<Socket>; port: number } | null = null;
function openProxy(port = 0): Promise<number> {
  const target = new URL(rgw.endpoint);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const p = (server.address() as { port: number }).port;
      proxy = { server, sockets, port: p };
      resolve(p);
    });
  });
}
function closeProxy(): Promise<void> {
  const p = proxy;
  proxy = null;
  if (!p) return Promise.resolve();
  for (const s of p.sockets) s.destroy();
  return new Promise((resolve) => p.server.close(() => resolve()));
}

const curl = (args: string[]) => run('curl', ['-sS', '--cacert', at('ca', 'ca.crt'), ...args]);
const db1 = () => ['--interface', '127.0.0.3', '--cert', at('ca/issued/db1.example.com.crt'), '--key', at('ca/issued/db1.example.com.key')];

async function health(): Promise<{ store: { reachable: boolean; serial: number | null; error: string | null } }> {
  const r = await curl([`${url}/healthz`]);
  return JSON.parse(r.stdout);
}

async function waitFor(what: string, ok: () => Promise<boolean>, seconds = 30): Promise<void> {
  for (let i = 0; i < seconds * 5; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.unreachable(`timed out waiting for ${what}`);
}

async function buildAndPublish(key = at('signing.pem')): Promise<void> {
  const b = await bindery(['build', repo.dir, '--out', at('out'), '--signing-key', key, '--publish', storeUrl, '--endpoint', rgw.endpoint], { env: rgw.env });
  assert.is(b.code, 0, b.stderr);
}

const manifestSha = (host: string) => JSON.parse(readFileSync(at('out/manifest.json'), 'utf8')).hosts[host].tarball as string;

function startServe(endpoint: string): Promise<void> {
  const args = [join(ROOT, 'bin/bindery.js'), 'serve', '--build', storeUrl, '--endpoint', endpoint, '--poll', '1', '--repo', repo.dir, '--tls-cert', at('ca/issued/server.test.crt'), '--tls-key', at('ca/issued/server.test.key'), '--ca', at('ca'), '--listen', '127.0.0.1:0', '--state', at('state'), '--log', at('decisions.jsonl')];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...rgw.env, NO_COLOR: '1' } });
  serve = child;
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
      const m = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m) {
        url = m[1]!;
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`bindery serve exited with ${code}: ${err}`)));
  });
}

test.before(async () => {
  tmp = tempDir('bindery-serve-store-');
  repo = copyFixture('server-repo');
  rgw = await startRgw();
  for (const args of [['ca', 'init', at('ca')], ['ca', 'issue', at('ca'), 'server.test', '--server']]) {
    const r = await bindery(args);
    assert.is(r.code, 0, r.stderr);
  }
  issueToFiles(at('ca'), 'db1.example.com', at('ca', 'issued'));
  for (const k of ['signing.pem', 'other.pem']) assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', at(k)])).code, 0);
  storeUrl = `s3://${await rgw.bucket()}/site`;
  await buildAndPublish();
  const port = await openProxy();
  await startServe(`http://127.0.0.1:${port}`);
});

test.after(async () => {
  if (serve && serve.exitCode === null) {
    const child = serve;
    child.removeAllListeners('exit');
    await new Promise<void>((resolve) => {
      child.on('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
  await closeProxy();
  await rgw?.stop();
  repo?.cleanup();
  tmp?.cleanup();
});

test('a client gets its tarball from the build published to the store, and /healthz names the store and its serial', async () => {
  const h = await health();
  assert.is(h.store.reachable, true);
  assert.is(h.store.serial, 1);
  const r = await curl([...db1(), '-o', at('db1.tar.gz'), '-w', '%{http_code}', `${url}/v1/config`]);
  assert.is(r.stdout, '200', r.stderr);
  assert.is(sha(readFileSync(at('db1.tar.gz'))), manifestSha('db1.example.com'));
});

test('a new build published while clients download is switched to; every download is a whole tarball of one build or the other', async () => {
  const old = manifestSha('db1.example.com');
  let stop = false;
  const seen: string[] = [];
  const loop = async (n: number) => {
    while (!stop) {
      const file = at(`dl-${n}.tar.gz`);
      const r = await curl([...db1(), '-o', file, '-w', '%{http_code}', `${url}/v1/config`]);
      assert.is(r.stdout, '200', r.stderr);
      seen.push(sha(readFileSync(file)));
    }
  };
  const loops = [loop(1), loop(2), loop(3)];
  writeFileSync(join(repo.dir, 'Cfg/etc/motd/motd'), 'a new message of the day\n');
  await buildAndPublish();
  const fresh = manifestSha('db1.example.com');
  assert.is.not(fresh, old);
  await waitFor('the server to switch to serial 2', async () => (await health()).store.serial === 2);
  // Downloads go on a little after the switch.
  await new Promise((r) => setTimeout(r, 500));
  stop = true;
  await Promise.all(loops);
  assert.ok(seen.length > 3, `${seen.length} downloads`);
  for (const s of seen) assert.ok(s === old || s === fresh, 'a whole tarball of one build');
  assert.is(seen.at(-1), fresh);
  const log = readFileSync(at('decisions.jsonl'), 'utf8');
  assert.match(log, /"event":"switched"/);
});

test('a store outage: the last good build is still served and /healthz says the store is unreachable; it recovers', async () => {
  const port = proxy!.port;
  await closeProxy();
  await waitFor('healthz to report the outage', async () => (await health()).store.reachable === false);
  const h = await health();
  assert.match(String(h.store.error), /cannot reach the store/);
  assert.is(h.store.serial, 2);
  const r = await curl([...db1(), '-o', at('outage.tar.gz'), '-w', '%{http_code}', `${url}/v1/config`]);
  assert.is(r.stdout, '200', r.stderr);
  assert.is(sha(readFileSync(at('outage.tar.gz'))), manifestSha('db1.example.com'));
  await openProxy(port);
  await waitFor('the store to be reachable again', async () => (await health()).store.reachable === true);
});

test('a build signed by another key is not switched to, and /healthz says why', async () => {
  const served = manifestSha('db1.example.com');
  writeFileSync(join(repo.dir, 'Cfg/etc/motd/motd'), 'signed by a stranger\n');
  await buildAndPublish(at('other.pem'));
  await waitFor('the refusal', async () => /not signed by the trusted key/.test(String((await health()).store.error)));
  assert.is((await health()).store.serial, 2);
  const r = await curl([...db1(), '-o', at('after.tar.gz'), `${url}/v1/config`]);
  assert.is(r.code, 0, r.stderr);
  assert.is(sha(readFileSync(at('after.tar.gz'))), served);
});

test.run();
