import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../fsutil/index.js';
import { availableParallelism } from 'node:os';
import { BinderyError } from '../../errors.js';
import type { CommandContext } from '../command.js';
import { stringOpt } from '../command.js';
import type { Io } from '../io.js';
import { formatLocation } from '../../errors.js';
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

/**
 * One line per distinct failure (same file, line, path and message), naming its hosts: a
 * broken file shared by 5,000 hosts is one line, not 5,000. --json keeps every failure.
 */
export function reportFailures(io: Io, failures: readonly BindFailure[], shownHosts = 5): void {
  const groups = new Map<string, { f: BindFailure; hosts: string[] }>();
  for (const f of failures) {
    const key = `${f.file ?? ''}\0${f.line ?? ''}\0${f.column ?? ''}\0${f.path}\0${f.message}`;
    const g = groups.get(key) ?? { f, hosts: [] };
    g.hosts.push(f.host);
    groups.set(key, g);
  }
  for (const { f, hosts } of groups.values()) {
    const where = formatLocation({ file: f.file, line: f.line, column: f.column, path: f.path });
    const who = hosts.length === 1 ? `host ${hosts[0]}` : `hosts ${hosts.slice(0, shownHosts).join(', ')}${hosts.length > shownHosts ? ` and ${hosts.length - shownHosts} more` : ''}`;
    io.info(`failed: ${where}, ${who}: ${f.message}`);
  }
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
