/**
 * Benchmark (not a test): generate a synthetic repository of N clients and M entry sets, build
 * it end to end (scan, metadata, bind, validate, tar+gzip+sign, publish) and report clients per
 * second and peak memory. Usage: node --import tsx scripts/bench.ts [--clients N] [--entries M]
 * Other stage benchmarks (templates, keys, validators, server) live beside it as bench-*.ts.
 */
import { mkdirSync, writeFileSync, rmSync, mkdtempSync, existsSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { compile } from '../src/pipeline/index.ts';
import { publishBuild, type SigningKey } from '../src/emit/index.ts';

const { values } = parseArgs({ options: { clients: { type: 'string', default: '1000' }, entries: { type: 'string', default: '50' }, 'template-every': { type: 'string', default: '10' }, jobs: { type: 'string', default: '2' }, 'skip-stages': { type: 'boolean' }, 'write-repo': { type: 'string' } } });
const N = Number(values.clients);
const M = Number(values.entries);
const GROUPS = 20;
/** Every K-th entry set also gets a Liquid template entry. */
const TEMPLATE_EVERY = Number(values['template-every']);

function write(path: string, data: string) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

/** A repo where every client gets every entry: plain files, group and host variants, cat deltas, info.xml, templates. */
function syntheticRepo(root: string) {
  const groups = Array.from({ length: GROUPS }, (_, i) => `g${i}`);
  write(
    join(root, 'Metadata/clients.xml'),
    `<Clients>\n${Array.from({ length: N }, (_, i) => `<Client name="host${i}.example.com" profile="node" address="10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}"/>`).join('\n')}\n</Clients>\n`,
  );
  // Every client joins two of the groups through Client conditionals.
  const membership = groups.map((g, gi) => `<Group name="node">${Array.from({ length: N }, (_, i) => i).filter((i) => i % GROUPS === gi || (i * 7) % GROUPS === gi).map((i) => `<Client name="host${i}.example.com"><Group name="${g}"/></Client>`).join('')}</Group>`);
  write(join(root, 'Metadata/groups.xml'), `<Groups>\n<Group name="node" profile="true"><Bundle name="all"/></Group>\n${groups.map((g) => `<Group name="${g}"/>`).join('\n')}\n${membership.join('\n')}\n</Groups>\n`);
  const paths: string[] = [];
  for (let e = 0; e < M; e++) {
    const p = `/etc/bench/file${e}.conf`;
    paths.push(p);
    const dir = join(root, 'Cfg', p);
    const base = `file${e}.conf`;
    write(join(dir, base), `# entry ${e}\n` + 'option = value\n'.repeat(40));
    if (e % 2 === 0) write(join(dir, `${base}.G50_g${e % GROUPS}`), `# group variant of ${e}\n` + 'option = group\n'.repeat(40));
    if (e % 5 === 0) write(join(dir, `${base}.H_host${e}.example.com`), `# host variant\n`);
    if (e % 3 === 0) write(join(dir, `${base}.G60_g${(e + 1) % GROUPS}.cat`), `+extra line for g${(e + 1) % GROUPS}\n`);
    if (e % 4 === 0) write(join(dir, 'info.xml'), `<FileInfo><Group name="g1"><Info mode="0600"/></Group><Info mode="0644" owner="app"/></FileInfo>\n`);
    if (e % TEMPLATE_EVERY === 0) {
      const t = `/etc/bench/tmpl${e}.conf`;
      paths.push(t);
      write(join(root, 'Cfg', t, `tmpl${e}.conf.liquid`), `host = {{ metadata.hostname }}\ngroups = {{ metadata.groups | join: "," }}\n{% for g in metadata.groups %}[{{ g }}]\n{% endfor %}`);
    }
  }
  write(join(root, 'Bundler/all.xml'), `<Bundle>\n${paths.map((p) => `<Path name="${p}"/>`).join('\n')}\n</Bundle>\n`);
}

if (values['write-repo']) {
  // Only write the synthetic repository (to profile or build it by hand), then stop.
  syntheticRepo(values['write-repo']);
  console.log(`wrote ${values['write-repo']}`);
  process.exit(0);
}
const root = mkdtempSync(join(tmpdir(), 'bindery-bench-'));
try {
  const repo = join(root, 'repo');
  let t = performance.now();
  syntheticRepo(repo);
  console.log(`synthetic repo: ${N} clients × ${M} entry sets (+${Math.ceil(M / TEMPLATE_EVERY)} Liquid templates), generated in ${((performance.now() - t) / 1000).toFixed(2)} s`);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const key: SigningKey = { privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
  const jobs = Number(values.jobs);
  const phases: Record<string, number> = {};
  t = performance.now();
  const result = await compile({
    repo,
    jobs,
    validate: true,
    generateKeys: true,
    env: {},
    onPhase: (phase) => {
      const start = performance.now();
      return { tick() {}, done: () => void (phases[phase] = (performance.now() - start) / 1000) };
    },
  });
  const compileS = (performance.now() - t) / 1000;
  const failures = result.hosts.flatMap((h) => h.failures);
  if (failures.length) console.log(`WARNING: ${failures.length} bind failures, e.g. ${JSON.stringify(failures[0])}`);
  t = performance.now();
  const manifest = await publishBuild(join(root, 'out'), { hosts: result.hosts.map((h) => ({ host: h.host, files: h.files })), failures, skipped: [], warnings: [], revision: null }, key, { concurrency: jobs * 2 });
  const publishS = (performance.now() - t) / 1000;
  const files = result.hosts.reduce((n, h) => n + h.files.length, 0);
  const total = compileS + publishS;
  const workers = result.binding.workers ? `, ${result.binding.inWorkers} clients in ${result.binding.workers} worker threads` : ', one thread';
  console.log(`compile (scan + metadata + bind${phases.validating ? ' + validate' : ''}): ${compileS.toFixed(2)} s  [binding ${phases.binding?.toFixed(2)} s${workers}]`);
  console.log(`publish (tar + gzip + sign + manifest): ${publishS.toFixed(2)} s for ${Object.keys(manifest.hosts).length} tarballs`);
  console.log(`total: ${total.toFixed(2)} s → ${(N / total).toFixed(0)} clients/s, ${(files / total).toFixed(0)} files/s (${files} files)`);
  console.log(`peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  // The stage benchmarks, when present, run as their own processes so their memory is their own.
  if (!values['skip-stages']) {
    const here = dirname(fileURLToPath(import.meta.url));
    for (const name of ['bench-templates.ts', 'bench-keys.ts', 'bench-validate.ts', 'bench-server.ts']) {
      const script = join(here, name);
      if (!existsSync(script)) continue;
      console.log(`\n== ${name}`);
      spawnSync(process.execPath, ['--import', 'tsx', script], { stdio: 'inherit' });
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
