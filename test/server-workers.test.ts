/**
 * `bindery serve --workers 2` as real processes: several server processes on one port must keep
 * a bootstrap client's one password run exactly-once, and count failed logins together.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bindery, copyFixture, ROOT, run, tempDir } from './helpers.ts';

let tmp: { dir: string; cleanup: () => void };
let repo: { dir: string; cleanup: () => void };
let serveProcess: ChildProcess | null = null;
let url = '';
let stderr = '';
const at = (...p: string[]) => join(tmp.dir, ...p);

const curl = (args: string[]) => run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', at('ca', 'ca.crt'), ...args]);

test.before(async () => {
  tmp = tempDir('bindery-workers-');
  repo = copyFixture('server-repo');
  for (const args of [['ca', 'init', at('ca')], ['ca', 'issue', at('ca'), 'server.test', '--server']]) assert.is((await bindery(args)).code, 0);
  assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', at('signing.pem')])).code, 0);
  const built = await bindery(['build', repo.dir, '--out', at('out'), '--signing-key', at('signing.pem')]);
  assert.is(built.code, 0, built.stderr);
  const args = ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'serve', '--build', at('out'), '--repo', repo.dir, '--tls-cert', at('ca/issued/server.test.crt'), '--tls-key', at('ca/issued/server.test.key'), '--ca', at('ca'), '--listen', '127.0.0.1:0', '--state', at('state'), '--log', at('decisions.jsonl'), '--resolver', '127.0.0.1:9', '--workers', '2', '--max-failures', '4'];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  serveProcess = child;
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d;
      const m = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (m) {
        url = m[1]!;
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`bindery serve exited with ${code}: ${stderr}`)));
  });
});

test.after(async () => {
  if (serveProcess && serveProcess.exitCode === null) serveProcess.kill('SIGKILL');
  repo?.cleanup();
  tmp?.cleanup();
});

test('two worker processes serve one port', () => {
  assert.match(stderr, /2 workers/);
  const children = readFileSync(`/proc/${serveProcess!.pid}/task/${serveProcess!.pid}/children`, 'utf8').trim().split(/\s+/);
  assert.is(children.length, 2);
});

test('curl: of 16 concurrent first runs of a bootstrap client, across the workers, exactly one gets the password run', async () => {
  const tries = await Promise.all(Array.from({ length: 16 }, () => curl(['--interface', '127.0.0.4', '-u', 'new1.example.com:new1-secret', `${url}/v1/config`])));
  const codes = tries.map((t) => t.stdout);
  assert.is(codes.filter((c) => c === '200').length, 1, codes.join(' '));
  // The losers are failed logins: past --max-failures 4 they get 429 instead of 401.
  assert.is(codes.filter((c) => c === '401' || c === '429').length, 15, codes.join(' '));
});

test('curl: failed logins count across the workers; a new connection to any of them gets 429 after the limit', async () => {
  for (let i = 0; i < 4; i++) {
    const r = await curl(['--interface', '127.0.0.2', '-u', `root:guess${i}`, `${url}/v1/config`]);
    assert.is(r.stdout, '401');
  }
  await new Promise((r) => setTimeout(r, 100));
  const limited = await Promise.all(Array.from({ length: 6 }, () => curl(['--interface', '127.0.0.2', '-u', 'root:global-secret', `${url}/v1/config`])));
  assert.equal(limited.map((r) => r.stdout), Array(6).fill('429'));
  const other = await curl(['--interface', '127.0.0.2', '--cert', at('ca/issued/server.test.crt'), '--key', at('ca/issued/server.test.key'), `${url}/healthz`]);
  assert.is(other.stdout, '200', 'healthz is never limited');
});

test('SIGTERM stops the workers and the primary, exit 0; the log holds the workers\' lines', async () => {
  const child = serveProcess!;
  const code = await new Promise<number | null>((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', (c) => resolve(c));
    child.kill('SIGTERM');
  });
  assert.is(code, 0);
  const lines = readFileSync(at('decisions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.some((l) => l.result === 'limited'));
  assert.is(lines.filter((l) => l.result === 'ok' && l.client === 'new1.example.com').length, 1);
});

test.run();
