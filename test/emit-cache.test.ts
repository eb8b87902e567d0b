import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lstatSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bindery, copyFixture, run, tempDir } from './helpers.ts';
import type { Manifest } from '../src/protocol/index.ts';

const work = tempDir('bindery-cache-');
const key = join(work.dir, 'signing-key.pem');
const env = { SOURCE_DATE_EPOCH: '1700000000' };

test.before(async () => {
  assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', key])).code, 0, 'openssl (Debian package openssl) must be installed');
});
test.after(() => work.cleanup());

async function build(repo: string, out: string, ...extra: string[]) {
  const r = await bindery(['build', repo, '--out', out, '--signing-key', key, '--json', ...extra], { env });
  assert.is(r.code, 0, r.stderr);
  return { summary: JSON.parse(r.stdout) };
}

/** Every object in the store: name → inode and mtime (what changes when a file is rewritten). */
function stamps(out: string): Record<string, string> {
  const dir = join(out, 'objects');
  const all: Record<string, string> = {};
  for (const sub of readdirSync(dir)) for (const n of readdirSync(join(dir, sub))) {
    const st = lstatSync(join(dir, sub, n));
    all[`${sub}/${n}`] = `${st.ino}:${st.mtimeMs}`;
  }
  return all;
}

const manifestOf = (out: string) => JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;

test('a one-file change rebinds and rewrites only the hosts that get that file; the rest is reused untouched', async () => {
  const repo = copyFixture('core-basic');
  try {
    const out = join(work.dir, 'out-one');
    const cold = await build(repo.dir, out);
    assert.equal(cold.summary.binding, { threads: 1, bound: 3, reused: 0 });
    const before = stamps(out);
    const m1 = manifestOf(out);
    // Only web1 gets motd.H_web1.
    writeFileSync(join(repo.dir, 'Cfg/etc/motd/motd.H_web1'), 'Welcome back, web1\n');
    const warm = await build(repo.dir, out);
    assert.equal(warm.summary.binding, { threads: 1, bound: 1, reused: 2 }, 'one host bound, two reused');
    const m2 = manifestOf(out);
    assert.equal([m2.hosts.db1, m2.hosts.web2], [m1.hosts.db1, m1.hosts.web2]);
    assert.is.not(m2.hosts.web1!.tarball, m1.hosts.web1!.tarball);
    const after = stamps(out);
    for (const n of Object.keys(before)) assert.is(after[n], before[n], `${n} was not rewritten (the previous build keeps web1's old objects)`);
    const added = Object.keys(after).filter((n) => !(n in before));
    assert.equal(added.map((n) => n.split('/')[1]!.slice(0, 64)).sort(), [m2.hosts.web1!.record, m2.hosts.web1!.record, m2.hosts.web1!.tarball, m2.hosts.web1!.tarball].sort(), 'only web1\'s new tarball and record (each with its signature) were written');
    const human = await bindery(['build', repo.dir, '--out', out, '--signing-key', key], { env });
    assert.match(human.stderr, /0 bound, 3 reused from the cache/, 'the summary line says what was reused');
  } finally {
    repo.cleanup();
  }
});

test('a cold build and an incremental build of the same inputs give identical bytes', async () => {
  const repo = copyFixture('core-basic');
  try {
    const inc = join(work.dir, 'out-inc');
    await build(repo.dir, inc);
    writeFileSync(join(repo.dir, 'Cfg/etc/issue/issue.G50_db.cat'), '+Database host, changed\n');
    await build(repo.dir, inc);
    const cold = join(work.dir, 'out-cold');
    await build(repo.dir, cold);
    const a = manifestOf(inc);
    const b = manifestOf(cold);
    assert.equal(a.hosts, b.hosts, 'same records and tarballs for every host');
    assert.equal({ ...a, serial: 0 }, { ...b, serial: 0 }, 'the manifests differ only in their serial');
    for (const host of Object.keys(a.hosts)) {
      assert.ok(readFileSync(join(inc, 'hosts', `${host}.tar.gz`)).equals(readFileSync(join(cold, 'hosts', `${host}.tar.gz`))), host);
      assert.ok(readFileSync(join(inc, 'hosts', `${host}.tar.gz.sig`)).equals(readFileSync(join(cold, 'hosts', `${host}.tar.gz.sig`))), host);
    }
  } finally {
    repo.cleanup();
  }
});

test('changing groups.xml rebuilds exactly the hosts whose metadata changed', async () => {
  const repo = copyFixture('core-basic');
  try {
    const out = join(work.dir, 'out-groups');
    await build(repo.dir, out);
    const clients = join(repo.dir, 'Metadata/clients.xml');
    writeFileSync(clients, readFileSync(clients, 'utf8').replace('<Client name="web2" profile="web-server"/>', '<Client name="web2" profile="db-server"/>'));
    const r = await build(repo.dir, out);
    assert.equal(r.summary.binding, { threads: 1, bound: 1, reused: 2 });
    const tar = await run('tar', ['-tzf', join(out, 'hosts/web2.tar.gz')]);
    assert.match(tar.stdout, 'etc/db.conf', 'web2 is now a db server');
  } finally {
    repo.cleanup();
  }
});

test('a damaged, foreign or tampered cache is ignored with a warning, and the build is still right', async () => {
  const repo = copyFixture('core-basic');
  try {
    const out = join(work.dir, 'out-bad');
    await build(repo.dir, out);
    const reference = manifestOf(out).hosts;
    const cache = join(out, '.cache', 'hosts.json');
    const good = readFileSync(cache, 'utf8');
    for (const [what, text] of [
      ['damaged', good.slice(0, good.length / 2)],
      ['tampered', good.replace(/"db1":\{/, '"db1":{"x":1,')],
      ['foreign', JSON.stringify({ format: 'something-else', hosts: {} })],
    ] as const) {
      writeFileSync(cache, text);
      const r = await build(repo.dir, out);
      assert.equal(r.summary.binding.reused, 0, `${what}: nothing reused`);
      assert.ok(r.summary.warnings.some((w: { code: string; location?: { file?: string } }) => w.code === 'cache-ignored' && w.location?.file === cache), `${what}: a warning names the cache: ${JSON.stringify(r.summary.warnings)}`);
      assert.equal(manifestOf(out).hosts, reference, `${what}: the same output`);
    }
    const next = await build(repo.dir, out);
    assert.equal(next.summary.binding.reused, 3, 'the rewritten cache is used again');
    assert.ok(statSync(cache).size > 0);
  } finally {
    repo.cleanup();
  }
});

test.run();
