/**
 * Benchmark (not a test): publishing to a real S3 server (Ceph's RADOS Gateway, scripts/rgw.sh).
 *
 *   node --import tsx scripts/bench-publish.ts [--clients 2000] [--entries 100] [--shard-clients N] [--shards 4]
 *
 * 1. bindery publish of a cold build, then after a one-file change, then once more unchanged:
 *    objects and bytes uploaded, seconds; beside it rclone (a public sync tool) copying the same
 *    output directory to the same gateway, cold and after the change, when rclone is installed.
 * 2. build --shard K/N of every K, one after the other, then merge, against one whole build
 *    (in CI the shards run at once: the slowest shard plus the merge is the wall time).
 * Needs the compiled CLI (npx tsc -p .) and radosgw ceph-mon ceph-osd (rclone for the comparison).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

const { values } = parseArgs({ options: { clients: { type: 'string', default: '2000' }, entries: { type: 'string', default: '100' }, 'shard-clients': { type: 'string' }, shards: { type: 'string', default: '4' } } });
const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const CLI = join(ROOT, 'bin', 'bindery.js');
const work = mkdtempSync(join(tmpdir(), 'bindery-bench-publish-'));
const rgwState = process.env.BINDERY_RGW_STATE ?? join(work, 'rgw');
const ownRgw = spawnSync('bash', [join(ROOT, 'scripts/rgw.sh'), 'status', rgwState]).status !== 0;

const sh = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
  const t = performance.now();
  const merged: NodeJS.ProcessEnv = { ...process.env, SOURCE_DATE_EPOCH: '1700000000', ...env };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  const r = spawnSync(cmd, args, { env: merged, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { seconds: (performance.now() - t) / 1000, stdout: r.stdout };
};
const repo = (dir: string, clients: string) => sh(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/bench.ts'), '--write-repo', dir, '--clients', clients, '--entries', values.entries!]);
const build = (r: string, out: string, extra: string[] = []) => sh(process.execPath, [CLI, 'build', r, '--out', out, '--signing-key', join(work, 'key.pem'), '--no-validate', ...extra]);

try {
  if (ownRgw) sh('bash', [join(ROOT, 'scripts/rgw.sh'), 'start', rgwState]);
  const vars = Object.fromEntries(readFileSync(join(rgwState, 'env'), 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const endpoint = vars.BINDERY_S3_ENDPOINT!;
  const awsEnv = { AWS_ACCESS_KEY_ID: vars.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: vars.AWS_SECRET_ACCESS_KEY, AWS_REGION: vars.AWS_REGION, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const s3 = new S3Client({ endpoint, forcePathStyle: true, region: vars.AWS_REGION, credentials: { accessKeyId: vars.AWS_ACCESS_KEY_ID!, secretAccessKey: vars.AWS_SECRET_ACCESS_KEY! } });
  const bucket = `bench-${process.pid}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  sh('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', join(work, 'key.pem')]);

  const r1 = join(work, 'repo');
  repo(r1, values.clients!);
  const out = join(work, 'out');
  const b = build(r1, out);
  console.log(`build: ${values.clients} clients × ${values.entries} entries in ${b.seconds.toFixed(2)} s`);
  const publish = (label: string) => {
    const p = sh(process.execPath, [CLI, 'publish', out, '--to', `s3://${bucket}/site`, '--endpoint', endpoint, '--json'], awsEnv);
    const j = JSON.parse(p.stdout);
    console.log(`bindery publish, ${label}: ${j.objects.uploaded} of ${j.objects.total} objects, ${(j.objects.bytesUploaded / 1048576).toFixed(1)} MiB uploaded, ${j.requests.put} PUT + ${j.requests.get} GET requests, ${p.seconds.toFixed(2)} s`);
  };
  const rclone = spawnSync('rclone', ['version']).status === 0;
  const rcloneEnv = { RCLONE_CONFIG_RGW_TYPE: 's3', RCLONE_CONFIG_RGW_PROVIDER: 'Ceph', RCLONE_CONFIG_RGW_ENDPOINT: endpoint, RCLONE_CONFIG_RGW_ACCESS_KEY_ID: vars.AWS_ACCESS_KEY_ID, RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY: vars.AWS_SECRET_ACCESS_KEY, AWS_CA_BUNDLE: undefined };
  const sync = (label: string) => {
    if (!rclone) return;
    // --copy-links: the output's hosts/ and manifest links are followed, as bindery publish does.
    const p = sh('rclone', ['sync', '--copy-links', '--checksum', '--transfers', '16', '--stats-one-line', '-v', join(out, 'current'), `rgw:${bucket}/rclone`], rcloneEnv);
    console.log(`rclone sync --checksum, ${label}: ${p.seconds.toFixed(2)} s`);
  };
  publish('cold');
  sync('cold');
  // One host-specific file changes: one host's tarball (and its signatures, meta, the manifest).
  appendFileSync(join(r1, 'Cfg/etc/bench/file0.conf/file0.conf.H_host0.example.com'), '# changed\n');
  const b2 = build(r1, out);
  console.log(`rebuild after a one-file change: ${b2.seconds.toFixed(2)} s`);
  publish('after a one-file change');
  sync('after a one-file change');
  publish('unchanged');

  const n = Number(values.shards);
  const shardClients = values['shard-clients'] ?? values.clients!;
  const r2 = shardClients === values.clients ? r1 : join(work, 'repo-shard');
  if (r2 !== r1) repo(r2, shardClients);
  const whole = build(r2, join(work, 'whole'));
  const times: number[] = [];
  for (let k = 1; k <= n; k++) times.push(build(r2, join(work, `shard${k}`), ['--shard', `${k}/${n}`]).seconds);
  const m = sh(process.execPath, [CLI, 'merge', ...times.map((_, i) => join(work, `shard${i + 1}`)), '--out', join(work, 'merged'), '--signing-key', join(work, 'key.pem')]);
  console.log(`${shardClients} clients: one build ${whole.seconds.toFixed(2)} s; ${n} shards ${times.map((t) => t.toFixed(2)).join(' / ')} s, merge ${m.seconds.toFixed(2)} s → wall time with the shards in parallel ${(Math.max(...times) + m.seconds).toFixed(2)} s`);
  const hostsOf = (dir: string) => JSON.stringify(Object.entries(JSON.parse(readFileSync(join(work, dir, 'manifest.json'), 'utf8')).hosts).map(([h, e]) => [h, (e as { sha256: string }).sha256]));
  console.log(`merged tarballs identical to the whole build's: ${hostsOf('whole') === hostsOf('merged')}`);
  s3.destroy();
} catch (e) {
  console.error(String((e as Error).message ?? e));
  process.exitCode = 1;
} finally {
  if (ownRgw && existsSync(rgwState)) spawnSync('bash', [join(ROOT, 'scripts/rgw.sh'), 'stop', rgwState]);
  rmSync(work, { recursive: true, force: true });
}
