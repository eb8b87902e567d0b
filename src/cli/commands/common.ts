import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../fsutil/index.js';
import { availableParallelism } from 'node:os';
import { BinderyError, countOf } from '../../errors.js';
import type { CommandContext } from '../command.js';
import { stringOpt } from '../command.js';
import type { Io } from '../io.js';
import type { BindFailure } from '../../types.js';

/** A whole-number option of at least `min`, or `dflt` when absent. */
export function intOption(ctx: CommandContext, name: string, dflt: number, min?: number): number;
export function intOption(ctx: CommandContext, name: string, dflt: undefined, min?: number): number | undefined;
export function intOption(ctx: CommandContext, name: string, dflt: number | undefined, min = 1): number | undefined {
  const v = stringOpt(ctx, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new BinderyError('USAGE', `--${name} must be a whole number of at least ${min}, not "${v}"`);
  return n;
}

/** --jobs N (default: the machine's parallelism). */
export function jobsOption(ctx: CommandContext): number {
  return intOption(ctx, 'jobs', Math.max(1, availableParallelism()));
}

/** Read a file named on the command line; a failure says which option's file it was. */
export function readOptionFile(path: string, what: string, code: 'USAGE' | 'CONFIG' = 'USAGE', hint?: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new BinderyError(code, `cannot read the ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: path }, hint);
  }
}

/** The one positional a command requires, with a usage error naming it. */
export function positional(ctx: CommandContext, index: number, what: string, usage: string): string {
  const v = ctx.positionals[index];
  if (v === undefined) throw new BinderyError('USAGE', `missing ${what}`, {}, `usage: bindery ${usage}`);
  return v;
}

export function progressPhases(io: Io) {
  return (phase: string, total: number) => io.progress(total, phase);
}

/** "1 file, 2 paths, 9 hosts": what the failures touch, counted as a person reads them. */
export function failureCounts(failures: readonly BindFailure[]): string {
  const files = new Set(failures.flatMap((f) => (f.file ? [f.file] : [])));
  const paths = new Set(failures.map((f) => f.path));
  const hosts = new Set(failures.map((f) => f.host));
  return [...(files.size ? [countOf(files.size, 'file')] : []), countOf(paths.size, 'path'), countOf(hosts.size, 'host')].join(', ');
}

/** The nearest directory at or above `dir` holding `name` (of that kind when given), or null. */
export function findUp(dir: string, name: string, kind?: 'file' | 'directory'): string | null {
  for (let d = dir; ; d = dirname(d)) {
    const st = statSync(join(d, name), { throwIfNoEntry: false });
    if (st && (kind === undefined || (kind === 'file' ? st.isFile() : st.isDirectory()))) return d;
    if (dirname(d) === d) return null;
  }
}

/** Write a command's output file atomically; a failure names the file and what to check. */
export function writeOutputFile(dest: string, data: string | Buffer, mode: number, code: 'CRYPT' | 'REPO'): void {
  try {
    writeFileAtomic(dest, data, mode);
  } catch (e) {
    throw new BinderyError(code, `cannot write ${dest}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file: dest }, 'check that the directory is writable');
  }
}
