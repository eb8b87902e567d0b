/**
 * Benchmark: validator runs and wall time when many hosts share one validated file, against the
 * same hosts each with its own content (what running per host would cost).
 *   node --import tsx scripts/bench-validate.ts [hosts] [jobs]
 * scripts/bench imports benchValidate().
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { runValidators, type ValidationRequest } from '../src/validate/index.ts';
import type { RepoFile } from '../src/types.ts';

export interface ValidateBenchCase {
  readonly hosts: number;
  readonly distinctContents: number;
  /** Validator processes that actually ran (counted by the validator itself). */
  readonly runs: number;
  readonly ms: number;
}

export interface ValidateBench {
  readonly jobs: number;
  readonly shared: ValidateBenchCase;
  readonly perHost: ValidateBenchCase;
}

export async function benchValidate(hosts = 1000, jobs = availableParallelism()): Promise<ValidateBench> {
  const dir = mkdtempSync(join(tmpdir(), 'bindery-bench-validate-'));
  try {
    // A small shell validator like a real one (reads its input, checks it), logging each run.
    const abs = join(dir, ':test');
    writeFileSync(abs, '#!/bin/sh\ngrep -q "^root" || { echo "no root line" >&2; exit 1; }\necho run >> runs.log\n');
    chmodSync(abs, 0o755);
    const validator: RepoFile = { rel: 'Cfg/etc/sudoers/:test', abs, data: readFileSync(abs), mode: 0o100755 };

    const measure = async (contentOf: (i: number) => Buffer): Promise<ValidateBenchCase> => {
      rmSync(join(dir, 'runs.log'), { force: true });
      const requests: ValidationRequest[] = Array.from({ length: hosts }, (_, i) => ({
        validator,
        content: contentOf(i),
        uses: [{ host: `host${i}.example.com`, path: '/etc/sudoers' }],
      }));
      const start = performance.now();
      const outcomes = await runValidators(requests, { jobs, timeoutMs: 30_000, cwd: dir });
      const ms = Math.round(performance.now() - start);
      if (outcomes.some((o) => !o.ok)) throw new Error(`benchmark validator failed: ${outcomes.find((o) => !o.ok)!.message}`);
      const runs = readFileSync(join(dir, 'runs.log'), 'utf8').trim().split('\n').length;
      return { hosts, distinctContents: outcomes.length, runs, ms };
    };

    const sudoers = Buffer.from('root ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) ALL\n');
    const shared = await measure(() => sudoers);
    const perHost = await measure((i) => Buffer.from(`root ALL=(ALL:ALL) ALL\n# host${i}\n`));
    return { jobs, shared, perHost };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [hosts, jobs] = process.argv.slice(2).map(Number);
  const r = await benchValidate(hosts || undefined, jobs || undefined);
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  process.stderr.write(
    `${r.shared.hosts} hosts sharing one file: ${r.shared.runs} validator run, ${r.shared.ms} ms; ` +
      `each with its own content: ${r.perHost.runs} runs, ${r.perHost.ms} ms (jobs ${r.jobs})\n`,
  );
}
