/**
 * `:test` validators: each distinct (validator, content) pair runs once, however many
 * hosts share it, in parallel with a bound and a timeout. Which validator applies to a (host, path)
 * is the cfg stage's choice; this stage only runs them.
 */
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { isBinderyError } from '../errors.js';
import type { RepoFile } from '../types.js';
import { validatorCommand } from './command.js';
import { runCommand } from './run.js';

export { validatorCommand } from './command.js';
export { OUTPUT_CAP } from './run.js';

export interface ValidationUse {
  readonly host: string;
  /** Client-side path of the entry, e.g. /etc/sudoers */
  readonly path: string;
}

/** One bound content that `validator` must accept, and who gets it. */
export interface ValidationRequest {
  readonly validator: RepoFile;
  readonly content: Buffer;
  readonly uses: readonly ValidationUse[];
}

export interface ValidationOutcome {
  /** Repo-relative path of the validator. */
  readonly validator: string;
  /** sha256 (hex) of the content checked. */
  readonly sha256: string;
  readonly ok: boolean;
  /** Why it failed: the validator's stripped stderr, else stdout, else how it ended. Never the content. */
  readonly message?: string;
  readonly timedOut?: boolean;
  /** Wall time of the one run (0 when it could not start). */
  readonly ms: number;
  /** Every (host, path) that shares this content, sorted. */
  readonly uses: readonly ValidationUse[];
}

export interface ValidateOptions {
  /** How many validators run at once (at least 1). */
  readonly jobs: number;
  /** Per run; the validator's whole process group is killed after it. */
  readonly timeoutMs: number;
  /** Working directory of the validators (Bcfg2: the server's cwd); default process.cwd(). */
  readonly cwd?: string;
  /** Called after each distinct run, e.g. to tick a progress bar. */
  readonly onDone?: () => void;
}

const byUse = (a: ValidationUse, b: ValidationUse) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/**
 * Run every distinct (validator.rel, sha256(content)) once. A validator that cannot be run
 * (not executable, no #! line) fails every content it was asked to check, with the reason and hint.
 * Outcomes are sorted by validator, then sha256.
 */
export async function runValidators(requests: readonly ValidationRequest[], opts: ValidateOptions): Promise<ValidationOutcome[]> {
  const distinct = new Map<string, { validator: RepoFile; content: Buffer; sha256: string; uses: ValidationUse[] }>();
  for (const r of requests) {
    const sha256 = createHash('sha256').update(r.content).digest('hex');
    const key = `${r.validator.rel}\0${sha256}`;
    const d = distinct.get(key);
    if (d) d.uses.push(...r.uses);
    else distinct.set(key, { validator: r.validator, content: r.content, sha256, uses: [...r.uses] });
  }

  const commands = new Map<string, { argv: string[] } | { error: string }>();
  const commandOf = (v: RepoFile) => {
    if (!commands.has(v.rel)) {
      try {
        commands.set(v.rel, { argv: validatorCommand(v) });
      } catch (e) {
        if (!isBinderyError(e)) throw e;
        commands.set(v.rel, { error: e.message + (e.hint ? ` (${e.hint})` : '') });
      }
    }
    return commands.get(v.rel)!;
  };

  const limit = pLimit(Math.max(1, Math.floor(opts.jobs) || 1));
  // Validators lead their own process groups, so nothing else would stop them if bindery exits mid-run.
  const live = new Set<number>();
  const killLive = () => live.forEach((pid) => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  process.on('exit', killLive);
  try {
    const outcomes = await Promise.all(
      [...distinct.values()].map((d) =>
        limit(async (): Promise<ValidationOutcome> => {
          const command = commandOf(d.validator);
          const result = 'error' in command
            ? { ok: false, message: command.error, ms: 0 }
            : await runCommand(command.argv, d.content, { timeoutMs: opts.timeoutMs, cwd: opts.cwd, live });
          opts.onDone?.();
          return { validator: d.validator.rel, sha256: d.sha256, ...result, uses: d.uses.sort(byUse) };
        }),
      ),
    );
    return outcomes.sort((a, b) => (a.validator < b.validator ? -1 : a.validator > b.validator ? 1 : a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0));
  } finally {
    process.off('exit', killLive);
  }
}

