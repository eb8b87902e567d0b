import type { Config } from '../config/index.js';
import type { RepoModel } from '../repo/index.js';
import { sha256 } from '../cfg/index.js';
import { runValidators, type ValidationRequest } from '../validate/index.js';
import type { BindFailure, BoundFile } from '../types.js';

export interface ValidationSummary {
  readonly runs: number;
  readonly checked: number;
  readonly failed: number;
}

type Phase = (phase: string, total: number) => { tick(): void; done(): void };

/** Run each (validator, content) once; a failure turns every file that shares it into a bind failure. */
export async function validateAll(repo: RepoModel, config: Config, bound: Map<string, { files: BoundFile[]; failures: BindFailure[] }>, jobs: number, phase: Phase): Promise<ValidationSummary> {
  // Grouped here by (validator, content), so each bound file is hashed once and the bar knows the runs.
  const distinct = new Map<string, { validator: ValidationRequest['validator']; content: Buffer; uses: { host: string; path: string }[] }>();
  let checked = 0;
  for (const [host, r] of bound) {
    for (const f of r.files) {
      if (!f.validator) continue;
      checked++;
      const key = `${f.validator}\0${sha256(f.data)}`;
      const request = distinct.get(key);
      if (request) request.uses.push({ host, path: f.path });
      else distinct.set(key, { validator: repo.files.get(f.validator)!, content: f.data, uses: [{ host, path: f.path }] });
    }
  }
  if (checked === 0) return { runs: 0, checked: 0, failed: 0 };
  const bar = phase('validating', distinct.size);
  const outcomes = await runValidators([...distinct.values()], { jobs, timeoutMs: config.cfg.validationTimeoutSeconds * 1000, onDone: () => bar.tick() });
  bar.done();
  let failed = 0;
  for (const o of outcomes) {
    if (o.ok) continue;
    failed++;
    for (const use of o.uses) {
      const r = bound.get(use.host)!;
      const i = r.files.findIndex((f) => f.path === use.path);
      if (i < 0) continue;
      r.files.splice(i, 1);
      r.failures.push({ host: use.host, path: use.path, file: o.validator, code: 'validator-failed', message: `validator failed: ${o.message ?? 'no output'}` });
    }
  }
  return { runs: outcomes.length, checked, failed };
}
