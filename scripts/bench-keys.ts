/**
 * Benchmark of the key phase: keys generated per second for each key type, and the cost of a
 * second run on a repository whose keys all exist (it must be near zero).
 *
 *   node --import tsx scripts/bench-keys.ts [--hosts N] [--jobs N] [--json]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { configFromIni } from '../src/config/index.ts';
import { scanRepo } from '../src/repo/index.ts';
import { generateKeys, type KeyNeed } from '../src/keys/index.ts';
import type { ClientMetadata } from '../src/types.ts';

const { values } = parseArgs({ options: { hosts: { type: 'string' }, jobs: { type: 'string' }, json: { type: 'boolean' } } });
const hosts = Number(values.hosts ?? 100);
const jobs = Number(values.jobs ?? availableParallelism());

/** [name, Params, hosts]: RSA is slow to generate, so it gets fewer hosts. */
const KINDS: [string, string, number][] = [
  ['ed25519', '<Params type="ed25519"/>', hosts],
  ['ecdsa-256', '<Params type="ecdsa" bits="256"/>', hosts],
  ['rsa-3072', '<Params type="rsa" bits="3072"/>', Math.max(4, Math.round(hosts / 10))],
  ['ed25519+passphrase', '<Params type="ed25519"/><Passphrase>bench pass</Passphrase>', Math.max(4, Math.round(hosts / 10))],
];

const client = (i: number): ClientMetadata => ({
  hostname: `host${String(i).padStart(5, '0')}.example.com`, profile: 'all', groups: ['all'], bundles: [], categories: {}, aliases: [], addresses: [], uuid: null, password: null, version: null,
});

const config = configFromIni({}, null);
const rows: { kind: string; keys: number; seconds: number; keysPerSecond: number; secondRunMs: number; secondRunWritten: number }[] = [];

for (const [kind, params, n] of KINDS) {
  const root = mkdtempSync(join(tmpdir(), 'bindery-bench-keys-'));
  try {
    mkdirSync(join(root, 'Cfg/root/.ssh/id_key'), { recursive: true });
    mkdirSync(join(root, 'Cfg/root/.ssh/id_key.pub'), { recursive: true });
    writeFileSync(join(root, 'Cfg/root/.ssh/id_key/privkey.xml'), `<PrivateKey>${params}</PrivateKey>`);
    writeFileSync(join(root, 'Cfg/root/.ssh/id_key.pub/pubkey.xml'), '<PublicKey/>');
    const needs: KeyNeed[] = Array.from({ length: n }, (_, i) => ({ metadata: client(i), paths: ['/root/.ssh/id_key', '/root/.ssh/id_key.pub'] }));

    const t0 = performance.now();
    const first = await generateKeys(await scanRepo(root, config), needs, config, {}, { jobs });
    const seconds = (performance.now() - t0) / 1000;
    if (first.failed.length > 0) throw new Error(`${kind}: ${first.failed[0]!.message}`);

    // A second build: the scan it does anyway, then a key phase that finds every key present.
    const repo = await scanRepo(root, config);
    const t1 = performance.now();
    const second = await generateKeys(repo, needs, config, {}, { jobs });
    const secondRunMs = performance.now() - t1;
    rows.push({ kind, keys: first.written.length / 2, seconds, keysPerSecond: first.written.length / 2 / seconds, secondRunMs, secondRunWritten: second.written.length });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (values.json) {
  process.stdout.write(JSON.stringify({ jobs, rows }, null, 2) + '\n');
} else {
  console.log(`key phase, ${jobs} jobs (node ${process.version}):`);
  console.log('type                 keys   seconds   keys/s   second run (ms, files written)');
  for (const r of rows) {
    console.log(`${r.kind.padEnd(20)} ${String(r.keys).padStart(5)} ${r.seconds.toFixed(2).padStart(9)} ${r.keysPerSecond.toFixed(1).padStart(8)}   ${r.secondRunMs.toFixed(2)} ms, ${r.secondRunWritten}`);
  }
}
