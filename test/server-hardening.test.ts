/**
 * The attacks of the server's red-team pass, each reproduced against a real HTTPS server on
 * 127.0.0.1 (real curl and openssl where they fit): run-report amplification, rate-limit and
 * log flooding, timing of failed logins, weak TLS suites, revoked certificates, dangerous
 * clients.xml settings.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { authenticate, clientHazards, createRateLimiter, indexClients, limitKey, startServer, type Credentials, type RunningServer, type ServerOptions } from '../src/server/index.ts';
import type { SigningKey } from '../src/emit/index.ts';
import type { ClientAuth } from '../src/types.ts';
import { bindery, copyFixture, ROOT, run, tempDir } from './helpers.ts';
import { ask, clientAuth, makePki, makeSigningKey, publish, type Ask, type Pki } from './fixtures/server-kit/index.ts';

const GLOBAL = 'global-pw';
const clients: ClientAuth[] = [
  clientAuth('solo', { addresses: ['127.0.0.7'] }),
  clientAuth('certy', { auth: 'cert', addresses: ['127.0.0.8'] }),
  clientAuth('other', { auth: 'cert', addresses: ['127.0.0.8'] }),
];

let tmp: { dir: string; cleanup: () => void };
let pki: Pki;
let key: SigningKey;
let outDir: string;
let logLines: string[] = [];
const started: RunningServer[] = [];

const options = (over: Partial<ServerOptions> = {}): ServerOptions => ({
  buildDir: outDir,
  tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.caPem, crlFile: join(pki.caDir, 'ca.crl') },
  clients: () => clients,
  policy: { globalPassword: GLOBAL, defaultAuth: 'cert+password' },
  stateDir: join(tmp.dir, `state-${started.length}`),
  host: '127.0.0.1',
  port: 0,
  log: (l) => logLines.push(l),
  resolver: { servers: ['127.0.0.1:9'], timeoutMs: 500 },
  timeouts: { checkEvery: 100 },
  ...over,
});

async function serve(over: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const s = await startServer(options(over));
  started.push(s);
  return s;
}

const get = (s: RunningServer, path: string, a: Ask = {}) => ask(s.url, pki.caPem, path, a);
const solo: Ask = { from: '127.0.0.7', user: 'root', password: GLOBAL };

test.before(async () => {
  tmp = tempDir('bindery-hardening-');
  pki = makePki(tmp.dir);
  key = makeSigningKey(tmp.dir);
  outDir = join(tmp.dir, 'out');
  await publish(outDir, Object.fromEntries(clients.map((c) => [c.hostname, { '/etc/motd': `motd of ${c.hostname}\n` }])), key);
});

test.after(async () => {
  await Promise.all(started.map((s) => s.close()));
  tmp?.cleanup();
});

test('a deeply nested run report (the 150 KB body that became a 450 MB file) is refused at once, and nothing is stored', async () => {
  const s = await serve();
  const depth = 75_000;
  const body = '['.repeat(depth) + ']'.repeat(depth);
  const t0 = performance.now();
  const r = await get(s, '/v1/report', { ...solo, method: 'POST', body: `{"ok":true,"x":${body}}` });
  assert.is(r.status, 400);
  assert.match(JSON.parse(r.body.toString()).error, /nested deeper than 8 levels/);
  assert.ok(performance.now() - t0 < 2000, 'answered without a stall');
  assert.equal(readdirSync(join(tmp.dir, 'state-0', 'reports')), []);
});

test('run reports must have the shape fetch sends; a good one is stored as compact JSON, no bigger than what was sent', async () => {
  const s = await serve();
  const reports = join(tmp.dir, 'state-1', 'reports');
  for (const [body, why] of [
    ['{}', /needs "ok"/],
    ['{"ok":"yes"}', /needs "ok"/],
    ['{"ok":true,"files":{"path":"/etc/motd"}}', /"files" must be a list/],
    ['{"ok":true,"files":[{"path":1,"action":"create"}]}', /needs a string "path"/],
    ['{"ok":true,"note":{"a":1}}', /"note" must be a string, number, boolean, null or a list of them/],
    ['{"ok":true,"note":[[1]]}', /"note" must be a string, number, boolean, null or a list of them/],
    ['{"ok":true,', /not JSON/],
  ] as const) {
    const r = await get(s, '/v1/report', { ...solo, method: 'POST', body });
    assert.is(r.status, 400, body);
    assert.match(JSON.parse(r.body.toString()).error, why);
  }
  assert.equal(readdirSync(reports), []);
  const files = Array.from({ length: 5000 }, (_, i) => ({ path: `/etc/file${i}`, action: 'create' }));
  const body = JSON.stringify({ ok: true, client: 'solo', started: 'x', files, failed: [{ path: '/etc/x', reason: 'EACCES' }], serverFailed: ['/etc/y'] }, null, 2);
  const r = await get(s, '/v1/report', { ...solo, method: 'POST', body });
  assert.is(r.status, 200);
  const stored = readFileSync(join(reports, 'client-solo.json'), 'utf8');
  assert.is(stored.split('\n').length, 2, 'one line: compact JSON');
  assert.ok(stored.length < body.length, `stored ${stored.length} bytes for a ${body.length}-byte report`);
  assert.is(JSON.parse(stored).report.files.length, 5000);
});

test('curl: a report over the size cap is refused with 413 before it is read whole', async () => {
  const s = await serve({ maxReportBytes: 64 * 1024 });
  const file = join(tmp.dir, 'big-report.json');
  writeFileSync(file, JSON.stringify({ ok: true, pad: 'x'.repeat(512 * 1024) }));
  const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', join(pki.caDir, 'ca.crt'), '--interface', '127.0.0.7', '-u', `root:${GLOBAL}`, '--data-binary', `@${file}`, `${s.url}/v1/report`]);
  assert.is(r.stdout, '413', r.stderr);
});

test('an IPv6 source is limited per /64: other addresses of the same /64 share the count, another /64 does not', () => {
  assert.is(limitKey('2001:db8:0:1::5'), '2001:db8:0:1::/64');
  assert.is(limitKey('2001:db8::1:2:3:4'), '2001:db8:0:0::/64');
  assert.is(limitKey('127.0.0.7'), '127.0.0.7');
  const limiter = createRateLimiter({ maxFailures: 3, windowMs: 60_000 });
  for (let i = 1; i <= 3; i++) limiter.recordFailure(`2001:db8:0:1::${i.toString(16)}`, 1000);
  assert.ok(limiter.retryAfter('2001:db8:0:1:ffff::9', 1000) > 0, 'a fresh address of the same /64');
  assert.is(limiter.retryAfter('2001:db8:0:2::1', 1000), 0, 'another /64');
});

test('a flood of new sources cannot evict a limited attacker, nor one close to its limit', () => {
  const limiter = createRateLimiter({ maxFailures: 5, windowMs: 60_000, maxTracked: 100 });
  for (let i = 0; i < 5; i++) limiter.recordFailure('10.0.0.1', 1000);
  for (let i = 0; i < 4; i++) limiter.recordFailure('10.0.0.2', 1000);
  // 10 000 other sources, one failure each, through a table of 100.
  for (let i = 0; i < 10_000; i++) limiter.recordFailure(`10.1.${i >> 8}.${i & 255}`, 1001);
  assert.ok(limiter.retryAfter('10.0.0.1', 1002) > 0, 'the limited source stays limited');
  limiter.recordFailure('10.0.0.2', 1002);
  assert.ok(limiter.retryAfter('10.0.0.2', 1002) > 0, 'the near-limit source kept its count');
  assert.is(limiter.retryAfter('10.0.0.1', 61_001), 0, 'its window still ends');
});

test('when every tracked source is limited, untracked ones share one window instead of resetting anyone', () => {
  const limiter = createRateLimiter({ maxFailures: 2, windowMs: 60_000, maxTracked: 3 });
  for (const a of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) for (let i = 0; i < 2; i++) limiter.recordFailure(a, 1000);
  limiter.recordFailure('10.9.0.1', 1000);
  limiter.recordFailure('10.9.0.2', 1000);
  assert.ok(limiter.retryAfter('10.9.0.3', 1000) > 0, 'the shared window is full');
  for (const a of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) assert.ok(limiter.retryAfter(a, 1000) > 0);
});

test('a client hammering the server after its limit adds a line or two to the log, not one per request', async () => {
  logLines = [];
  const s = await serve({ rateLimit: { maxFailures: 2, windowMs: 60_000 } });
  for (let i = 0; i < 2; i++) assert.is((await get(s, '/v1/config', { ...solo, password: 'guess' })).status, 401);
  const statuses = await Promise.all(Array.from({ length: 60 }, () => get(s, '/v1/config', solo).then((r) => r.status)));
  assert.ok(statuses.every((x) => x === 429));
  await s.close();
  const limited = logLines.map((l) => JSON.parse(l)).filter((e) => e.result === 'limited');
  assert.ok(limited.length <= 2, `${limited.length} lines for 60 refused requests`);
  assert.is(limited.reduce((n, e) => n + (e.count ?? 1), 0), 60, 'the lines account for every request');
});

test('an unknown user costs what a known user with a wrong password does (no timing oracle for client names)', () => {
  const index = indexClients([clientAuth('known.example.com', { password: 'own-password', addresses: ['10.0.0.1'] })]);
  const policy = { globalPassword: 'global-password', defaultAuth: 'cert+password' as const };
  const creds = (user: string): Credentials => ({ cert: null, basic: { user, password: 'a guessed password' }, address: '10.0.0.1' });
  const unknown = creds('nobody.example.com');
  const known = creds('known.example.com');
  // Many short batches, alternating, and the fastest batch of each: a batch takes a fraction of
  // a scheduler time slice, so on a loaded machine some batches of each kind run undisturbed.
  const batch = (c: Credentials) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 40; i++) authenticate(c, index, policy, () => false);
    return Number(process.hrtime.bigint() - t0) / 40 / 1000;
  };
  const measure = () => {
    let u = Infinity;
    let k = Infinity;
    for (let round = 0; round < 1500; round++) {
      u = Math.min(u, batch(unknown));
      k = Math.min(k, batch(known));
    }
    return { u, k };
  };
  // A busy machine can starve one kind for a whole measurement: up to three tries. Without the
  // padding compares the ratio is about 0.24, so an oracle fails all three.
  let m = measure();
  for (let tries = 1; tries < 3 && m.u / m.k <= 0.7; tries++) m = measure();
  assert.ok(m.u / m.k > 0.7, `unknown user ${m.u.toFixed(2)} µs, known user ${m.k.toFixed(2)} µs per decision`);
});

const handshake = (port: number, args: string[]) =>
  run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', join(pki.caDir, 'ca.crt'), ...args], { input: '' });

test('openssl: TLS 1.2 refuses static-RSA and CBC suites, accepts ECDHE with AES-GCM or ChaCha20; TLS 1.3 works', async () => {
  const s = await serve();
  for (const weak of ['AES128-SHA', 'AES256-GCM-SHA384', 'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA384']) {
    const r = await handshake(s.port, ['-tls1_2', '-cipher', `${weak}@SECLEVEL=0`]);
    assert.is.not(r.code, 0, `${weak} must be refused`);
    assert.not.match(r.stdout, new RegExp(`Cipher is ${weak}`));
  }
  for (const strong of ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305']) {
    const r = await handshake(s.port, ['-tls1_2', '-cipher', strong]);
    assert.match(r.stdout, new RegExp(`Cipher is ${strong}`), r.stderr);
  }
  const r13 = await handshake(s.port, ['-tls1_3']);
  assert.match(r13.stdout, /New, TLSv1\.3, Cipher is TLS_/, r13.stderr);
});

test('bindery ca revoke: the CRL verifies with openssl, and a running server refuses the revoked certificate without a restart', async () => {
  logLines = [];
  const s = await serve();
  const certy = pki.client('certy');
  const other = pki.client('other');
  const certyFile = join(tmp.dir, 'certy.crt');
  writeFileSync(certyFile, certy.certPem);
  assert.is((await get(s, '/v1/config', { from: '127.0.0.8', cert: certy })).status, 200);
  const revoked = await bindery(['ca', 'revoke', pki.caDir, certyFile, '--json']);
  assert.is(revoked.code, 0, revoked.stderr);
  const crl = join(pki.caDir, 'ca.crl');
  const check = await run('openssl', ['crl', '-in', crl, '-CAfile', join(pki.caDir, 'ca.crt'), '-noout', '-text']);
  assert.match(check.stderr + check.stdout, /verify OK/);
  assert.match(check.stdout, new RegExp(`Serial Number: ${JSON.parse(revoked.stdout).serial}`));
  // The server polls the file every 100 ms here (every second by default).
  let status = 200;
  for (let i = 0; i < 50 && status === 200; i++) {
    await new Promise((r) => setTimeout(r, 100));
    status = (await get(s, '/v1/config', { from: '127.0.0.8', cert: certy })).status;
  }
  assert.is(status, 401, 'the revoked certificate is refused');
  assert.ok(logLines.some((l) => /certificate not trusted \(CERT_REVOKED\)/.test(l)), 'the log says why');
  assert.is((await get(s, '/v1/config', { from: '127.0.0.8', cert: other })).status, 200, 'other certificates still work');
  const again = await bindery(['ca', 'revoke', pki.caDir, certyFile]);
  assert.match(again.stderr, /already revoked/);
  const foreign = makePki(tmp.dir, 'foreign-ca');
  const foreignFile = join(tmp.dir, 'foreign.crt');
  writeFileSync(foreignFile, foreign.client('certy').certPem);
  const refused = await bindery(['ca', 'revoke', pki.caDir, foreignFile]);
  assert.is(refused.code, 2);
  assert.match(refused.stderr, /not issued by this CA/);
});

test('dangerous clients.xml settings are named: a floating bootstrap client that is not secure, a uuid equal to another client\'s name', () => {
  const found = clientHazards(
    [
      clientAuth('laptop', { auth: 'bootstrap', floating: true }),
      clientAuth('safe-laptop', { auth: 'bootstrap', floating: true, secure: true, password: 'own' }),
      clientAuth('web1.example.com', { addresses: ['10.0.0.1'] }),
      clientAuth('intruder', { uuid: 'web1.example.com', addresses: ['10.0.0.2'] }),
      clientAuth('roamer', { floating: true }),
    ],
    'cert+password',
  );
  assert.equal(
    found.map((d) => [d.code, d.host]),
    [
      ['floating-bootstrap', 'laptop'],
      ['uuid-shadows-name', 'intruder'],
    ],
  );
  assert.equal(clientHazards([clientAuth('roamer', { floating: true })], 'bootstrap').map((d) => d.code), ['floating-bootstrap'], 'the global default counts');
});

test('bindery build and bindery serve warn about them; the sample repository has none', async () => {
  const repo = copyFixture('server-repo');
  try {
    const file = join(repo.dir, 'Metadata', 'clients.xml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('</Clients>', '  <Client name="roam.example.com" profile="web" floating="true" auth="bootstrap"/>\n</Clients>'));
    const signing = join(tmp.dir, 'signing-hazard.pem');
    assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', signing])).code, 0);
    const built = await bindery(['build', repo.dir, '--out', join(tmp.dir, 'hazard-out'), '--signing-key', signing]);
    assert.is(built.code, 0, built.stderr);
    assert.match(built.stderr, /roam\.example\.com is bootstrap, floating and not secure/);
    writeFileSync(join(tmp.dir, 'server.crt'), pki.server.certPem);
    writeFileSync(join(tmp.dir, 'server.key'), pki.server.keyPem);
    const args = ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--build', join(tmp.dir, 'hazard-out'), '--repo', repo.dir, '--tls-cert', join(tmp.dir, 'server.crt'), '--tls-key', join(tmp.dir, 'server.key'), '--ca', pki.caDir, '--listen', '127.0.0.1:0', '--state', join(tmp.dir, 'hazard-state')];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    const stderr = await new Promise<string>((resolve) => {
      let err = '';
      child.stderr!.on('data', (d: Buffer) => {
        err += d;
        if (/listening on https:/.test(err) && /warning/.test(err)) child.kill('SIGTERM');
      });
      child.on('exit', () => resolve(err));
    });
    assert.match(stderr, /roam\.example\.com is bootstrap, floating and not secure/);
    const sampleClients = readFileSync(join(ROOT, 'sample-repo/Metadata/clients.xml'), 'utf8');
    assert.match(sampleClients, /name="laptop\.example\.com"[^>]*auth="bootstrap"[^>]*secure="true"[^>]*password="/);
  } finally {
    repo.cleanup();
  }
});

test.run();
