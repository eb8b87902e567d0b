/**
 * Clients without a listed address, checked by reverse DNS against a real resolver: Debian's
 * dnsmasq on 127.0.0.1 serving a test zone, the server pointed at it with `resolver` (the
 * `--resolver` option of bindery serve). Requests come from 127.0.0.21, .22, … so the PTR
 * records are real lookups of real source addresses.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { join } from 'node:path';
import { startServer, type RunningServer, type ServerOptions } from '../src/server/index.ts';
import type { ClientAuth } from '../src/types.ts';
import { tempDir } from './helpers.ts';
import { ask, clientAuth, makePki, makeSigningKey, publish, type Ask, type Pki } from './fixtures/server-kit/index.ts';

const DNSMASQ = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq'].find((p) => spawnSync(p, ['--version']).status === 0);
if (!DNSMASQ) throw new Error('these tests need dnsmasq: apt-get install dnsmasq');

const GLOBAL = 'global-pw';
const clients: ClientAuth[] = [clientAuth('laptop.test', { password: 'laptop-pw' }), clientAuth('desk.test', { password: 'desk-pw', addresses: ['127.0.0.30'] })];

let tmp: { dir: string; cleanup: () => void };
let pki: Pki;
let outDir: string;
let dnsmasq: ChildProcess;
let dnsPort = 0;
let queries = '';
let logLines: string[] = [];
let silent: Socket;
const started: RunningServer[] = [];

const freeUdpPort = () =>
  new Promise<number>((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function serve(over: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const s = await startServer({
    buildDir: outDir,
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.caPem },
    clients: () => clients,
    policy: { globalPassword: GLOBAL, defaultAuth: 'cert+password' },
    stateDir: join(tmp.dir, `state-${started.length}`),
    host: '127.0.0.1',
    port: 0,
    log: (l) => logLines.push(l),
    resolver: { servers: [`127.0.0.1:${dnsPort}`], timeoutMs: 1000 },
    ...over,
  });
  started.push(s);
  return s;
}

const get = (s: RunningServer, a: Ask) => ask(s.url, pki.caPem, '/v1/config', a);
const lastLog = () => JSON.parse(logLines[logLines.length - 1]!) as Record<string, unknown>;
const ptrQueries = (octet: number) => queries.split('\n').filter((l) => l.includes(`query[PTR] ${octet}.0.0.127.in-addr.arpa`)).length;

test.before(async () => {
  tmp = tempDir('bindery-dns-');
  pki = makePki(tmp.dir);
  outDir = join(tmp.dir, 'out');
  await publish(outDir, Object.fromEntries(clients.map((c) => [c.hostname, { '/etc/motd': `motd of ${c.hostname}\n` }])), makeSigningKey(tmp.dir));
  dnsPort = await freeUdpPort();
  dnsmasq = spawn(
    DNSMASQ!,
    [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--pid-file=',
      '--bind-interfaces',
      '--listen-address=127.0.0.1',
      `--port=${dnsPort}`,
      '--log-queries',
      '--log-facility=-',
      '--local=/test/',
      '--local=/127.in-addr.arpa/',
      '--local-ttl=300',
      // laptop.test: PTR and A agree.
      '--host-record=laptop.test,127.0.0.21',
      // The attack: 127.0.0.22's owner points its PTR at laptop.test, whose A record is not 127.0.0.22.
      '--ptr-record=22.0.0.127.in-addr.arpa,laptop.test',
      // 127.0.0.23 has no PTR at all.
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  dnsmasq.stdout!.on('data', (d: Buffer) => (queries += d));
  dnsmasq.stderr!.on('data', (d: Buffer) => (queries += d));
  const probe = new Resolver({ timeout: 200, tries: 1 });
  probe.setServers([`127.0.0.1:${dnsPort}`]);
  for (let i = 0; ; i++) {
    try {
      await probe.resolve4('laptop.test');
      break;
    } catch (e) {
      if (i > 50 || dnsmasq.exitCode !== null) throw new Error(`dnsmasq did not start: ${queries}`, { cause: e });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // A "resolver" that reads queries and never answers.
  silent = createSocket('udp4');
  silent.on('message', () => {});
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
});

test.after(async () => {
  await Promise.all(started.map((s) => s.close()));
  dnsmasq?.kill();
  silent?.close();
  tmp?.cleanup();
});

test('a client with no address in clients.xml is served from the address whose PTR names it and whose name resolves back', async () => {
  const s = await serve();
  const r = await get(s, { from: '127.0.0.21', user: 'laptop.test', password: 'laptop-pw' });
  assert.is(r.status, 200);
  assert.is(r.headers['bindery-client'], 'laptop.test');
});

test('user root from an unlisted address is the client its forward-confirmed DNS name names', async () => {
  const s = await serve();
  const r = await get(s, { from: '127.0.0.21', user: 'root', password: GLOBAL });
  assert.is(r.status, 200);
  assert.is(r.headers['bindery-client'], 'laptop.test');
});

test('a PTR record pointing at a client\'s name from another address is not believed: the name does not resolve back', async () => {
  logLines = [];
  const s = await serve();
  const r = await get(s, { from: '127.0.0.22', user: 'laptop.test', password: 'laptop-pw' });
  assert.is(r.status, 401);
  assert.match(String(lastLog().reason), /PTR laptop\.test does not resolve back to the address/);
  assert.is((await get(s, { from: '127.0.0.22', user: 'root', password: GLOBAL })).status, 401, 'nor does it identify user root');
});

test('an address without a PTR record is refused, and the log says so', async () => {
  logLines = [];
  const s = await serve();
  assert.is((await get(s, { from: '127.0.0.23', user: 'laptop.test', password: 'laptop-pw' })).status, 401);
  assert.match(String(lastLog().reason), /no PTR record/);
});

test('an address clients.xml gives to another client is refused without asking DNS', async () => {
  const s = await serve();
  const before = ptrQueries(30);
  assert.is((await get(s, { from: '127.0.0.30', user: 'laptop.test', password: 'laptop-pw' })).status, 401);
  assert.is(ptrQueries(30), before);
});

test('answers are cached: the second request from the same address asks the resolver nothing', async () => {
  const s = await serve();
  const a = { from: '127.0.0.21', user: 'laptop.test', password: 'laptop-pw' };
  assert.is((await get(s, a)).status, 200);
  await new Promise((r) => setTimeout(r, 100));
  const asked = ptrQueries(21);
  for (let i = 0; i < 3; i++) assert.is((await get(s, a)).status, 200);
  await new Promise((r) => setTimeout(r, 100));
  assert.is(ptrQueries(21), asked);
});

test('a resolver that never answers fails closed after its timeout, and is asked again next time', async () => {
  logLines = [];
  const s = await serve({ resolver: { servers: [`127.0.0.1:${silent.address().port}`], timeoutMs: 300 } });
  const t0 = Date.now();
  assert.is((await get(s, { from: '127.0.0.21', user: 'laptop.test', password: 'laptop-pw' })).status, 401);
  assert.ok(Date.now() - t0 < 3000, 'refused within the timeout');
  assert.match(String(lastLog().reason), /reverse DNS failed \(ETIMEOUT\): refused until it answers/);
});

test.run();
