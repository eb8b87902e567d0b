/**
 * The store mirror behind serve --build <store> against hostile stores (a file:// store whose
 * objects are rewritten by the test): every attack is refused before anything is switched to,
 * and nothing is written outside the cache.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bindery, copyFixture, run, tempDir } from './helpers.ts';
import { mirrorStore, openStore, parseStoreUrl, type StoreMirror } from '../src/publish/index.ts';

let tmp: { dir: string; cleanup: () => void };
let repo: { dir: string; cleanup: () => void };
const at = (...p: string[]) => join(tmp.dir, ...p);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const objectPath = (store: string, s: string) => join(store, 'objects', s.slice(0, 2), s);

/** Store `data` in the store as an object named by its hash, as a publisher would. */
function putObject(store: string, data: Buffer): string {
  const s = sha(data);
  mkdirSync(dirname(objectPath(store, s)), { recursive: true });
  writeFileSync(objectPath(store, s), data);
  return s;
}

const pointer = (store: string) => JSON.parse(readFileSync(join(store, 'current'), 'utf8'));

/** Rewrite the current build's tree with `edit`, and point `current` at the result (serial + 1). */
function forgeTree(store: string, edit: (files: Record<string, { sha256: string; size: number }>) => void): void {
  const p = pointer(store);
  const tree = JSON.parse(readFileSync(objectPath(store, p.builds[0].tree), 'utf8'));
  edit(tree.files);
  const treeSha = putObject(store, Buffer.from(JSON.stringify(tree)));
  writeFileSync(join(store, 'current'), JSON.stringify({ ...p, serial: p.serial + 1, builds: [{ ...p.builds[0], tree: treeSha }, ...p.builds] }));
}

async function mirror(store: string, cache: string): Promise<{ m: StoreMirror; events: Record<string, unknown>[] }> {
  const events: Record<string, unknown>[] = [];
  const m = await mirrorStore(await openStore(parseStoreUrl(`file://${store}`)), { cacheDir: cache, pollMs: 60_000, log: (e) => events.push(e) });
  return { m, events };
}

/** A fresh store holding one published build of the server fixture. */
async function publishedStore(name: string): Promise<string> {
  const store = at(name);
  const r = await bindery(['publish', at('out'), '--to', `file://${store}`]);
  assert.is(r.code, 0, r.stderr);
  return store;
}

test.before(async () => {
  tmp = tempDir('bindery-mirror-');
  repo = copyFixture('server-repo');
  assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', at('signing.pem')])).code, 0);
  const b = await bindery(['build', repo.dir, '--out', at('out'), '--signing-key', at('signing.pem')]);
  assert.is(b.code, 0, b.stderr);
});

test.after(() => {
  repo?.cleanup();
  tmp?.cleanup();
});

test('the mirror lays the store\'s build out like a build directory, every file with its published bytes', async () => {
  const store = await publishedStore('s-ok');
  const { m } = await mirror(store, at('c-ok'));
  m.close();
  const local = JSON.parse(readFileSync(at('out/manifest.json'), 'utf8'));
  const cached = JSON.parse(readFileSync(at('c-ok/current/manifest.json'), 'utf8'));
  assert.equal(cached, local);
  for (const [host, h] of Object.entries(local.hosts) as [string, { tarball: string }][]) {
    assert.is(sha(readFileSync(at('c-ok/current/hosts', `${host}.tar.gz`))), h.tarball);
    assert.is(sha(readFileSync(at('c-ok/objects', h.tarball.slice(0, 2), h.tarball))), h.tarball);
  }
  assert.is(m.health().serial, 1);
  assert.is(m.health().reachable, true);
});

test('a tree path that climbs out of the cache (../) is refused and nothing is written outside it', async () => {
  const store = await publishedStore('s-climb');
  const { m } = await mirror(store, at('c-climb'));
  const before = readlinkSync(at('c-climb/current'));
  forgeTree(store, (files) => (files['../../escaped'] = files['manifest.json']!));
  await m.sync();
  m.close();
  assert.match(String(m.health().error), /unsafe path/);
  assert.not.ok(existsSync(at('escaped')) || existsSync(join(tmp.dir, '..', 'escaped')));
  assert.is(readlinkSync(at('c-climb/current')), before, 'still the first build');
});

test('an object whose bytes do not match its name is refused', async () => {
  const store = await publishedStore('s-swap');
  const { m } = await mirror(store, at('c-swap'));
  // A new build naming an object the attacker then rewrites.
  const evil = Buffer.from('not what the name says');
  forgeTree(store, (files) => {
    const s = putObject(store, Buffer.from('innocent'));
    files['hosts/extra.txt'] = { sha256: s, size: 8 };
    writeFileSync(objectPath(store, s), evil);
  });
  await m.sync();
  m.close();
  assert.match(String(m.health().error), /does not hold the bytes its name says/);
  assert.is(m.health().serial, 1);
});

test('a tree that gives a host another host\'s tarball is refused: the signed manifest names each tarball', async () => {
  const store = await publishedStore('s-other');
  const { m } = await mirror(store, at('c-other'));
  forgeTree(store, (files) => (files['hosts/web1.example.com.tar.gz'] = files['hosts/db1.example.com.tar.gz']!));
  await m.sync();
  m.close();
  assert.match(String(m.health().error), /tarball for host web1\.example\.com is not the one the signed manifest names/);
  assert.is(m.health().serial, 1);
});

test('a pointer that goes back to an older serial is refused (no rollback)', async () => {
  const store = await publishedStore('s-back');
  const { m } = await mirror(store, at('c-back'));
  const p = pointer(store);
  writeFileSync(join(store, 'current'), JSON.stringify({ ...p, serial: 0 }));
  await m.sync();
  m.close();
  assert.match(String(m.health().error), /went back from serial 1 to 0/);
});

test.run();
