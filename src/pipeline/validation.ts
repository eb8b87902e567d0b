import pLimit from 'p-limit';
import type { Config } from '../config/index.js';
import type { RepoModel } from '../repo/index.js';
import { runValidators } from '../validate/index.js';
import type { Validate } from './bind-all.js';

export interface ValidationSummary {
  readonly runs: number;
  readonly checked: number;
  readonly failed: number;
}

/**
 * Each (validator, content) runs once, however many hosts (and worker threads) ask for it, at
 * most `jobs` at a time; the binder turns a failure into a bind failure of every file that shares
 * the content. `stats` counts as it goes.
 */
export function validationService(repo: RepoModel, config: Config, jobs: number, skip: ReadonlySet<string> = new Set()): { validate: Validate; stats: ValidationSummary; skipped: ReadonlySet<string> } {
  const stats = { runs: 0, checked: 0, failed: 0 };
  const skipped = new Set<string>();
  const limit = pLimit(Math.max(1, jobs));
  const verdicts = new Map<string, Promise<{ ok: boolean; message?: string }>>();
  const validate: Validate = (items) =>
    Promise.all(
      items.map((item) => {
        // --skip-validator names the entry (its client path); the validator sits in that entry set.
        if (skip.has(validatedPath(item.validator))) {
          skipped.add(item.validator);
          return { ok: true };
        }
        stats.checked++;
        const key = `${item.validator}\0${item.sha256}`;
        let verdict = verdicts.get(key);
        if (!verdict) {
          verdict = limit(async () => {
            const [o] = await runValidators([{ validator: repo.files.get(item.validator)!, content: item.content, uses: [] }], { jobs: 1, timeoutMs: config.cfg.validationTimeoutSeconds * 1000 });
            stats.runs++;
            if (!o!.ok) stats.failed++;
            return o!.ok ? { ok: true } : { ok: false, message: o!.message };
          });
          verdicts.set(key, verdict);
        }
        return verdict;
      }),
    );
  return { validate, stats, skipped };
}

/** The client path a validator checks: `Cfg/etc/sudoers/:test.G50_web` checks /etc/sudoers. */
function validatedPath(validator: string): string {
  return validator.replace(/^Cfg/, '').replace(/\/:test[^/]*$/, '');
}
