/**
 * Benchmark of the key phase: keys generated per second for each key type, and the cost of a
 * second run on a repository whose keys all exist (it must be near zero). The `ssl` kind is an
 * sslkey.xml key and an sslcert.xml certificate from a CA made by initCa per client; `ssl-certify`
 * is the run after every certificate was deleted (the keys stay and are certified).
 *
 *   node --import tsx scripts/bench-keys.ts [--hosts N] [--jobs N] [--kinds ed25519,ssl,…] [--json]
 */
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { configFromIni, type Config } from '../src/config/index.ts';
import { scanRepo } from '../src/repo/index.ts';
import { generateKeys, type KeyNeed } from '../src/keys/index.ts';
import { initCa } from '../src/ca/index.ts';
import type { ClientMetadata } from '../src/types.ts';

const { values } = parseArgs({ options: { hosts: { type: 'string' }, jobs: { type: 'string' }, kinds: { type: 'string' }, json: { type: 'boolean' } } });
const hosts = Number(values.hosts ?? 100);
const jobs = Number(values.jobs ?? availableParallelism());

/** A kind of key: the Cfg files that ask for it (repo-relative → content), the paths a client gets, how many clients. */
interface Kind {
  readonly name: string;
  readonly files: Record<string, string>;
  readonly paths: readonly string[];
  readonly hosts: number;
  /** ssl: a run with every certificate deleted, timed as the extra row `<name>-certify`. */
  readonly certs?: string;
}

const ssh = (name: string, params: string, n: number): Kind => ({
  name,
  files: { 'Cfg/root/.ssh/id_key/privkey.xml': `<PrivateKey>${params}</PrivateKey>`, 'Cfg/root/.ssh/id_key.pub/pubkey.xml': '<PublicKey/>' },
  paths: ['/root/.ssh/id_key', '/root/.ssh/id_key.pub'],
  hosts: n,
});

/** RSA is slow to generate, so its kinds get fewer hosts. */
const ALL: Kind[] = [
  ssh('ed25519', '<Params type="ed25519"/>', hosts),
  ssh('ecdsa-256', '<Params type="ecdsa" bits="256"/>', hosts),
  ssh('rsa-3072', '<Params type="rsa" bits="3072"/>', Math.max(4, Math.round(hosts / 10))),
  ssh('ed25519+passphrase', '<Params type="ed25519"/><Passphrase>bench pass</Passphrase>', Math.max(4, Math.round(hosts / 10))),
  {
    name: 'ssl',
    files: {
      'Cfg/etc/pki/tls/private/client.key/sslkey.xml': '<KeyInfo/>',
      'Cfg/etc/pki/tls/certs/client.crt/sslcert.xml': '<CertInfo><Cert key="/etc/pki/tls/private/client.key"/></CertInfo>',
    },
    paths: ['/etc/pki/tls/private/client.key', '/etc/pki/tls/certs/client.crt'],
    hosts: Math.max(4, Math.round(hosts / 2)),
    certs: 'Cfg/etc/pki/tls/certs/client.crt/',
  },
];
const wanted = values.kinds?.split(',');
const unknown = wanted?.filter((k) => !ALL.some((x) => x.name === k)) ?? [];
if (unknown.length > 0) throw new Error(`unknown kind(s) ${unknown.join(', ')}; known: ${ALL.map((k) => k.name).join(', ')}`);
const KINDS = ALL.filter((k) => !wanted || wanted.includes(k.name));

const client = (i: number): ClientMetadata => ({
  hostname: `host${String(i).padStart(5, '0')}.example.com`, profile: 'all', groups: ['all'], bundles: [], categories: {}, aliases: [], addresses: [], uuid: null, password: null, version: null,
});

/** keys: pairs made (private + public key, or key + certificate); for `-certify`, certificates. */
const rows: { kind: string; keys: number; seconds: number; keysPerSecond: number; secondRunMs: number; secondRunWritten: number }[] = [];

const scratch = mkdtempSync(join(tmpdir(), 'bindery-bench-keys-'));
try {
  const caDir = join(scratch, 'ca');
  if (KINDS.some((k) => k.certs)) initCa(caDir);
  const config: Config = configFromIni({ sslca_default: { ca: caDir } }, null);

  for (const kind of KINDS) {
    const root = join(scratch, kind.name);
    for (const [rel, text] of Object.entries(kind.files)) {
      mkdirSync(dirname(join(root, rel)), { recursive: true });
      writeFileSync(join(root, rel), text);
    }
    const needs: KeyNeed[] = Array.from({ length: kind.hosts }, (_, i) => ({ metadata: client(i), paths: kind.paths }));
    const phase = async () => {
      const repo = await scanRepo(root, config);
      const t = performance.now();
      const r = await generateKeys(repo, needs, config, {}, { jobs });
      if (r.failed.length > 0) throw new Error(`${kind.name}: ${r.failed[0]!.message}`);
      return { written: r.written.length, seconds: (performance.now() - t) / 1000 };
    };

    const first = await phase();
    // A second build: the scan it does anyway, then a key phase that finds every key present.
    const second = await phase();
    rows.push({ kind: kind.name, keys: first.written / 2, seconds: first.seconds, keysPerSecond: first.written / 2 / first.seconds, secondRunMs: second.seconds * 1000, secondRunWritten: second.written });
    if (kind.certs) {
      for (const n of needs) unlinkSync(join(root, kind.certs, `client.crt.H_${n.metadata.hostname}`));
      const certify = await phase();
      const after = await phase();
      rows.push({ kind: `${kind.name}-certify`, keys: certify.written, seconds: certify.seconds, keysPerSecond: certify.written / certify.seconds, secondRunMs: after.seconds * 1000, secondRunWritten: after.written });
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
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
