/**
 * build --shard K/N and bindery merge through the compiled CLI: the merge of N shards equals one
 * whole build byte for byte, and merge refuses missing, repeated and mismatched shards; a shard
 * that would need to generate a key fails saying to run bindery keys first.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bindery, copyFixture, run, tempDir } from './helpers.ts';
import { shardOf } from '../src/publish/index.ts';

let tmp: { dir: string; cleanup: () => void };
const at = (...p: string[]) => join(tmp.dir, ...p);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const env = { SOURCE_DATE_EPOCH: '1700000000' };
const manifest = (out: string) => JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));

function write(path: string, data: string) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

async function build(out: string, extra: string[] = [], repo = at('repo')) {
  return bindery(['build', repo, '--out', out, '--signing-key', at('signing.pem'), '--no-validate', ...extra], { env });
}

test.before(async () => {
  tmp = tempDir('bindery-shard-');
  assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', at('signing.pem')])).code, 0);
  assert.is((await run('openssl', ['pkey', '-in', at('signing.pem'), '-pubout', '-out', at('signing-pub.pem')])).code, 0);
  const names = Array.from({ length: 20 }, (_, i) => `node${i}.example.org`);
  write(at('repo/Metadata/clients.xml'), `<Clients>\n${names.map((h) => `<Client name="${h}" profile="base"/>`).join('\n')}\n</Clients>\n`);
  write(at('repo/Metadata/groups.xml'), '<Groups>\n<Group name="base" profile="true"/>\n</Groups>\n');
  write(at('repo/Cfg/etc/motd/motd'), 'hello\n');
  for (const h of names) write(at(`repo/Cfg/etc/hostname/hostname.H_${h}`), `${h}\n`);
  const whole = await build(at('whole'));
  assert.is(whole.code, 0, whole.stderr);
  for (const k of [1, 2, 3]) {
    const r = await build(at(`shard${k}`), ['--shard', `${k}/3`]);
    assert.is(r.code, 0, r.stderr);
  }
});

test.after(() => tmp?.cleanup());

test('each host is in exactly the shard its name hashes to, and the shards together hold every host once', () => {
  const all = Object.keys(manifest(at('whole')).hosts).sort();
  const seen: string[] = [];
  for (const k of [1, 2, 3]) {
    const m = manifest(at(`shard${k}`));
    assert.equal(m.shard.index, k);
    assert.equal(m.shard.count, 3);
    for (const h of Object.keys(m.hosts)) assert.is(shardOf(h, 3), k, h);
    seen.push(...Object.keys(m.hosts));
  }
  assert.equal(seen.sort(), all);
  assert.ok(Object.keys(manifest(at('shard1')).hosts).length < all.length, 'a shard is a slice, not the whole');
});

test('merging the three shards gives the whole build\'s tarballs byte for byte, under one manifest signature that openssl verifies', async () => {
  const r = await bindery(['merge', at('shard1'), at('shard2'), at('shard3'), '--out', at('merged'), '--signing-key', at('signing.pem'), '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).hosts, 20);
  const merged = manifest(at('merged'));
  const whole = manifest(at('whole'));
  assert.equal(Object.keys(merged.hosts), Object.keys(whole.hosts));
  for (const [h, e] of Object.entries(whole.hosts as Record<string, { record: string; tarball: string }>)) {
    assert.equal(merged.hosts[h], e, h);
    assert.is(sha(readFileSync(at('merged/hosts', `${h}.tar.gz`))), e.tarball);
  }
  const v = await run('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', at('signing-pub.pem'), '-rawin', '-in', at('merged/manifest.json'), '-sigfile', at('merged/manifest.json.sig')]);
  assert.is(v.code, 0, v.stdout + v.stderr);
});

test('merge refuses a missing shard, a shard given twice, a whole build and shards built from different inputs', async () => {
  const merge = (...dirs: string[]) => bindery(['merge', ...dirs, '--out', at('refused'), '--signing-key', at('signing.pem')]);
  const missing = await merge(at('shard1'), at('shard3'));
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /shard 2\/3 missing/);
  const twice = await merge(at('shard1'), at('shard1'), at('shard2'), at('shard3'));
  assert.match(twice.stderr, /shard 1\/3 is given twice/);
  const notShard = await merge(at('whole'), at('shard2'));
  assert.match(notShard.stderr, /not built with --shard/);
  write(at('repo/Cfg/etc/motd/motd'), 'changed between the shards\n');
  const late = await build(at('shard2-late'), ['--shard', '2/3']);
  assert.is(late.code, 0, late.stderr);
  const mixed = await merge(at('shard1'), at('shard2-late'), at('shard3'));
  assert.is(mixed.code, 1);
  assert.match(mixed.stderr, /built from different inputs/);
});

test('a shard that would need to generate a key fails, saying to run bindery keys first; after bindery keys it builds', async () => {
  const repo = copyFixture('keys-basic');
  try {
    const r = await build(at('keys-shard'), ['--shard', '1/1'], repo.dir);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /a shard does not generate keys/);
    assert.match(r.stderr, /run bindery keys/);
    const keys = await bindery(['keys', repo.dir]);
    assert.is(keys.code, 0, keys.stderr);
    const again = await build(at('keys-shard'), ['--shard', '1/1'], repo.dir);
    assert.is(again.code, 0, again.stderr);
  } finally {
    repo.cleanup();
  }
});

test('--shard takes K/N with 1 <= K <= N', async () => {
  for (const bad of ['0/3', '4/3', '3', 'a/b']) {
    const r = await build(at('bad'), ['--shard', bad]);
    assert.is(r.code, 2, bad);
    assert.match(r.stderr, /is not K\/N/);
  }
});

test.run();
