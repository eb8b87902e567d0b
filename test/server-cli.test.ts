/**
 * End to end through the command line: `bindery ca`, `bindery build`, `bindery serve` as a real
 * process, real curl against it, `bindery fetch`, and a server restart in the middle.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { issueToFiles } from '../src/ca/index.ts';
import { bindery, copyFixture, ROOT, run, tempDir } from './helpers.ts';

let tmp: { dir: string; cleanup: () => void };
let repo: { dir: string; cleanup: () => void };
let serveProcess: ChildProcess | null = null;
let url = '';
let ca = '';
let pub = '';
const at = (...p: string[]) => join(tmp.dir, ...p);

/** Start `bindery serve` and wait for its "listening on" line. */
function startServe(): Promise<void> {
  const args = ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'serve', '--build', at('out'), '--repo', repo.dir, '--tls-cert', at('ca/issued/server.test.crt'), '--tls-key', at('ca/issued/server.test.key'), '--ca', at('ca'), '--listen', '127.0.0.1:0', '--state', at('state'), '--log', at('decisions.jsonl'), '--resolver', '127.0.0.1:9'];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  serveProcess = child;
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

function stopServe(): Promise<void> {
  const child = serveProcess;
  serveProcess = null;
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

const curl = (args: string[]) => run('curl', ['-sS', '--cacert', ca, ...args]);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const manifest = () => JSON.parse(readFileSync(at('out/manifest.json'), 'utf8'));

test.before(async () => {
  tmp = tempDir('bindery-serve-cli-');
  repo = copyFixture('server-repo');
  for (const args of [['ca', 'init', at('ca')], ['ca', 'issue', at('ca'), 'server.test', '--server']]) {
    const r = await bindery(args);
    assert.is(r.code, 0, r.stderr);
  }
  // The client certificates in-process (the same code `bindery ca issue` runs; test/ca.test.ts covers the command).
  for (const host of ['web1.example.com', 'db1.example.com', 'new1.example.com']) issueToFiles(at('ca'), host, at('ca', 'issued'));
  ca = at('ca', 'ca.crt');
  assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', at('signing.pem')])).code, 0);
  assert.is((await run('openssl', ['pkey', '-in', at('signing.pem'), '-pubout', '-out', at('signing-pub.pem')])).code, 0);
  pub = at('signing-pub.pem');
  const built = await bindery(['build', repo.dir, '--out', at('out'), '--signing-key', at('signing.pem')]);
  assert.is(built.code, 0, built.stderr);
  await startServe();
});

test.after(async () => {
  await stopServe();
  repo?.cleanup();
  tmp?.cleanup();
});

test('curl with a client certificate (and the global password, cert+password) gets its own tarball', async () => {
  const out = at('web1.tar.gz');
  const r = await curl(['--interface', '127.0.0.2', '--cert', at('ca/issued/web1.example.com.crt'), '--key', at('ca/issued/web1.example.com.key'), '-u', 'root:global-secret', '-o', out, '-w', '%{http_code}', `${url}/v1/config`]);
  assert.is(r.stdout, '200', r.stderr);
  assert.is(sha(readFileSync(out)), manifest().hosts['web1.example.com'].tarball);
  const listing = await run('tar', ['tzf', out]);
  assert.equal(listing.stdout.trim().split('\n'), ['etc/app.conf', 'etc/motd']);
});

test('curl: certificate-only client, no Authorization header; the same certificate from another address is refused', async () => {
  const cert = ['--cert', at('ca/issued/db1.example.com.crt'), '--key', at('ca/issued/db1.example.com.key')];
  const ok = await curl(['--interface', '127.0.0.3', ...cert, '-o', '/dev/null', '-w', '%{http_code}', `${url}/v1/config`]);
  assert.is(ok.stdout, '200', ok.stderr);
  const moved = await curl(['--interface', '127.0.0.9', ...cert, '-D', '-', '-o', '/dev/null', `${url}/v1/config`]);
  assert.match(moved.stdout, /^HTTP\/1\.1 401/);
  assert.match(moved.stdout, /www-authenticate: Basic realm="bindery"/i);
});

test('curl: uuid clients behind one NAT address, each with its own password', async () => {
  const a = await curl(['--interface', '127.0.0.5', '-u', '0d6f0a4e-node1:node1-secret', '-D', '-', '-o', '/dev/null', `${url}/v1/config`]);
  assert.match(a.stdout, /^HTTP\/1\.1 200/);
  assert.match(a.stdout, /bindery-client: node1\.example\.com/i);
  const b = await curl(['--interface', '127.0.0.5', '-u', '7c1b2e9a-node2:node1-secret', '-o', '/dev/null', '-w', '%{http_code}', `${url}/v1/config`]);
  assert.is(b.stdout, '401');
  const noCreds = await curl(['--interface', '127.0.0.5', '-o', '/dev/null', '-w', '%{http_code}', `${url}/v1/config`]);
  assert.is(noCreds.stdout, '401');
});

test('curl: /v1/signing-key is the build\'s public key, and /v1/config.sig verifies with openssl', async () => {
  const key = await curl([`${url}/v1/signing-key`]);
  assert.is(key.stdout, readFileSync(pub, 'utf8'));
  const cred = ['--interface', '127.0.0.3', '--cert', at('ca/issued/db1.example.com.crt'), '--key', at('ca/issued/db1.example.com.key')];
  await curl([...cred, '-o', at('db1.tar.gz'), `${url}/v1/config`]);
  await curl([...cred, '-o', at('db1.tar.gz.sig'), `${url}/v1/config.sig`]);
  const v = await run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', at('db1.tar.gz'), '-sigfile', at('db1.tar.gz.sig')]);
  assert.is(v.code, 0, v.stdout + v.stderr);
});

test('curl: /v1/config.meta is the signed host record naming the client, its signature in a header verifies with openssl', async () => {
  const cred = ['--interface', '127.0.0.3', '--cert', at('ca/issued/db1.example.com.crt'), '--key', at('ca/issued/db1.example.com.key')];
  const r = await curl([...cred, '-D', at('meta.headers'), '-o', at('db1.meta.json'), `${url}/v1/config.meta`]);
  assert.is(r.code, 0, r.stderr);
  const header = /^bindery-meta-signature: (\S+)\r?$/im.exec(readFileSync(at('meta.headers'), 'utf8'));
  assert.ok(header, 'the signature header is there');
  writeFileSync(at('db1.meta.json.sig'), Buffer.from(header![1]!, 'base64'));
  const v = await run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', at('db1.meta.json'), '-sigfile', at('db1.meta.json.sig')]);
  assert.is(v.code, 0, v.stdout + v.stderr);
  const record = JSON.parse(readFileSync(at('db1.meta.json'), 'utf8'));
  assert.equal([record.host, record.tarball.sha256], ['db1.example.com', manifest().hosts['db1.example.com'].tarball]);
});

test('bindery fetch --dry-run prints a unified diff and writes nothing; a real run applies; the next changes nothing', async () => {
  const root = at('root-web1');
  mkdirSync(root);
  const common = ['fetch', '--server', url, '--ca', at('ca'), '--trust', pub, '--state', at('fetch-state'), '--root', root, '--cert', at('ca/issued/web1.example.com.crt'), '--key', at('ca/issued/web1.example.com.key'), '--local-address', '127.0.0.2'];
  const env = { BINDERY_PASSWORD: 'global-secret' };
  const dry = await bindery([...common, '--dry-run'], { env });
  assert.is(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /--- \/dev\/null\n\+\+\+ b\/etc\/motd\n@@ -0,0 \+1,1 @@\n\+Welcome to web1\./);
  assert.match(dry.stderr, /would create \/etc\/motd/);
  assert.equal(readdirSync(root), []);
  const real = await bindery([...common, '--json'], { env });
  assert.is(real.code, 0, real.stderr);
  const result = JSON.parse(real.stdout);
  assert.is(result.client, 'web1.example.com');
  assert.ok(result.reportPosted);
  assert.is(readFileSync(join(root, 'etc/motd'), 'utf8'), 'Welcome to web1.\n');
  assert.is(statSync(join(root, 'etc/app.conf')).mode & 0o777, 0o640);
  const again = await bindery([...common, '--json'], { env });
  assert.ok(JSON.parse(again.stdout).changes.every((c: { action: string }) => c.action === 'unchanged'));
});

test('bindery fetch as user root or a uuid needs --host; a uuid taken for a name is refused, never applied', async () => {
  const base = ['fetch', '--server', url, '--ca', at('ca'), '--trust', pub, '--state', at('fetch-state'), '--json'];
  for (const r of ['root-by-address', 'root-node1']) mkdirSync(at(r));
  const byAddress = [...base, '--user', 'root', '--password', 'global-secret', '--local-address', '127.0.0.2', '--root', at('root-by-address')];
  const noHost = await bindery(byAddress);
  assert.is(noHost.code, 2, noHost.stderr);
  assert.match(noHost.stderr, /--user root does not say this host's name; fetch needs the name to check .*\n  hint: pass --host NAME/);
  const withHost = await bindery([...byAddress, '--host', 'web1.example.com']);
  assert.is(withHost.code, 0, withHost.stderr);
  const result = JSON.parse(withHost.stdout);
  assert.equal([result.client, result.sha256], ['web1.example.com', manifest().hosts['web1.example.com'].tarball]);

  // 0d6f0a4e-node1 is not a standard uuid, so fetch takes it for the host's name: refused, nothing written.
  const byUuid = [...base, '--user', '0d6f0a4e-node1', '--password', 'node1-secret', '--local-address', '127.0.0.5', '--root', at('root-node1')];
  const taken = await bindery(byUuid);
  assert.is(taken.code, 1, taken.stderr);
  assert.match(taken.stderr, /the server sent the configuration of another host \(node1\.example\.com\), not of 0d6f0a4e-node1: nothing was applied/);
  assert.match(taken.stderr, /pass --host NAME/);
  assert.equal(readdirSync(at('root-node1')), []);
  const named = await bindery([...byUuid, '--host', 'node1.example.com']);
  assert.is(named.code, 0, named.stderr);
  assert.is(JSON.parse(named.stdout).client, 'node1.example.com');
});

test('bootstrap through the CLI: the password run works once; after it, and across a server restart, only the certificate', async () => {
  const base = ['fetch', '--server', url, '--ca', at('ca'), '--trust', pub, '--state', at('fetch-state'), '--local-address', '127.0.0.4'];
  const pw = ['--user', 'new1.example.com', '--password-file', at('new1.pw')];
  writeFileSync(at('new1.pw'), 'new1-secret\n', { mode: 0o600 });
  for (const r of ['root-new1', 'root-new1b', 'root-new1c']) mkdirSync(at(r));
  const first = await bindery([...base, ...pw, '--root', at('root-new1')]);
  assert.is(first.code, 0, first.stderr);

  await stopServe();
  await startServe();
  const withUrl = (args: string[]) => args.map((a, i) => (args[i - 1] === '--server' ? url : a));
  const second = await bindery([...withUrl(base), ...pw, '--root', at('root-new1b')]);
  assert.is(second.code, 1);
  assert.match(second.stderr, /refused this client's credentials \(401\)/);
  const byCert = await bindery([...withUrl(base), '--cert', at('ca/issued/new1.example.com.crt'), '--key', at('ca/issued/new1.example.com.key'), '--root', at('root-new1c')]);
  assert.is(byCert.code, 0, byCert.stderr);
});

test('the decision log is one JSON object per line and holds no password', () => {
  const text = readFileSync(at('decisions.jsonl'), 'utf8');
  for (const secret of ['global-secret', 'new1-secret', 'node1-secret', 'node2-secret']) assert.not.ok(text.includes(secret), secret);
  const lines = text.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.some((l) => l.result === 'denied' && l.client === 'node2.example.com' && l.method === 'uuid' && l.address === '127.0.0.5'));
  assert.ok(lines.some((l) => l.result === 'ok' && l.client === 'db1.example.com' && l.method === 'cert'));
});

test('serve start-up errors say which file or address and what to do, exit 2, and never print a stack trace', async () => {
  writeFileSync(at('junk.pem'), 'not a certificate\n');
  const port = new URL(url).port;
  const serve = (over: Record<string, string>) => {
    const opts: Record<string, string> = { build: at('out'), repo: repo.dir, 'tls-cert': at('ca/issued/server.test.crt'), 'tls-key': at('ca/issued/server.test.key'), ca: at('ca'), listen: '127.0.0.1:0', state: at('state'), ...over };
    // Under `timeout`, so a server that starts when it should not fails the test instead of hanging it.
    return run('timeout', ['30', process.execPath, join(ROOT, 'bin/bindery.js'), 'serve', ...Object.entries(opts).flatMap(([k, v]) => [`--${k}`, v])]);
  };
  const [wrongKey, junkCa, busy, noLog, noRepo] = await Promise.all([
    serve({ 'tls-key': at('ca/issued/web1.example.com.key') }),
    serve({ ca: at('junk.pem') }),
    serve({ listen: `127.0.0.1:${port}` }),
    serve({ log: at('no-such-dir/decisions.jsonl') }),
    serve({ repo: at('no-such-repo') }),
  ]);
  const expect = (r: typeof wrongKey, code: number, message: RegExp) => {
    assert.is(r.code, code, r.stderr);
    assert.match(r.stderr, message);
    assert.not.match(r.stderr, /\n\s+at |node:internal|node:events/, 'no stack trace');
  };
  expect(wrongKey, 2, new RegExp(`error\\[config\\]: ${at('ca/issued/web1.example.com.key')}: the server key does not belong to the server certificate`));
  expect(junkCa, 2, new RegExp(`error\\[config\\]: ${at('junk.pem')}: the CA certificate is not a PEM certificate`));
  expect(busy, 2, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE\\n  hint: another process`));
  expect(noLog, 2, /no-such-dir\/decisions\.jsonl: cannot open the decision log: ENOENT/);
  expect(noRepo, 2, /no-such-repo: repository directory does not exist/);
});

test('usage errors exit 2: serve without --build, fetch without credentials', async () => {
  const a = await bindery(['serve', '--repo', repo.dir]);
  assert.is(a.code, 2);
  assert.match(a.stderr, /missing --build/);
  const b = await bindery(['fetch', '--server', url, '--ca', at('ca'), '--trust', pub, '--root', at('x')], { env: { BINDERY_PASSWORD: '' } });
  assert.is(b.code, 2);
  assert.match(b.stderr, /no credentials/);
  const c = await bindery(['fetch', '--server', url, '--ca', at('ca'), '--trust', pub, '--root', at('missing'), '--user', 'root', '--password', 'x']);
  assert.is(c.code, 1);
  assert.match(c.stderr, /is not a directory/);
});

test.run();
