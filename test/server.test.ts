/**
 * The authenticating file server over real TLS on 127.0.0.1, with real certificates from
 * src/ca and a real build from src/emit. Requests come from 127.0.0.2, .3, … (localAddress),
 * so the address checks are real too.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes, verify as verifySignature } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { request } from 'node:https';
import { startServer, type RunningServer, type ServerOptions } from '../src/server/index.ts';
import { BinderyError } from '../src/errors.ts';
import type { SigningKey } from '../src/emit/index.ts';
import { keyId } from '../src/emit/index.ts';
import { layout, parseHostRecord, type Manifest } from '../src/protocol/index.ts';
import type { ClientAuth } from '../src/types.ts';
import { tempDir } from './helpers.ts';
import { ask, clientAuth, makePki, makeSigningKey, publish, type Ask, type HostFiles, type Pki, type Reply } from './fixtures/server-kit/index.ts';

const HOME = '127.0.0.2';
const NAT = '127.0.0.3';
const GLOBAL = 'global:pw';
const own = (host: string) => `own-${host}`;

// Every mode of the seed's auth table has a client at HOME with its own password.
const MODES = [
  { mode: 'cert', client: 'm-cert', auth: 'cert' },
  { mode: 'cert+password', client: 'm-cp', auth: 'cert+password' },
  { mode: 'default (cert+password)', client: 'm-default', auth: null },
  { mode: 'bootstrap', client: 'm-boot', auth: 'bootstrap' },
] as const;

const clients: ClientAuth[] = [
  ...MODES.map((m) => clientAuth(m.client, { auth: m.auth, password: own(m.client), addresses: [HOME] })),
  // A successful password-only bootstrap run uses the client up; these take those matrix cells.
  clientAuth('m-boot-own', { auth: 'bootstrap', password: own('m-boot-own'), addresses: [HOME] }),
  clientAuth('m-boot-global', { auth: 'bootstrap', password: own('m-boot-global'), addresses: [HOME] }),
  clientAuth('sec', { secure: true, password: own('sec'), addresses: ['127.0.0.5'] }),
  clientAuth('sec-nopw', { secure: true, addresses: ['127.0.0.6'] }),
  clientAuth('float', { floating: true, password: own('float') }),
  clientAuth('noaddr', { password: own('noaddr') }),
  clientAuth('nat-a', { uuid: 'uuid-a', secure: true, password: 'pw-a', addresses: [NAT] }),
  clientAuth('nat-b', { uuid: 'uuid-b', secure: true, password: 'pw-b', addresses: [NAT] }),
  clientAuth('solo', { addresses: ['127.0.0.7', '127.0.0.8'], aliases: [{ name: 'solo-alias', address: '127.0.0.8' }] }),
  clientAuth('boot-twice', { auth: 'bootstrap', password: own('boot-twice'), addresses: ['127.0.0.9'] }),
  clientAuth('boot-race', { auth: 'bootstrap', password: own('boot-race'), addresses: ['127.0.0.9'] }),
  clientAuth('boot-restart', { auth: 'bootstrap', password: own('boot-restart'), addresses: ['127.0.0.9'] }),
  clientAuth('boot-dry', { auth: 'bootstrap', password: own('boot-dry'), addresses: ['127.0.0.9'] }),
];

const hostFiles = (gen: number): HostFiles =>
  Object.fromEntries(clients.map((c) => [c.hostname, { '/etc/motd': `motd of ${c.hostname}, build ${gen}\n`, '/etc/secret': { data: `secret of ${c.hostname}\n`, mode: '0600' } }]));

let tmp: { dir: string; cleanup: () => void };
let pki: Pki;
let otherCa: Pki;
let key: SigningKey;
let outDir: string;
let manifest: Manifest;
let server: RunningServer;
let logLines: string[] = [];
/** Every server a test starts, closed at the end even when the test fails. */
const started: RunningServer[] = [];

const options = (over: Partial<ServerOptions> = {}): ServerOptions => ({
  buildDir: outDir,
  tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.caPem },
  clients: () => clients,
  policy: { globalPassword: GLOBAL, defaultAuth: 'cert+password' },
  stateDir: join(tmp.dir, 'state'),
  host: '127.0.0.1',
  port: 0,
  log: (l) => logLines.push(l),
  rateLimit: { maxFailures: 100_000, windowMs: 60_000 },
  // Nothing answers DNS there: a lookup fails at once, and fails closed (test/server-dns.test.ts has a real resolver).
  resolver: { servers: ['127.0.0.1:9'], timeoutMs: 500 },
  ...over,
});

async function serve(over: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const s = await startServer(options(over));
  started.push(s);
  return s;
}

const get = (path: string, a: Ask = {}, srv = server) => ask(srv.url, pki.caPem, path, a);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function assertServed(r: Reply, host: string, what = ''): void {
  assert.is(r.status, 200, `${what}: expected 200 for ${host}, got ${r.status}`);
  assert.is(r.headers['bindery-client'], host, what);
  assert.is(sha(r.body), manifest.hosts[host]!.tarball, `${what}: the body is ${host}'s tarball`);
}

function assertRefused(r: Reply, what = '', head = false): void {
  assert.is(r.status, 401, `${what}: expected 401, got ${r.status}`);
  assert.is(r.headers['www-authenticate'], 'Basic realm="bindery"', what);
  assert.is(r.body.toString(), head ? '' : 'unauthorized\n', `${what}: a 401 never says which step failed`);
}

const lastLog = () => JSON.parse(logLines[logLines.length - 1]!) as Record<string, unknown>;

test.before(async () => {
  tmp = tempDir('bindery-server-');
  pki = makePki(tmp.dir);
  otherCa = makePki(tmp.dir, 'other-ca');
  key = makeSigningKey(tmp.dir);
  outDir = join(tmp.dir, 'out');
  manifest = await publish(outDir, hostFiles(1), key);
  server = await serve();
});

test.after(async () => {
  await Promise.all(started.map((s) => s.close()));
  tmp?.cleanup();
});

// The seed's table, read row by row: what each auth mode accepts from each kind of credentials.
type Creds = 'cert' | 'password' | 'both' | 'neither';
type Pw = 'own' | 'global' | 'wrong';
function seedTable(mode: (typeof MODES)[number]['mode'], creds: Creds, pw: Pw, rightAddress: boolean): 200 | 401 {
  if (!rightAddress) return 401; // "the ip address is verified against the client record"
  const passwordOk = pw !== 'wrong';
  switch (mode) {
    case 'cert': // "Certificates must be used"
      return creds === 'cert' || creds === 'both' ? 200 : 401;
    case 'cert+password':
    case 'default (cert+password)': // "Certificate or password may be used. If a certificate is used, the password must also be used."
      return (creds === 'password' || creds === 'both') && passwordOk ? 200 : 401;
    case 'bootstrap': // "Password can be used for one client run, after that only certificate is allowed"
      return creds === 'cert' || creds === 'both' || (creds === 'password' && passwordOk) ? 200 : 401;
  }
}

test('the seed\'s auth table: every mode × cert/password/both/neither × own/global/wrong password × right/wrong address', async () => {
  let rows = 0;
  for (const m of MODES) {
    for (const creds of ['cert', 'password', 'both', 'neither'] as const) {
      for (const pw of ['own', 'global', 'wrong'] as const) {
        for (const rightAddress of [true, false]) {
          const expected = seedTable(m.mode, creds, pw, rightAddress);
          const client = m.mode === 'bootstrap' && creds === 'password' && expected === 200 ? `m-boot-${pw}` : m.client;
          const password = pw === 'own' ? own(client) : pw === 'global' ? GLOBAL : 'wrong';
          const a: Ask = {
            from: rightAddress ? HOME : NAT,
            cert: creds === 'cert' || creds === 'both' ? pki.client(client) : undefined,
            user: creds === 'password' || creds === 'both' ? client : undefined,
            password: creds === 'password' || creds === 'both' ? password : undefined,
          };
          const what = `${m.mode}, ${creds}, ${pw} password, ${rightAddress ? 'right' : 'wrong'} address`;
          const r = await get('/v1/config', a);
          if (expected === 200) assertServed(r, client, what);
          else assertRefused(r, what);
          rows++;
        }
      }
    }
  }
  assert.is(rows, 96);
});

test('every decision is one JSON line with client, method, address, result and reason, and no secret in it', () => {
  assert.ok(logLines.length >= 96);
  const text = logLines.join('\n');
  for (const c of clients) if (c.password) assert.not.ok(text.includes(c.password), `the log holds ${c.hostname}'s password`);
  assert.not.ok(text.includes(GLOBAL));
  assert.not.ok(text.includes('uuid-a'));
  for (const line of logLines) {
    const e = JSON.parse(line) as Record<string, unknown>;
    for (const k of ['client', 'method', 'address', 'result']) assert.ok(k in e, `${k} in ${line}`);
    if (e.result === 'denied') assert.type(e.reason, 'string');
  }
});

test('secure: only the client\'s own password; a secure client without one can never connect', async () => {
  assertServed(await get('/v1/config', { from: '127.0.0.5', user: 'sec', password: own('sec') }), 'sec');
  assertRefused(await get('/v1/config', { from: '127.0.0.5', user: 'sec', password: GLOBAL }));
  assertRefused(await get('/v1/config', { from: '127.0.0.6', user: 'sec-nopw', password: GLOBAL }));
  assertRefused(await get('/v1/config', { from: '127.0.0.6', user: 'sec-nopw', password: '' }));
});

test('floating: a floating client connects from any address; a non-floating one without an address needs its DNS name, and an unreachable resolver fails closed', async () => {
  assertServed(await get('/v1/config', { from: '127.0.0.41', user: 'float', password: own('float') }), 'float');
  assertServed(await get('/v1/config', { from: '127.0.0.42', user: 'float', password: GLOBAL }), 'float');
  assertRefused(await get('/v1/config', { from: '127.0.0.41', user: 'noaddr', password: own('noaddr') }));
  assert.match(String(lastLog().reason), /reverse DNS failed \(\w+\): refused until it answers/);
});

test('uuid clients behind a shared NAT address: each gets its own tarball, only through the NAT, only with its own password', async () => {
  assertServed(await get('/v1/config', { from: NAT, user: 'uuid-a', password: 'pw-a' }), 'nat-a');
  assertServed(await get('/v1/config', { from: NAT, user: 'uuid-b', password: 'pw-b' }), 'nat-b');
  assertRefused(await get('/v1/config', { from: NAT, user: 'uuid-a', password: 'pw-b' }), 'a\'s uuid with b\'s password');
  assertRefused(await get('/v1/config', { from: NAT, user: 'uuid-a', password: GLOBAL }), 'secure: not the global password');
  assertRefused(await get('/v1/config', { from: HOME, user: 'uuid-a', password: 'pw-a' }), 'uuid from outside the NAT (decision 13 (docs/decisions.md))');
  assertRefused(await get('/v1/config', { from: NAT, user: 'root', password: 'pw-a' }), 'root behind the NAT is ambiguous');
});

test('user root is identified by its source address, an alias\'s address included', async () => {
  assertServed(await get('/v1/config', { from: '127.0.0.7', user: 'root', password: GLOBAL }), 'solo');
  assertServed(await get('/v1/config', { from: '127.0.0.8', user: 'root', password: GLOBAL }), 'solo');
  assertServed(await get('/v1/config', { from: '127.0.0.8', user: 'solo-alias', password: GLOBAL }), 'solo');
  assertRefused(await get('/v1/config', { from: '127.0.0.77', user: 'root', password: GLOBAL }));
});

test('a certificate from another CA is refused, with or without the right password', async () => {
  assertRefused(await get('/v1/config', { cert: otherCa.client('m-cert') }));
  assert.match(String(lastLog().reason), /not trusted/);
  assertRefused(await get('/v1/config', { cert: otherCa.client('m-cp'), user: 'm-cp', password: own('m-cp') }));
});

test('an expired certificate is refused; the log says why', async () => {
  const expired = pki.client('m-cert', { notBefore: new Date(Date.now() - 10 * 86_400_000), days: 1 });
  assertRefused(await get('/v1/config', { cert: expired }));
  assert.match(String(lastLog().reason), /not trusted \(CERT_HAS_EXPIRED\)/);
});

test('a server certificate of the same CA is not a client certificate', async () => {
  assertRefused(await get('/v1/config', { cert: pki.server, user: 'root', password: GLOBAL, from: '127.0.0.7' }));
  assert.match(String(lastLog().reason), /not trusted \(INVALID_PURPOSE\)/);
});

test('a certificate with another client\'s CN gets that client\'s address check, and cannot borrow a user name', async () => {
  // nat-a's certificate presented from HOME: nat-a's address is the NAT.
  assertRefused(await get('/v1/config', { from: HOME, cert: pki.client('nat-a') }));
  // m-cp's certificate with m-cert's name and password.
  assertRefused(await get('/v1/config', { cert: pki.client('m-cp'), user: 'm-cert', password: own('m-cert') }));
  assert.match(String(lastLog().reason), /user does not match/);
  // A CN nobody lists.
  assertRefused(await get('/v1/config', { cert: pki.client('stranger.example') }));
});

test('a client can never obtain another host\'s tarball: no URL names a client, and paths do not escape', async () => {
  const mine = { from: '127.0.0.7', user: 'root', password: GLOBAL };
  const other = manifest.hosts['m-cert']!.tarball;
  const paths = [
    '/v1/config?host=m-cert',
    '/v1/config?client=m-cert&name=m-cert',
    '/v1/config/m-cert',
    '/v1/config/../../hosts/m-cert.tar.gz',
    '/v1/hosts/m-cert.tar.gz',
    '/hosts/m-cert.tar.gz',
    '/current/hosts/m-cert.tar.gz',
    '/v1/../hosts/m-cert.tar.gz',
    '/%2e%2e/hosts/m-cert.tar.gz',
    '/v1/%2e%2e/hosts/m-cert.tar.gz',
    '//v1/config',
    '/v1//config',
    '/V1/CONFIG',
    '/manifest.json',
  ];
  for (const p of paths) {
    const r = await get(p, mine);
    assert.not.equal(sha(r.body), other, `${p} served m-cert's tarball`);
    if (r.status === 200) assertServed(r, 'solo', p);
    else assert.is(r.status, 404, p);
  }
});

test('ETag is the tarball\'s sha256; If-None-Match gives 304; the signature verifies with the published key', async () => {
  const a = { from: '127.0.0.7', user: 'root', password: GLOBAL };
  const r = await get('/v1/config', a);
  assertServed(r, 'solo');
  assert.is(r.headers.etag, `"${manifest.hosts.solo!.tarball}"`);
  const again = await get('/v1/config', { ...a, headers: { 'if-none-match': r.headers.etag as string } });
  assert.is(again.status, 304);
  assert.is(again.body.length, 0);
  const sig = await get('/v1/config.sig', a);
  assert.is(sig.status, 200);
  assert.is(sig.headers.etag, r.headers.etag, 'the signature names the tarball it belongs to');
  assert.equal(sig.body, Buffer.from(String(r.headers['bindery-signature']), 'base64'));
  const pub = await get('/v1/signing-key', { from: '127.0.0.99' });
  assert.is(pub.status, 200);
  assert.is(pub.body.toString(), key.publicKeyPem);
  assert.ok(verifySignature(null, r.body, pub.body.toString(), sig.body));
  assert.equal(sig.body, readFileSync(join(outDir, 'hosts', 'solo.tar.gz.sig')));
});

test('/v1/config.meta is the host\'s signed record (naming it and its tarball), its signature in a header', async () => {
  const a = { from: '127.0.0.7', user: 'root', password: GLOBAL };
  const recordFile = readFileSync(join(outDir, layout.objectPath(manifest.hosts.solo!.record)));
  const recordSig = readFileSync(join(outDir, layout.signaturePath(manifest.hosts.solo!.record, keyId(key))));
  const r = await get('/v1/config', a);
  assertServed(r, 'solo');
  const m = await get('/v1/config.meta', a);
  assert.is(m.status, 200);
  assert.is(m.headers['content-type'], 'application/json');
  assert.is(m.headers.etag, r.headers.etag, 'the record names the tarball it belongs to');
  assert.equal(m.body, recordFile);
  const metaSig = Buffer.from(String(m.headers['bindery-meta-signature']), 'base64');
  assert.equal(metaSig, recordSig);
  assert.ok(verifySignature(null, m.body, key.publicKeyPem, metaSig), 'the record signature verifies with the build key');
  const record = parseHostRecord(m.body);
  assert.equal([record.host, record.tarball.sha256, record.tarball.size], ['solo', sha(r.body), r.body.length]);
  const head = await get('/v1/config.meta', { ...a, method: 'HEAD' });
  assert.is(head.status, 200);
  assert.is(head.body.length, 0);
  assertRefused(await get('/v1/config.meta', { ...a, password: 'wrong' }));
});

test('healthz answers without credentials; unknown paths are 404, wrong methods 405 with Allow', async () => {
  const h = await get('/healthz', { from: '127.0.0.99' });
  assert.is(h.status, 200);
  assert.ok(JSON.parse(h.body.toString()).ok);
  assert.is((await get('/nope')).status, 404);
  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
    const r = await get('/v1/config', { method, body: '{}' });
    assert.is(r.status, 405, method);
    assert.is(r.headers.allow, 'GET, HEAD', method);
  }
  const r = await get('/v1/report');
  assert.is(r.status, 405);
  assert.is(r.headers.allow, 'POST');
});

test('HEAD answers like GET, without the body', async () => {
  const a = { from: '127.0.0.7', user: 'root', password: GLOBAL };
  const full = await get('/v1/config', a);
  const head = await get('/v1/config', { ...a, method: 'HEAD' });
  assert.is(head.status, 200);
  assert.is(head.body.length, 0);
  assert.is(head.headers.etag, full.headers.etag);
  assert.is(head.headers['content-length'], String(full.body.length));
  assert.is((await get('/healthz', { method: 'HEAD' })).status, 200);
  assertRefused(await get('/v1/config', { ...a, method: 'HEAD', password: 'wrong' }), 'HEAD', true);
});

test('run reports: stored per client, size-limited, JSON objects only', async () => {
  const a = { from: '127.0.0.7', user: 'root', password: GLOBAL, method: 'POST' };
  const ok = await get('/v1/report', { ...a, body: JSON.stringify({ ok: true, files: [] }) });
  assert.is(ok.status, 200);
  const stored = JSON.parse(readFileSync(join(tmp.dir, 'state', 'reports', 'client-solo.json'), 'utf8'));
  assert.is(stored.client, 'solo');
  assert.equal(stored.report, { ok: true, files: [] });
  assert.is((await get('/v1/report', { ...a, body: 'not json' })).status, 400);
  assert.is((await get('/v1/report', { ...a, body: '[1,2]' })).status, 400);
  assert.is((await get('/v1/report', { ...a, body: JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) }) })).status, 413);
  assertRefused(await get('/v1/report', { ...a, password: 'wrong', body: '{}' }));
});

test('bootstrap: the password works for one run (download, then report); after it only the certificate', async () => {
  const pw = { from: '127.0.0.9', user: 'boot-twice', password: own('boot-twice') };
  const first = await get('/v1/config', pw);
  assertServed(first, 'boot-twice', 'first run');
  const token = first.headers['bindery-run'] as string;
  assert.ok(token, 'the bootstrap run gets a token');
  assertRefused(await get('/v1/report', { ...pw, method: 'POST', body: '{"ok":true}' }), 'a report without the run token');
  assert.is((await get('/v1/report', { ...pw, method: 'POST', body: '{"ok":true}', headers: { 'bindery-run': token } })).status, 200);
  assertRefused(await get('/v1/config', pw), 'second run with the password');
  assertRefused(await get('/v1/config', { ...pw, headers: { 'bindery-run': token } }), 'the old token does not reopen it');
  assertServed(await get('/v1/config', { from: '127.0.0.9', cert: pki.client('boot-twice') }), 'boot-twice', 'certificate after bootstrap');
  const state = JSON.parse(readFileSync(join(tmp.dir, 'state', 'bootstrap', 'client-boot-twice.json'), 'utf8'));
  assert.is(state.status, 'done');
  assert.not.ok(JSON.stringify(state).includes(token), 'the token itself is not stored');
});

test('bootstrap: a dry run (or a HEAD) cannot spend the one password run; the real run still can', async () => {
  const pw = { from: '127.0.0.9', user: 'boot-dry', password: own('boot-dry') };
  const dry = await get('/v1/config', { ...pw, headers: { 'bindery-dry-run': '1' } });
  assert.is(dry.status, 409);
  assert.match(JSON.parse(dry.body.toString()).error, /one bootstrap \(password\) run; a dry run cannot use it/);
  assert.is(lastLog().status, 409);
  assertRefused(await get('/v1/config', { ...pw, method: 'HEAD' }), 'a HEAD does not begin the run', true);
  assert.not.ok(existsSync(join(tmp.dir, 'state', 'bootstrap', 'client-boot-dry.json')), 'nothing was claimed');
  const real = await get('/v1/config', pw);
  assertServed(real, 'boot-dry', 'the real run');
  assert.ok(real.headers['bindery-run']);
});

test('bootstrap: of concurrent first runs exactly one wins', async () => {
  const pw = { from: '127.0.0.9', user: 'boot-race', password: own('boot-race') };
  const replies = await Promise.all(Array.from({ length: 12 }, () => get('/v1/config', pw)));
  assert.is(replies.filter((r) => r.status === 200).length, 1);
  assert.is(replies.filter((r) => r.status === 401).length, 11);
});

test('bootstrap: the state survives a server restart in the middle of the run', async () => {
  const stateDir = join(tmp.dir, 'restart-state');
  const pw = { from: '127.0.0.9', user: 'boot-restart', password: own('boot-restart') };
  let s = await serve({ stateDir });
  const first = await get('/v1/config', pw, s);
  assertServed(first, 'boot-restart');
  const token = first.headers['bindery-run'] as string;
  await s.close();
  s = await serve({ stateDir });
  assertRefused(await get('/v1/config', pw, s), 'the run is still claimed after the restart');
  assertServed(await get('/v1/config', { ...pw, headers: { 'bindery-run': token } }, s), 'boot-restart', 'the claimed run may download again with its token');
  assert.is((await get('/v1/report', { ...pw, method: 'POST', body: '{"ok":true}', headers: { 'bindery-run': token } }, s)).status, 200);
  await s.close();
  s = await serve({ stateDir });
  assertRefused(await get('/v1/config', pw, s), 'after the report and another restart');
  assertServed(await get('/v1/config', { from: '127.0.0.9', cert: pki.client('boot-restart') }, s), 'boot-restart');
  await s.close();
});

test('failed logins are rate-limited per source address with 429; other addresses are not affected', async () => {
  const s = await serve({ rateLimit: { maxFailures: 3, windowMs: 60_000 }, stateDir: join(tmp.dir, 'rl-state') });
  for (let i = 0; i < 3; i++) assertRefused(await get('/v1/config', { from: '127.0.0.7', user: 'root', password: 'guess' + i }, s));
  const limited = await get('/v1/config', { from: '127.0.0.7', user: 'root', password: GLOBAL }, s);
  assert.is(limited.status, 429);
  assert.ok(Number(limited.headers['retry-after']) > 0);
  assert.is(lastLog().result, 'limited');
  assertServed(await get('/v1/config', { from: '127.0.0.8', user: 'root', password: GLOBAL }, s), 'solo', 'another address');
});

test('a new build is picked up without a restart, atomically: every response verifies', async () => {
  const a = { from: '127.0.0.7', user: 'root', password: GLOBAL };
  const before = await get('/v1/config', a);
  let stop = false;
  const seen = new Set<string>();
  const poll = async () => {
    while (!stop) {
      const r = await get('/v1/config', a);
      assert.is(r.status, 200);
      assert.is(r.headers.etag, `"${sha(r.body)}"`, 'the ETag is the body\'s sha256');
      assert.ok(verifySignature(null, r.body, key.publicKeyPem, Buffer.from(String(r.headers['bindery-signature']), 'base64')), 'signature matches the body');
      seen.add(sha(r.body));
    }
  };
  const pollers = [poll(), poll(), poll()];
  for (let gen = 2; gen <= 4; gen++) manifest = await publish(outDir, hostFiles(gen), key);
  await new Promise((r) => setTimeout(r, 50));
  stop = true;
  await Promise.all(pollers);
  const after = await get('/v1/config', a);
  assertServed(after, 'solo');
  assert.not.equal(after.headers.etag, before.headers.etag);
  assert.ok(seen.has(manifest.hosts.solo!.tarball));
  const stale = await get('/v1/config', { ...a, headers: { 'if-none-match': before.headers.etag as string } });
  assert.is(stale.status, 200, 'an old ETag no longer matches');
});

test('slow clients cannot hold connections (slowloris): silent, trickling headers, or not reading the answer', async () => {
  const bigOut = join(tmp.dir, 'big-out');
  const big = await publish(bigOut, { solo: { '/var/big': { data: randomBytes(12 * 1024 * 1024), mode: '0644' } } }, key);
  const s = await serve({ buildDir: bigOut, stateDir: join(tmp.dir, 'slow-state'), timeouts: { idle: 500, headers: 600, request: 800, checkEvery: 100 } });
  const closedAfter = (write?: (sock: ReturnType<typeof connect>) => void) =>
    new Promise<number>((resolve) => {
      const t0 = Date.now();
      const sock = connect({ host: '127.0.0.1', port: s.port, ca: pki.caPem, servername: 'localhost' }, () => write?.(sock));
      let timer: NodeJS.Timeout | undefined;
      sock.on('error', () => {});
      sock.resume();
      sock.on('close', () => {
        clearInterval(timer);
        resolve(Date.now() - t0);
      });
      if (write) timer = setInterval(() => sock.writable && sock.write('X-Slow: 1\r\n'), 100);
    });
  /** Stop reading after the headers for a while, then count what still arrives. */
  const stalledReader = () =>
    new Promise<number>((resolve) => {
      const req = request({ host: '127.0.0.1', port: s.port, path: '/v1/config', ca: pki.caPem, localAddress: '127.0.0.7', agent: false, auth: `root:${GLOBAL}` }, (res) => {
        let got = 0;
        res.pause();
        res.on('data', (c: Buffer) => (got += c.length));
        res.on('error', () => {});
        res.on('close', () => resolve(got));
        setTimeout(() => res.resume(), 2000);
      });
      req.on('error', () => {});
      req.end();
    });
  const [silent, trickle, received] = await Promise.all([
    closedAfter(),
    closedAfter((sock) => sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n')),
    stalledReader(),
  ]);
  assert.ok(silent < 3000, `a silent connection was closed after ${silent} ms`);
  assert.ok(trickle < 3000, `trickled headers were cut after ${trickle} ms`);
  const size = readFileSync(join(bigOut, 'hosts', 'solo.tar.gz')).length;
  assert.ok(received < size, `a reader that stalled got all ${size} bytes: its connection was not closed`);
  const prompt = await get('/v1/config', { from: '127.0.0.7', user: 'root', password: GLOBAL }, s);
  assert.is(prompt.status, 200);
  assert.is(sha(prompt.body), big.hosts.solo!.tarball, 'a prompt client is still served');
});

test('start-up refuses what cannot work, naming the file: key of another certificate, not a key, not a CA, expired certificate, state, port', async () => {
  const pem = (name: string, text: string) => {
    const path = join(tmp.dir, name);
    writeFileSync(path, text);
    return path;
  };
  const files = { cert: pem('srv.crt', pki.server.certPem), key: pem('other.key', pki.client('m-cert').keyPem), ca: pem('junk-ca.pem', 'not a certificate\n') };
  const refused = async (over: Partial<ServerOptions>, message: RegExp, file?: string) => {
    try {
      await serve(over);
      assert.unreachable(`started with ${message}`);
    } catch (e) {
      assert.instance(e, BinderyError);
      assert.is((e as BinderyError).code, 'CONFIG');
      assert.match((e as BinderyError).message, message);
      if (file) assert.is((e as BinderyError).location.file, file);
    }
  };
  const tls = { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.caPem, files };
  await refused({ tls: { ...tls, key: pki.client('m-cert').keyPem } }, /the server key does not belong to the server certificate/, files.key);
  await refused({ tls: { ...tls, key: 'junk' } }, /the server key is not an unencrypted PEM private key/, files.key);
  await refused({ tls: { ...tls, ca: 'junk' } }, /the CA certificate is not a PEM certificate/, files.ca);
  const old = issueExpiredServer();
  await refused({ tls: { ...tls, cert: old.certPem, key: old.keyPem } }, /the server certificate expired on/, files.cert);
  await refused({ stateDir: join(files.cert, 'state') }, /cannot use the state directory: ENOTDIR/, join(files.cert, 'state'));
  await refused({ port: server.port }, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${server.port}: EADDRINUSE`));
});

const issueExpiredServer = () => pki.client('server.test', { server: true, notBefore: new Date(Date.now() - 10 * 86_400_000), days: 1 });

test('before the first build is published the server answers 503, and the bootstrap run is not spent', async () => {
  const empty = join(tmp.dir, 'empty-out');
  const s = await serve({ buildDir: empty, stateDir: join(tmp.dir, 'empty-state') });
  const r = await get('/v1/config', { from: '127.0.0.9', user: 'boot-twice', password: own('boot-twice') }, s);
  assert.is(r.status, 503);
  assert.not.ok(existsSync(join(tmp.dir, 'empty-state', 'bootstrap', 'client-boot-twice.json')));
  assert.is((await get('/v1/signing-key', {}, s)).status, 503);
});

test.run();
