/**
 * bindery publish against a real S3 server (Ceph's RADOS Gateway, scripts/rgw.sh) and a plain
 * directory: incremental uploads counted in the bucket itself, the pointer's compare-and-swap
 * under racing publishers, kill -9 in the middle, garbage collection and refused credentials.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { bindery, ROOT, run, tempDir } from './helpers.ts';
import { startRgw, type Rgw } from './rgw.ts';
import { openStore, parseStoreUrl, publishToStore } from '../src/publish/index.ts';

let rgw: Rgw;
let tmp: { dir: string; cleanup: () => void };
const at = (...p: string[]) => join(tmp.dir, ...p);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const EPOCH = { SOURCE_DATE_EPOCH: '1700000000' };

function write(path: string, data: string) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

/** A repository of `hosts` clients: a shared file, a per-group file and a per-host file each. */
function makeRepo(dir: string, hosts: number): void {
  const names = Array.from({ length: hosts }, (_, i) => `host${i}.example.com`);
  write(join(dir, 'Metadata/clients.xml'), `<Clients>\n${names.map((h, i) => `<Client name="${h}" profile="${i % 2 ? 'web' : 'db'}"/>`).join('\n')}\n</Clients>\n`);
  write(join(dir, 'Metadata/groups.xml'), '<Groups>\n<Group name="web" profile="true"/>\n<Group name="db" profile="true"/>\n</Groups>\n');
  write(join(dir, 'Cfg/etc/motd/motd'), 'welcome\n');
  write(join(dir, 'Cfg/etc/role/role'), 'none\n');
  write(join(dir, 'Cfg/etc/role/role.G50_web'), 'web\n');
  for (const h of names) write(join(dir, `Cfg/etc/hostname/hostname.H_${h}`), `${h}\n${'x'.repeat(2000)}\n`);
}

async function build(repo: string, out: string): Promise<void> {
  const r = await bindery(['build', repo, '--out', out, '--signing-key', at('signing.pem'), '--no-validate'], { env: EPOCH });
  assert.is(r.code, 0, r.stderr);
}

/** sha256 of every file a reader of the output's current build needs: the build directory's, and each host's record and tarball objects with their signatures. */
function buildShas(out: string): Set<string> {
  const shas = new Set<string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else shas.add(sha(readFileSync(p)));
    }
  };
  walk(join(out, 'current'));
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  for (const h of Object.values(manifest.hosts) as { record: string; tarball: string }[]) {
    for (const s of [h.record, h.tarball]) {
      const dir = join(out, 'objects', s.slice(0, 2));
      for (const n of readdirSync(dir)) if (n.startsWith(s)) shas.add(sha(readFileSync(join(dir, n))));
    }
  }
  return shas;
}

async function publish(out: string, url: string, extra: string[] = [], env: Record<string, string> = rgw.env) {
  const r = await bindery(['publish', out, '--to', url, '--endpoint', rgw.endpoint, '--json', ...extra], { env });
  return { ...r, json: r.code === 0 ? JSON.parse(r.stdout) : null };
}

async function getObject(bucket: string, key: string): Promise<Buffer> {
  const r = await rgw.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

/** The build `current` names is whole: its tree and every object the tree names are in the bucket, with the right bytes. */
async function assertWhole(bucket: string, prefix: string): Promise<{ serial: number; tree: string; files: Record<string, { sha256: string }> }> {
  const pointer = JSON.parse((await getObject(bucket, `${prefix}/current`)).toString());
  const treeSha = pointer.builds[0].tree;
  const objectKey = (s: string) => `${prefix}/objects/${s.slice(0, 2)}/${s}`;
  const treeBytes = await getObject(bucket, objectKey(treeSha));
  assert.is(sha(treeBytes), treeSha);
  const tree = JSON.parse(treeBytes.toString());
  const keys = await rgw.list(bucket);
  for (const [path, f] of Object.entries(tree.files as Record<string, { sha256: string }>)) assert.ok(keys.has(objectKey(f.sha256)), `${path} is in the bucket`);
  return { serial: pointer.serial, tree: treeSha, files: tree.files };
}

test.before(async () => {
  tmp = tempDir('bindery-publish-');
  rgw = await startRgw();
  assert.is((await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', at('signing.pem')])).code, 0);
  makeRepo(at('repo'), 12);
  await build(at('repo'), at('out'));
});

test.after(async () => {
  await rgw?.stop();
  tmp?.cleanup();
});

test('a cold publish uploads every object once; publishing the same build again uploads nothing', async () => {
  const bucket = await rgw.bucket();
  const url = `s3://${bucket}/site`;
  const first = await publish(at('out'), url);
  assert.is(first.code, 0, first.stderr);
  const local = buildShas(at('out'));
  // Every distinct content of the build, plus its tree.
  assert.is(first.json.objects.uploaded, local.size + 1);
  assert.is(first.json.requests.put, local.size + 2, 'one PUT per object, plus the pointer');
  const before = await rgw.list(bucket);
  assert.is(before.size, local.size + 2);
  const whole = await assertWhole(bucket, 'site');
  assert.is(whole.serial, 1);

  const again = await publish(at('out'), url);
  assert.is(again.code, 0, again.stderr);
  assert.is(again.json.switched, false);
  assert.is(again.json.requests.put, 0);
  assert.is(again.json.objects.uploaded, 0);
  assert.equal(await rgw.list(bucket), before, 'the bucket did not change');
});

test('after a one-file change only the changed objects are uploaded, and the bucket gains exactly those', async () => {
  const bucket = await rgw.bucket();
  const url = `s3://${bucket}/site`;
  const repo = at('repo-incr');
  makeRepo(repo, 12);
  const out = at('out-incr');
  await build(repo, out);
  assert.is((await publish(out, url)).code, 0);
  const oldShas = buildShas(out);
  const before = await rgw.list(bucket);

  write(join(repo, 'Cfg/etc/hostname/hostname.H_host3.example.com'), 'changed\n');
  await build(repo, out);
  const newShas = buildShas(out);
  const changed = [...newShas].filter((s) => !oldShas.has(s));
  // host3's tarball, its signature, its record and the record's signature; the manifest and its signature.
  assert.is(changed.length, 6);
  const r = await publish(out, url);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.objects.uploaded, changed.length + 1, 'the changed files and the new tree');
  // One PUT for the pointer, or two: RADOS Gateway refuses If-Match with the quoted ETag, so the swap is retried without quotes.
  assert.ok([changed.length + 2, changed.length + 3].includes(r.json.requests.put), `${r.json.requests.put} PUT requests`);
  const after = await rgw.list(bucket);
  const added = [...after.keys()].filter((k) => !before.has(k));
  assert.is(added.length, changed.length + 1);
  for (const s of changed) assert.ok(added.includes(`site/objects/${s.slice(0, 2)}/${s}`));
  // Nothing that was there was rewritten: only the pointer changed.
  for (const [k, v] of before) if (k !== 'site/current') assert.equal(after.get(k), v, k);
  assert.is((await assertWhole(bucket, 'site')).serial, 2);
});

test('--keep 1 removes the objects only dropped builds named and keeps every object of the current build', async () => {
  const bucket = await rgw.bucket();
  const url = `s3://${bucket}/p`;
  const repo = at('repo-keep');
  makeRepo(repo, 4);
  const out = at('out-keep');
  await build(repo, out);
  assert.is((await publish(out, url, ['--keep', '1', '--grace', '0'])).code, 0);
  const first = await rgw.list(bucket);
  write(join(repo, 'Cfg/etc/motd/motd'), 'a new motd for everyone\n');
  await build(repo, out);
  const r = await publish(out, url, ['--keep', '1', '--grace', '0']);
  assert.is(r.code, 0, r.stderr);
  assert.ok(r.json.removed > 0);
  const whole = await assertWhole(bucket, 'p');
  const live = new Set([whole.tree, ...Object.values(whole.files).map((f) => f.sha256)]);
  const after = await rgw.list(bucket);
  for (const k of after.keys()) if (k !== 'p/current') assert.ok(live.has(k.slice(k.lastIndexOf('/') + 1)), `${k} belongs to the kept build`);
  const gone = [...first.keys()].filter((k) => !after.has(k));
  assert.is(gone.length, r.json.removed);

  // With the default grace, nothing just uploaded is removed even when no kept build names it.
  write(join(repo, 'Cfg/etc/motd/motd'), 'and another\n');
  await build(repo, out);
  const graced = await publish(out, url, ['--keep', '1']);
  assert.is(graced.code, 0, graced.stderr);
  assert.is(graced.json.removed, 0);
});

test('two racing publishers: exactly one switches the pointer, the loser gets a clear error, and its retry wins', async () => {
  const bucket = await rgw.bucket();
  const url = parseStoreUrl(`s3://${bucket}/race`);
  const repo = at('repo-race');
  makeRepo(repo, 30);
  await build(repo, at('out-race-a'));
  write(join(repo, 'Cfg/etc/motd/motd'), 'b\n');
  await build(repo, at('out-race-b'));
  const opts = { endpoint: rgw.endpoint, env: { ...process.env, ...rgw.env } };
  Object.assign(process.env, rgw.env);
  const [a, b] = await Promise.allSettled([
    publishToStore(at('out-race-a'), await openStore(url, opts), { keep: 3, graceSeconds: 3600 }),
    publishToStore(at('out-race-b'), await openStore(url, opts), { keep: 3, graceSeconds: 3600 }),
  ]);
  const won = [a, b].filter((r) => r.status === 'fulfilled');
  const lost = [a, b].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.is(won.length, 1, 'one publisher wins');
  assert.is(lost.length, 1, 'one publisher loses');
  assert.match(String(lost[0]!.reason.message), /another publisher switched s3:\/\/.*\/race while this one was uploading/);
  assert.match(String(lost[0]!.reason.hint), /run bindery publish again/);
  const loser = a.status === 'rejected' ? at('out-race-a') : at('out-race-b');
  const retry = await publish(loser, url.url);
  assert.is(retry.code, 0, retry.stderr);
  assert.is(retry.json.serial, 2);
  // The retry found the objects it had uploaded before losing: only the tree (refused with the pointer) was new.
  assert.ok(retry.json.objects.uploaded <= 1, `uploaded ${retry.json.objects.uploaded}`);
  await assertWhole(bucket, 'race');
});

test('kill -9 in the middle of a publish leaves current naming the previous whole build; a rerun finishes', async () => {
  const bucket = await rgw.bucket();
  const url = `s3://${bucket}/k`;
  const repo = at('repo-kill');
  makeRepo(repo, 4);
  const out = at('out-kill');
  await build(repo, out);
  assert.is((await publish(out, url)).code, 0);
  const old = await assertWhole(bucket, 'k');
  makeRepo(repo, 400);
  write(join(repo, 'Cfg/etc/motd/motd'), 'a big change\n');
  await build(repo, out);
  const before = (await rgw.list(bucket)).size;
  const child = spawn(process.execPath, [join(ROOT, 'bin/bindery.js'), 'publish', out, '--to', url, '--endpoint', rgw.endpoint], { env: { ...process.env, ...rgw.env }, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Killed as soon as some (not all) of its objects are in the bucket.
  for (let i = 0; i < 400 && (await rgw.list(bucket)).size < before + 20; i++) await new Promise((r) => setTimeout(r, 25));
  child.kill('SIGKILL');
  await exited;
  const partial = (await rgw.list(bucket)).size - before;
  const total = buildShas(out).size + 1;
  assert.ok(partial > 0 && partial < total, `killed after ${partial} of ${total} objects`);
  const still = await assertWhole(bucket, 'k');
  assert.is(still.tree, old.tree, 'current still names the previous build');
  const rerun = await publish(out, url);
  assert.is(rerun.code, 0, rerun.stderr);
  assert.is(rerun.json.objects.uploaded, total - partial, 'the rerun uploads only what the killed run had not');
  const now = await assertWhole(bucket, 'k');
  assert.is(now.serial, 2);
  assert.is(Object.keys(now.files).filter((p) => p.endsWith('.tar.gz')).length, 400);
});

test('a wrong secret is refused with exit 1, a message naming the store and what to check, and no credential in the output', async () => {
  const bucket = await rgw.bucket();
  const wrong = 'WrongSecretKey0123456789abcdefWRONGwrong';
  const r = await publish(at('out'), `s3://${bucket}/x`, [], { ...rgw.env, AWS_SECRET_ACCESS_KEY: wrong });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /refused the credentials/);
  assert.match(r.stderr, /AWS_SECRET_ACCESS_KEY/);
  for (const secret of [wrong, rgw.env.AWS_SECRET_ACCESS_KEY!, rgw.env.AWS_ACCESS_KEY_ID!]) {
    assert.not.ok(r.stdout.includes(secret) || r.stderr.includes(secret), 'no credential is printed');
  }
  assert.is((await rgw.list(bucket)).size, 0, 'nothing was written');
});

test('a missing bucket and a store URL with credentials in it are refused clearly', async () => {
  const missing = await publish(at('out'), 's3://bindery-no-such-bucket/x');
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /bucket bindery-no-such-bucket does not exist/);
  const creds = await bindery(['publish', at('out'), '--to', 's3://AKIA:secret@bucket/x']);
  assert.is(creds.code, 2);
  assert.match(creds.stderr, /credentials do not belong in the URL/);
  assert.not.match(creds.stderr, /secret@/);
});

test('file:// store: publish, the same build twice uploads nothing, a racing publisher loses, a one-file change adds only its objects', async () => {
  const store = at('share');
  const url = `file://${store}`;
  const first = await bindery(['publish', at('out'), '--to', url, '--json']);
  assert.is(first.code, 0, first.stderr);
  const again = JSON.parse((await bindery(['publish', at('out'), '--to', url, '--json'])).stdout);
  assert.is(again.requests.put, 0);
  const pointer = JSON.parse(readFileSync(join(store, 'current'), 'utf8'));
  assert.is(pointer.serial, 1);
  for (const f of Object.values(JSON.parse(readFileSync(join(store, 'objects', pointer.builds[0].tree.slice(0, 2), pointer.builds[0].tree), 'utf8')).files) as { sha256: string }[]) {
    assert.is(sha(readFileSync(join(store, 'objects', f.sha256.slice(0, 2), f.sha256))), f.sha256);
  }
  const repo = at('repo-file');
  makeRepo(repo, 12);
  write(join(repo, 'Cfg/etc/role/role.G50_web'), 'web server\n');
  await build(repo, at('out-file-a'));
  write(join(repo, 'Cfg/etc/role/role.G50_web'), 'web server, again\n');
  await build(repo, at('out-file-b'));
  const parsed = parseStoreUrl(url);
  const [a, b] = await Promise.allSettled([
    publishToStore(at('out-file-a'), await openStore(parsed), { keep: 3, graceSeconds: 3600 }),
    publishToStore(at('out-file-b'), await openStore(parsed), { keep: 3, graceSeconds: 3600 }),
  ]);
  // Whether or not the two overlapped, no switch is lost: each winner added one serial, each loser was told.
  const winners = [a, b].filter((r) => r.status === 'fulfilled').length;
  for (const r of [a, b]) if (r.status === 'rejected') assert.match(String(r.reason.message), /another publisher switched/);
  const next = JSON.parse(readFileSync(join(store, 'current'), 'utf8'));
  assert.is(next.serial, 1 + winners);
});

test.run();
