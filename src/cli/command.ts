import type { ParseArgsConfig } from 'node:util';
import type { Io } from './io.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** What a command's run() receives: positionals and option values already parsed. */
export interface CommandContext {
  readonly positionals: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  readonly io: Io;
}

/** One `bindery <name>` sub-command. run() resolves to the exit code (0 ok, 1 failure, 2 usage). */
export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Usage text shown by `bindery <name> --help` (after "usage: bindery "). */
  readonly usage: string;
  readonly options: OptionSpec;
  /** The command stops cleanly on SIGINT/SIGTERM itself (a server); others exit at once. */
  readonly handlesSignals?: boolean;
  run(ctx: CommandContext): Promise<number>;
}

export function stringOpt(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function boolOpt(ctx: CommandContext, name: string): boolean {
  return ctx.values[name] === true;
}
