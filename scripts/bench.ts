/**
 * Benchmark (not a test): build a synthetic repository of N clients × M entries end to end with
 * the compiled CLI (`bin/bindery.js build`, as CI runs it), then rebuild after one-file changes,
 * and time GNU `tar | gzip -6` packing the same output files in the same run as the reference.
 * Reports clients/s, the rebuild as a share of the cold build, and peak RSS (GNU time).
 *
 *   npx tsc -p . && node --import tsx scripts/bench.ts --clients 2000 --entries 100 [--jobs 2]
 *
 * The other stage benchmarks (templates, keys, validators, server) live beside it as
 * bench-*.ts and run after it unless --skip-stages.
 */
import { mkdirSync, writeFileSync, rmSync, mkdtempSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { encryptText } from '../src/secrets/index.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '2000' },
    entries: { type: 'string', default: '100' },
    jobs: { type: 'string', default: String(availableParallelism()) },
    'skip-stages': { type: 'boolean' },
    'skip-rebuilds': { type: 'boolean' },
    'write-repo': { type: 'string' },
  },
});
const N = Number(values.clients);
const M = Number(values.entries);
const GROUPS = 20;
const PASSPHRASE = 'bench passphrase';
const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'bin', 'bindery.js');

function write(path: string, data: string) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

/**
 * Every client gets every entry: plain files with group and host variants, .cat deltas, info.xml,
 * and per 10 entries one Liquid, one Genshi, one Cheetah template and one .crypt file.
 */
function syntheticRepo(root: string) {
  const groups = Array.from({ length: GROUPS }, (_, i) => `g${i}`);
  write(join(root, 'bcfg2.conf'), `[encryption]\nbench = ${PASSPHRASE}\n`);
  write(join(root, 'Metadata/clients.xml'), `<Clients>\n${Array.from({ length: N }, (_, i) => `<Client name="host${i}.example.com" profile="node"/>`).join('\n')}\n</Clients>\n`);
  // Every client joins two of the groups through Client conditionals.
  const membership = groups.map((g, gi) => `<Group name="node">${Array.from({ length: N }, (_, i) => i).filter((i) => i % GROUPS === gi || (i * 7 + 3) % GROUPS === gi).map((i) => `<Client name="host${i}.example.com"><Group name="${g}"/></Client>`).join('')}</Group>`);
  write(join(root, 'Metadata/groups.xml'), `<Groups>\n<Group name="node" profile="true"><Bundle name="all"/></Group>\n${groups.map((g) => `<Group name="${g}"/>`).join('\n')}\n${membership.join('\n')}\n</Groups>\n`);
  const paths: string[] = [];
  for (let e = 0; e < M; e++) {
    const p = `/etc/bench/file${e}.conf`;
    paths.push(p);
    const dir = join(root, 'Cfg', p);
    const base = `file${e}.conf`;
    const kind = e % 10;
    if (kind === 1) write(join(dir, `${base}.liquid`), `host = {{ metadata.hostname }}\ngroups = {{ metadata.groups | join: "," }}\n{% for g in metadata.groups %}[{{ g }}]\n{% endfor %}`);
    else if (kind === 2) write(join(dir, `${base}.genshi`), `host = \${metadata.hostname}\n{% for g in metadata.groups %}\\\n[\${g}]\n{% end %}\\\n`);
    else if (kind === 3) write(join(dir, `${base}.cheetah`), `host = $self.metadata.hostname\n#for $g in $self.metadata.groups\n[$g]\n#end for\n`);
    else if (kind === 4) write(join(dir, `${base}.crypt`), encryptText(Buffer.from(`secret ${e} = ${'s3cr3t'.repeat(8)}\n`), PASSPHRASE));
    else write(join(dir, base), `# entry ${e}\n` + 'option = value\n'.repeat(40));
    if (kind >= 5 && e % 2 === 0) write(join(dir, `${base}.G50_g${e % GROUPS}`), `# group variant of ${e}\n` + 'option = group\n'.repeat(40));
    if (kind >= 5 && e % 5 === 0) write(join(dir, `${base}.H_host${e}.example.com`), `# host variant\n`);
    if (kind >= 5 && e % 3 === 0) write(join(dir, `${base}.G60_g${(e + 1) % GROUPS}.cat`), `+extra line for g${(e + 1) % GROUPS}\n`);
    if (e % 4 === 0) write(join(dir, 'info.xml'), `<FileInfo><Group name="g1"><Info mode="0600"/></Group><Info mode="0644" owner="app"/></FileInfo>\n`);
  }
  write(join(root, 'Bundler/all.xml'), `<Bundle>\n${paths.map((p) => `<Path name="${p}"/>`).join('\n')}\n</Bundle>\n`);
}

interface Measured {
  readonly seconds: number;
  /** User + system CPU seconds: less sensitive than wall time to others sharing the machine. */
  readonly cpu: number;
  readonly rssMiB: number;
  readonly summary: { hosts: number; files: number; ok: boolean; binding: { threads: number; bound: number; reused: number } };
}

/** One `bindery build` under GNU time: wall seconds, peak RSS, and its --json summary. */
function build(repo: string, out: string, key: string): Measured {
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M %U %S', process.execPath, cli, 'build', repo, '--out', out, '--signing-key', key, '--jobs', values.jobs!, '--json'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const seconds = (performance.now() - started) / 1000;
  if (r.error) throw new Error(`cannot run /usr/bin/time (Debian package time): ${r.error.message}`);
  const [rssKiB, user, sys] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number, number];
  if (r.status !== 0) throw new Error(`bindery build failed (${r.status}):\n${r.stderr.slice(-3000)}`);
  return { seconds, cpu: user + sys, rssMiB: rssKiB / 1024, summary: JSON.parse(r.stdout) };
}

/** GNU tar | gzip -6 of every host's output files (extracted from the build first, not timed). */
function tarGzip(out: string, into: string): { seconds: number; cpu: number } {
  mkdirSync(into);
  for (const name of readdirSync(join(out, 'hosts'))) {
    if (!name.endsWith('.tar.gz')) continue;
    const dir = join(into, name.slice(0, -'.tar.gz'.length));
    mkdirSync(dir);
    const x = spawnSync('tar', ['-xzf', join(out, 'hosts', name), '-C', dir]);
    if (x.status !== 0) throw new Error(`tar -x failed: ${x.stderr}`);
  }
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', 'sh', '-c', `tar -cf - -C "${into}" . | gzip -6 > /dev/null`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('tar | gzip failed (Debian packages tar and gzip)');
  // GNU time counts the shell's children (tar and gzip) once they are waited for.
  const [user, sys] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number];
  return { seconds: (performance.now() - started) / 1000, cpu: user + sys };
}

if (values['write-repo']) {
  // Only write the synthetic repository (to profile or build it by hand), then stop.
  syntheticRepo(values['write-repo']);
  console.log(`wrote ${values['write-repo']}`);
  process.exit(0);
}
if (!existsSync(join(here, '..', 'dist', 'cli', 'main.js'))) throw new Error('build the CLI first: npx tsc -p .');
const root = mkdtempSync(join(tmpdir(), 'bindery-bench-'));
try {
  const repo = join(root, 'repo');
  const out = join(root, 'out');
  const key = join(root, 'signing-key.pem');
  writeFileSync(key, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  syntheticRepo(repo);
  const load = () => loadavg()[0]!.toFixed(1);
  console.log(`synthetic repository: ${N} clients × ${M} entries (plain, group/host variants, .cat, info.xml, Liquid, Genshi, Cheetah, .crypt); --jobs ${values.jobs}; load average ${load()}`);
  const cold = build(repo, out, key);
  const rate = N / cold.seconds;
  console.log(`cold build: ${cold.seconds.toFixed(2)} s (${cold.cpu.toFixed(2)} s CPU) → ${rate.toFixed(0)} clients/s, ${cold.summary.files} files, ${cold.summary.binding.threads} threads, peak RSS ${cold.rssMiB.toFixed(0)} MiB (load ${load()})`);
  const tg = tarGzip(out, join(root, 'files'));
  console.log(`GNU tar | gzip -6 of the same output files: ${tg.seconds.toFixed(2)} s (${tg.cpu.toFixed(2)} s CPU); bindery/tar+gzip = ${(cold.seconds / tg.seconds).toFixed(2)} wall, ${(cold.cpu / tg.cpu).toFixed(2)} CPU`);
  if (!values['skip-rebuilds']) {
    const change = (label: string, rel: string, edit: (text: string) => string) => {
      const path = join(repo, rel);
      writeFileSync(path, edit(readFileSync(path, 'utf8')));
      const r = build(repo, out, key);
      console.log(`rebuild after ${label}: ${r.seconds.toFixed(2)} s (${r.cpu.toFixed(2)} s CPU), ${r.summary.binding.bound} hosts bound = ${((100 * r.seconds) / cold.seconds).toFixed(0)}% of cold wall, ${((100 * r.cpu) / cold.cpu).toFixed(0)}% of its CPU (load ${load()})`);
    };
    change('one group file', `Cfg/etc/bench/file6.conf/file6.conf.G50_g6`, (t) => t + 'changed\n');
    change('one host file', `Cfg/etc/bench/file5.conf/file5.conf.H_host5.example.com`, (t) => t + 'changed\n');
    change('one template', `Cfg/etc/bench/file1.conf/file1.conf.liquid`, (t) => t + '# changed\n');
    change('groups.xml', 'Metadata/groups.xml', (t) => t.replace('<Client name="host1.example.com"><Group name="g1"/></Client>', '<Client name="host1.example.com"><Group name="g2"/></Client>'));
  }
  if (!values['skip-stages']) {
    // The stage benchmarks run as their own processes so their memory is their own.
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
