/**
 * Benchmark: validator runs and wall time of a real build (compile(): scan, bind, validate) of a
 * repository where every host shares the validated file, against one where each host's content
 * differs (what running validators per host would cost).
 *   node --import tsx scripts/bench-validate.ts [hosts] [jobs]
 * scripts/bench.ts runs it as its own process.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { compile } from '../src/pipeline/index.ts';

export interface ValidateBenchCase {
  readonly hosts: number;
  /** Validator processes that actually ran (counted by the validator itself). */
  readonly runs: number;
  /** The validation phase alone. */
  readonly validateMs: number;
  /** The whole compile, validation included. */
  readonly compileMs: number;
}

export interface ValidateBench {
  readonly jobs: number;
  readonly shared: ValidateBenchCase;
  readonly perHost: ValidateBenchCase;
}

/** A repository of `hosts` clients whose /etc/sudoers (plain or a template) has a logging :test. */
function writeRepo(root: string, hosts: number, generator: { name: string; text: string }, log: string): void {
  mkdirSync(join(root, 'Metadata'), { recursive: true });
  writeFileSync(join(root, 'Metadata/groups.xml'), '<Groups><Group name="server" profile="true"/></Groups>\n');
  const clients = Array.from({ length: hosts }, (_, i) => `  <Client name="host${i}.example.com" profile="server"/>`);
  writeFileSync(join(root, 'Metadata/clients.xml'), `<Clients>\n${clients.join('\n')}\n</Clients>\n`);
  const dir = join(root, 'Cfg/etc/sudoers');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, generator.name), generator.text);
  // A small shell validator like a real one (reads its input, checks it), logging each run.
  writeFileSync(join(dir, ':test'), `#!/bin/sh\ngrep -q "^root" || { echo "no root line" >&2; exit 1; }\necho run >> '${log}'\n`);
  chmodSync(join(dir, ':test'), 0o755);
}

async function measure(root: string, hosts: number, jobs: number, generator: { name: string; text: string }): Promise<ValidateBenchCase> {
  const log = join(root, 'runs.log');
  writeRepo(join(root, 'repo'), hosts, generator, log);
  let validateMs = 0;
  const start = performance.now();
  const result = await compile({
    repo: join(root, 'repo'),
    jobs,
    validate: true,
    generateKeys: false,
    env: {},
    onPhase: (phase) => {
      const t = performance.now();
      return { tick() {}, done: () => void (phase === 'validating' && (validateMs = performance.now() - t)) };
    },
  });
  const compileMs = performance.now() - start;
  const failure = result.hosts.flatMap((h) => h.failures)[0];
  if (failure) throw new Error(`benchmark build failed: ${failure.path}: ${failure.message}`);
  const runs = readFileSync(log, 'utf8').trim().split('\n').length;
  return { hosts, runs, validateMs: Math.round(validateMs), compileMs: Math.round(compileMs) };
}

export async function benchValidate(hosts = 1000, jobs = availableParallelism()): Promise<ValidateBench> {
  const dir = mkdtempSync(join(tmpdir(), 'bindery-bench-validate-'));
  try {
    const shared = await measure(join(dir, 'shared'), hosts, jobs, { name: 'sudoers', text: 'root ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) ALL\n' });
    const perHost = await measure(join(dir, 'per-host'), hosts, jobs, { name: 'sudoers.liquid', text: 'root ALL=(ALL:ALL) ALL\n# {{ metadata.hostname }}\n' });
    return { jobs, shared, perHost };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [hosts, jobs] = process.argv.slice(2).map(Number);
  const r = await benchValidate(hosts || undefined, jobs || undefined);
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  const line = (c: ValidateBenchCase) => `${c.runs} validator run${c.runs === 1 ? '' : 's'}, validation ${c.validateMs} ms, whole compile ${c.compileMs} ms`;
  process.stderr.write(`${hosts || 1000} hosts sharing one validated file: ${line(r.shared)}\neach host with its own content: ${line(r.perHost)} (jobs ${r.jobs})\n`);
}
