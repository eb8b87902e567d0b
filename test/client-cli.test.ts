/**
 * `bindery fetch` as a host runs it: the compiled CLI against a real `bindery serve` server on
 * 127.0.0.1 (started in-process on a published build), with a state directory across runs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/server/index.ts';
import type { SigningKey } from '../src/emit/index.ts';
import { ROOT, run, tempDir } from './helpers.ts';
import { clientAuth, makePki, makeSigningKey, publish, type HostFiles, type Pki } from './fixtures/server-kit/index.ts';

let tmp: { dir: string; cleanup: () => void };
let pki: Pki;
let key: SigningKey;
let server: RunningServer;
const at = (...p: string[]) => join(tmp.dir, ...p);

const files: HostFiles = {
  web1: {
    '/etc/motd': 'welcome\n',
    '/etc/app/secret.key': { data: 'TOP SECRET\n', mode: '0600' },
  },
};

test.before(async () => {
  tmp = tempDir('bindery-client-cli-');
  pki = makePki(tmp.dir);
  key = makeSigningKey(tmp.dir);
  writeFileSync(at('ca.crt'), pki.caPem);
  writeFileSync(at('signing-pub.pem'), key.publicKeyPem);
  const web1 = pki.client('web1');
  writeFileSync(at('web1.crt'), web1.certPem);
  writeFileSync(at('web1.key'), web1.keyPem, { mode: 0o600 });
  await publish(at('out'), files, key);
  server = await startServer({
    buildDir: at('out'),
    tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.caPem },
    clients: () => [clientAuth('web1', { auth: 'cert', addresses: ['127.0.0.2'] })],
    policy: { globalPassword: null, defaultAuth: 'cert' },
    stateDir: at('server-state'),
    port: 0,
    log: () => {},
  });
});

test.after(async () => {
  await server?.close();
  tmp?.cleanup();
});

/** The compiled CLI's fetch, as web1. */
const fetch = (root: string, ...args: string[]) =>
  run(process.execPath, [join(ROOT, 'bin', 'bindery.js'), 'fetch', '--server', server.url, '--ca', at('ca.crt'), '--trust', at('signing-pub.pem'), '--cert', at('web1.crt'), '--key', at('web1.key'), '--local-address', '127.0.0.2', '--root', root, ...args]);

test('fetch --dry-run --json prints one JSON document, the diff inside it, and shows a new file as created', async () => {
  const root = at('dry');
  mkdirSync(root);
  const r = await fetch(root, '--dry-run', '--json', '--state', at('dry-state'));
  assert.is(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.is(doc.status, 'dry-run');
  assert.match(doc.diff, /--- \/dev\/null\n\+\+\+ b\/etc\/motd\n@@ -0,0 \+1,1 @@\n\+welcome/);
  assert.match(doc.diff, /--- \/dev\/null\n\+\+\+ b\/etc\/app\/secret\.key\n# created, mode 0600 \(not shown: the file is not world-readable\)/);
  assert.not.match(doc.diff, /content differs|TOP SECRET/);
  const human = await fetch(root, '--dry-run', '--state', at('dry-state'));
  assert.is(human.code, 0, human.stderr);
  assert.match(human.stdout, /^--- \/dev\/null\n/, 'without --json the diff goes to stdout');
});

test('with state, the second run sends If-None-Match, gets 304 and reports unchanged without re-applying; a new build applies', async () => {
  const root = at('stateful');
  mkdirSync(root);
  const state = at('stateful-state');
  const first = await fetch(root, '--state', state, '--json');
  assert.is(first.code, 0, first.stderr);
  assert.is(JSON.parse(first.stdout).status, 'applied');
  // A local edit: a run that re-applied the build would overwrite it.
  writeFileSync(join(root, 'etc/motd'), 'edited here\n');
  const second = await fetch(root, '--state', state);
  assert.is(second.code, 0, second.stderr);
  assert.match(second.stderr, /^web1: unchanged since the last run \(server answered 304\), nothing applied; config [0-9a-f]{12}$/m);
  assert.is(readFileSync(join(root, 'etc/motd'), 'utf8'), 'edited here\n');
  const stored = JSON.parse(readFileSync(at('server-state', 'reports', 'client-web1.json'), 'utf8'));
  assert.is(stored.report.status, 'unchanged', 'the unchanged run is reported');

  await publish(at('out'), { web1: { ...files.web1, '/etc/motd': 'new build\n' } }, key);
  const third = await fetch(root, '--state', state, '--json');
  assert.is(third.code, 0, third.stderr);
  assert.equal(JSON.parse(third.stdout).changes.find((c: { path: string }) => c.path === '/etc/motd'), { path: '/etc/motd', action: 'update' });
  assert.is(readFileSync(join(root, 'etc/motd'), 'utf8'), 'new build\n');
});

test('bad --max-age or --timeout values are usage errors (exit 2) naming the option', async () => {
  for (const [opt, value] of [['--max-age', '7weeks'], ['--max-age', '0'], ['--timeout', '10y']] as const) {
    const r = await fetch(at('.'), opt, value, '--state', at('usage-state'));
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`${opt} must be a positive whole number`));
  }
});

test('the bundled client (make client) runs fetch from a directory without node_modules, and nothing else', async () => {
  const dir = at('host-without-node-modules');
  mkdirSync(dir);
  const bundle = join(dir, 'bindery-fetch.mjs');
  const made = await run(process.execPath, [join(ROOT, 'scripts', 'bundle-client.mjs'), bundle]);
  assert.is(made.code, 0, made.stderr);
  assert.ok(!existsSync(join(dir, 'node_modules')) && !existsSync(join(tmp.dir, 'node_modules')));
  const root = join(dir, 'root');
  mkdirSync(root);
  const args = ['fetch', '--server', server.url, '--ca', at('ca.crt'), '--trust', at('signing-pub.pem'), '--cert', at('web1.crt'), '--key', at('web1.key'), '--local-address', '127.0.0.2', '--root', root, '--state', join(dir, 'state'), '--json'];
  const r = await run(process.execPath, [bundle, ...args], { cwd: dir });
  assert.is(r.code, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).status, 'applied');
  assert.is(readFileSync(join(root, 'etc/app/secret.key'), 'utf8'), 'TOP SECRET\n');
  const other = await run(process.execPath, [bundle, 'build', 'repo'], { cwd: dir });
  assert.is(other.code, 2);
  assert.match(other.stderr, /unknown command .build./);
});

test('the client imports nothing from the server, the compiler stages or the command line', () => {
  const dir = join(ROOT, 'src', 'client');
  for (const name of readdirSync(dir)) {
    const imports = [...readFileSync(join(dir, name), 'utf8').matchAll(/from '(\.\.\/[^/']+)/g)].map((m) => m[1]);
    for (const i of imports) assert.ok(['../errors.js', '../emit', '../fsutil', '../protocol'].includes(i!), `${name} imports ${i}`);
  }
});

test.run();
