/**
 * Rollback, freeze and key rotation end to end through real processes: `bindery build` twice
 * (the serial grows), the compiled `bindery serve` on the new output and on a copy of the old
 * one, and `bindery fetch` with a state directory. The build head and each host's proof are what
 * order the builds; tampering with either is refused.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { issueToFiles } from '../src/ca/index.ts';
import { layout } from '../src/protocol/index.ts';
import { binderyCompiled, copyFixture, ROOT, run, tempDir } from './helpers.ts';

let tmp: { dir: string; cleanup: () => void };
let repo: { dir: string; cleanup: () => void };
const servers: ChildProcess[] = [];
/** One port for every server: fetch keeps its state per server, and these are one server's builds over time. */
let port = 0;
const at = (...p: string[]) => join(tmp.dir, ...p);
const HOST = 'db1.example.com';
const MOTD = 'Cfg/etc/motd/motd';

/** The compiled `bindery serve` on `buildDir`; resolves with its URL once it listens. */
function serve(buildDir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const args = [join(ROOT, 'bin', 'bindery.js'), 'serve', '--build', buildDir, '--repo', repo.dir, '--tls-cert', at('ca/issued/server.test.crt'), '--tls-key', at('ca/issued/server.test.key'), '--ca', at('ca'), '--listen', `127.0.0.1:${port}`, '--state', `${buildDir}.state`, '--resolver', '127.0.0.1:9'];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  servers.push(child);
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.removeAllListeners('exit');
      child.on('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
      const m = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m) resolve({ url: m[1]!, stop });
    });
    child.on('exit', (code) => reject(new Error(`bindery serve exited with ${code}: ${err}`)));
  });
}

/** Serve `buildDir` for the length of `fn`. */
async function serving<T>(buildDir: string, fn: (url: string) => Promise<T>): Promise<T> {
  const s = await serve(buildDir);
  try {
    return await fn(s.url);
  } finally {
    await s.stop();
  }
}

/** `bindery fetch --json` as db1 (certificate only, from 127.0.0.3). */
const fetch = (url: string, root: string, state: string, ...args: string[]) =>
  binderyCompiled(['fetch', '--server', url, '--ca', at('ca/ca.crt'), '--trust', at('signing-pub.pem'), '--cert', at(`ca/issued/${HOST}.crt`), '--key', at(`ca/issued/${HOST}.key`), '--local-address', '127.0.0.3', '--root', root, '--state', state, '--json', ...args]);

const build = (out: string, key: string) => binderyCompiled(['build', repo.dir, '--out', out, '--signing-key', key]);
const head = (out: string) => JSON.parse(readFileSync(join(out, layout.CURRENT, layout.HEAD), 'utf8'));
const manifest = (out: string) => JSON.parse(readFileSync(join(out, layout.MANIFEST), 'utf8'));
const motd = (root: string) => readFileSync(join(root, 'etc/motd'), 'utf8');
const newRoot = (name: string) => {
  mkdirSync(at(name));
  return at(name);
};
/** The one state file fetch keeps in `state` (one server, one host, one root). */
const stateOf = (state: string) => {
  const [server] = readdirSync(state);
  const [file] = readdirSync(join(state, server!));
  return JSON.parse(readFileSync(join(state, server!, file!), 'utf8'));
};
const errorOf = (r: { stdout: string }) => JSON.parse(r.stdout).errors?.[0]?.text ?? r.stdout;

test.before(async () => {
  tmp = tempDir('bindery-client-head-');
  repo = copyFixture('server-repo');
  for (const args of [['ca', 'init', at('ca')], ['ca', 'issue', at('ca'), 'server.test', '--server']]) {
    const r = await binderyCompiled(args);
    assert.is(r.code, 0, r.stderr);
  }
  issueToFiles(at('ca'), HOST, at('ca', 'issued'));
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  for (const name of ['signing', 'next']) {
    assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', at(`${name}.pem`)])).code, 0, 'openssl (apt-get install openssl)');
    assert.is((await run('openssl', ['pkey', '-in', at(`${name}.pem`), '-pubout', '-out', at(`${name}-pub.pem`)])).code, 0);
  }
  writeFileSync(join(repo.dir, MOTD), 'old build\n');
  const first = await build(at('out'), at('signing.pem'));
  assert.is(first.code, 0, first.stderr);
  // What a server holding the old build could still hand out later.
  cpSync(at('out'), at('old-out'), { recursive: true, verbatimSymlinks: true });
  writeFileSync(join(repo.dir, MOTD), 'new build\n');
  const second = await build(at('out'), at('signing.pem'));
  assert.is(second.code, 0, second.stderr);
});

test.after(async () => {
  await Promise.all(servers.map((c) => (c.exitCode === null ? new Promise((r) => (c.on('exit', r), c.kill('SIGTERM'))) : null)));
  repo?.cleanup();
  tmp?.cleanup();
});

test('each build writes a head signed like the manifest: its serial grows and it names the key', async () => {
  const [a, b] = [head(at('old-out')), head(at('out'))];
  assert.ok(b.serial > a.serial, `serial ${b.serial} after ${a.serial}`);
  assert.is(b.serial, manifest(at('out')).serial);
  assert.is(b.builtAt, manifest(at('out')).builtAt);
  assert.is.not(a.hostsRoot, b.hostsRoot, 'db1\'s record changed, so the root did');
  assert.is(b.keyChain, undefined, 'a key never rotated has no chain');
  const dir = join(at('out'), layout.CURRENT);
  const v = await run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', at('signing-pub.pem'), '-rawin', '-in', join(dir, 'head.json'), '-sigfile', join(dir, 'head.json.sig')]);
  assert.is(v.code, 0, v.stdout + v.stderr);
});

test('the new build applies and is remembered by its head; the old build replayed by a server is refused; --allow-downgrade applies it', async () => {
  const root = newRoot('rollback');
  const state = at('rollback-state');
  const applied = await serving(at('out'), (url) => fetch(url, root, state));
  assert.is(applied.code, 0, applied.stdout + applied.stderr);
  const doc = JSON.parse(applied.stdout);
  assert.is(doc.serial, head(at('out')).serial);
  assert.equal(doc.warnings, [], 'the build is ordered: no fetch-unordered-build warning');
  assert.is(motd(root), 'new build\n');
  const saved = stateOf(state);
  assert.is(saved.applied.serial, head(at('out')).serial);
  assert.is(saved.applied.builtAt, head(at('out')).builtAt);

  await serving(at('old-out'), async (url) => {
    const replay = await fetch(url, root, state);
    assert.is(replay.code, 1, replay.stdout);
    assert.match(errorOf(replay), new RegExp(`^the server sent an older build \\(serial ${head(at('old-out')).serial}, built .*\\) than the one this host applied last \\(serial ${head(at('out')).serial}, .*\\): nothing was applied$`));
    assert.is(motd(root), 'new build\n', 'nothing was written');
    const rollback = await fetch(url, root, state, '--allow-downgrade');
    assert.is(rollback.code, 0, rollback.stdout);
    assert.is(motd(root), 'old build\n');
  });
});

test('--max-age: a build just made is accepted, the same build refused once older than 1s', async () => {
  await serving(at('out'), async (url) => {
    const ok = await fetch(url, newRoot('fresh'), at('fresh-state'), '--max-age', '1h');
    assert.is(ok.code, 0, ok.stdout);
    await new Promise((r) => setTimeout(r, 2100));
    const root = newRoot('frozen');
    const frozen = await fetch(url, root, at('frozen-state'), '--max-age', '1s');
    assert.is(frozen.code, 1, frozen.stdout);
    assert.match(errorOf(frozen), new RegExp(`^the configuration was built ${head(at('out')).builtAt.replace(/[.]/g, '\\.')}, longer ago than --max-age allows: nothing was applied$`));
    assert.equal(readdirSync(root), []);
  });
});

test('a head whose bytes were changed is refused, and so is an old record served with the new head (its proof fails)', async () => {
  // A serial raised by hand: the signature no longer matches.
  cpSync(at('out'), at('forged-out'), { recursive: true, verbatimSymlinks: true });
  const headFile = join(at('forged-out'), layout.CURRENT, layout.HEAD);
  const forged = head(at('forged-out'));
  writeFileSync(headFile, JSON.stringify({ ...forged, serial: forged.serial + 1000 }));
  await serving(at('forged-out'), async (url) => {
    const root = newRoot('forged');
    const r = await fetch(url, root, at('forged-state'));
    assert.is(r.code, 1, r.stdout);
    assert.match(errorOf(r), /^the build head does not verify with the trusted key: nothing was applied$/);
    assert.equal(readdirSync(root), []);
  });

  // The new build's head, but db1's record and tarball of the old build: validly signed each, not of one build.
  cpSync(at('out'), at('mixed-out'), { recursive: true, verbatimSymlinks: true });
  const old = manifest(at('old-out')).hosts[HOST];
  for (const sha of [old.record, old.tarball]) {
    for (const name of readdirSync(join(at('old-out'), layout.OBJECTS, sha.slice(0, 2))).filter((n: string) => n.startsWith(sha))) {
      copyFileSync(join(at('old-out'), layout.OBJECTS, sha.slice(0, 2), name), join(at('mixed-out'), layout.OBJECTS, sha.slice(0, 2), name));
    }
  }
  const mixed = manifest(at('mixed-out'));
  mixed.hosts[HOST] = old;
  const manifestFile = join(at('mixed-out'), layout.CURRENT, layout.MANIFEST);
  writeFileSync(`${manifestFile}.new`, JSON.stringify(mixed));
  renameSync(`${manifestFile}.new`, manifestFile);
  await serving(at('mixed-out'), async (url) => {
    const root = newRoot('mixed');
    const r = await fetch(url, root, at('mixed-state'));
    assert.is(r.code, 1, r.stdout);
    assert.match(errorOf(r), new RegExp(`^the build head's proof does not show this record \\(sha256 ${old.record}\\) as ${HOST.replace(/\./g, '\\.')}'s in that build: nothing was applied$`));
    assert.equal(readdirSync(root), []);
    assert.not.ok(existsSync(at('mixed-state')), 'no state was written');
  });
});

test('rotation: a build signed by the next key carries the chain in its head; a host pinned to the old key follows it, a build without the chain is refused', async () => {
  const root = newRoot('rotation');
  const state = at('rotation-state');
  assert.is((await serving(at('out'), (url) => fetch(url, root, state))).code, 0);
  const rotated = await binderyCompiled(['signing-key', 'rotate', '--signing-key', at('signing.pem'), '--new-key', at('next.pem')]);
  assert.is(rotated.code, 0, rotated.stderr);
  writeFileSync(join(repo.dir, MOTD), 'signed by the next key\n');
  const built = await build(at('out'), at('next.pem'));
  assert.is(built.code, 0, built.stderr);
  assert.is(head(at('out')).keyChain.length, 1);

  // Without its chain (moved away), the next key's build leads from nowhere the host trusts.
  renameSync(at('next.pem.chain.json'), at('chain.json'));
  const unchained = await build(at('unchained-out'), at('next.pem'));
  assert.is(unchained.code, 0, unchained.stderr);
  await serving(at('unchained-out'), async (url) => {
    const r = await fetch(url, newRoot('unchained'), at('unchained-state'));
    assert.is(r.code, 1, r.stdout);
    assert.match(errorOf(r), /^the build head does not verify with the trusted key: nothing was applied$/);
  });

  await serving(at('out'), async (url) => {
    const r = await fetch(url, root, state);
    assert.is(r.code, 0, r.stdout);
    assert.is(JSON.parse(r.stdout).keyRotations, 1);
    assert.is(motd(root), 'signed by the next key\n');
  });
  assert.is(stateOf(state).signingKey, readFileSync(at('next-pub.pem'), 'utf8'), 'the next key is trusted from now on');
});

test('the build refuses a chain that does not lead to its key, and a BINDERY_SIGNING_KEY_CHAIN that names no file; the variable carries a chain for a key given as text', async () => {
  // The chain made above hands over to next.pem: beside signing.pem it leads elsewhere.
  copyFileSync(at('chain.json'), at('signing.pem.chain.json'));
  const wrong = await binderyCompiled(['build', repo.dir, '--out', at('wrong-chain-out'), '--signing-key', at('signing.pem'), '--json']);
  renameSync(at('signing.pem.chain.json'), at('wrong.chain.json'));
  assert.is(wrong.code, 2, wrong.stdout);
  assert.match(errorOf(wrong), /^the key rotation chain does not lead to the signing key/);
  assert.match(wrong.stdout, /signing\.pem\.chain\.json/, 'the message names the chain file');
  const env = { BINDERY_SIGNING_KEY: readFileSync(at('next.pem'), 'utf8'), BINDERY_SIGNING_KEY_CHAIN: at('no-such-chain.json') };
  const missing = await binderyCompiled(['build', repo.dir, '--out', at('env-chain-out'), '--json'], { env });
  assert.is(missing.code, 2, missing.stdout);
  assert.match(errorOf(missing), /^BINDERY_SIGNING_KEY_CHAIN names a key rotation chain file that does not exist/);
  const ok = await binderyCompiled(['build', repo.dir, '--out', at('env-chain-out')], { env: { ...env, BINDERY_SIGNING_KEY_CHAIN: at('chain.json') } });
  assert.is(ok.code, 0, ok.stderr);
  assert.equal(head(at('env-chain-out')).keyChain, JSON.parse(readFileSync(at('chain.json'), 'utf8')));
});

test.run();
