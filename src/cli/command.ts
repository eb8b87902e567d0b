import type { Io } from './io.js';

/** One option of a command: parsed by commander; `description` and `default` are shown by --help. */
export interface OptionDef {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** May be given several times; the value is then a list. */
  readonly multiple?: boolean;
  readonly description?: string;
  /** The default as help shows it (the command applies it when the option is absent). */
  readonly default?: string;
  /** The name of the value in help, e.g. `<dir>` (default `<value>`). */
  readonly valueName?: string;
}

export type OptionSpec = Readonly<Record<string, OptionDef>>;

/** What a command's run() receives: positionals and option values already parsed. */
export interface CommandContext {
  readonly positionals: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  readonly io: Io;
}

/** One `bindery <name>` sub-command (a name of two words is a subcommand: `info client`). run() resolves to the exit code. */
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

/** A repeatable string option: every value given, in order (none: empty). */
export function listOpt(ctx: CommandContext, name: string): string[] {
  const v = ctx.values[name];
  return Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : [];
}
