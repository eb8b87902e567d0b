import { availableParallelism } from 'node:os';
import { BinderyError } from '../../errors.js';
import type { CommandContext } from '../command.js';
import { stringOpt } from '../command.js';
import type { Io } from '../io.js';
import { formatLocation } from '../../errors.js';
import type { BindFailure } from '../../types.js';

/** --jobs N (default: the machine's parallelism). */
export function jobsOption(ctx: CommandContext): number {
  const v = stringOpt(ctx, 'jobs');
  if (v === undefined) return Math.max(1, availableParallelism());
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new BinderyError('USAGE', `--jobs must be a whole number of at least 1, not "${v}"`);
  return n;
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

export function reportFailures(io: Io, failures: readonly BindFailure[]): void {
  for (const f of failures) {
    const where = formatLocation({ file: f.file, line: f.line, host: f.host, path: f.path });
    io.info(`failed: ${where}: ${f.message}`);
  }
}
