#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { BinderyError, asBinderyError } from '../errors.js';
import { createIo } from './io.js';
import { commands } from './commands/index.js';
import type { Command } from './command.js';

const COMMON = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function topHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'bindery: compile a Bcfg2 repository into signed, deterministic per-host tarballs',
    '',
    'usage: bindery <command> [options]   (bindery <command> --help for details)',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'common options: --json (machine output on stdout), --help',
    'exit codes: 0 ok, 1 build or auth failure, 2 usage or configuration error',
    '',
  ].join('\n');
}

function commandHelp(c: Command): string {
  const lines = [`usage: bindery ${c.usage}`, '', c.summary, '', 'options:'];
  for (const [name, spec] of Object.entries({ ...c.options, ...COMMON })) {
    const s = spec as { type: string; short?: string; multiple?: boolean };
    lines.push(`  --${name}${s.type === 'string' ? ' <value>' : ''}${s.short ? `, -${s.short}` : ''}${s.multiple ? ' (repeatable)' : ''}`);
  }
  return lines.join('\n') + '\n';
}

/** Resolve `name` or a two-word name like `info client` to a command. */
function findCommand(argv: readonly string[]): { command: Command; rest: string[] } | null {
  for (const words of [2, 1]) {
    const name = argv.slice(0, words).join(' ');
    const command = commands.find((c) => c.name === name);
    if (command) return { command, rest: argv.slice(words) };
  }
  return null;
}

export async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  const io = createIo({ json });
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(topHelp());
    return argv.length === 0 ? 2 : 0;
  }
  const found = findCommand(argv);
  if (!found) {
    io.error(new BinderyError('USAGE', `unknown command "${argv[0]}"`, {}, 'run bindery --help for the list of commands'));
    return 2;
  }
  const { command, rest } = found;
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...command.options, ...COMMON }, allowPositionals: true, strict: true });
  } catch (e) {
    io.error(new BinderyError('USAGE', (e as Error).message, {}, `run bindery ${command.name} --help`));
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  if (!command.handlesSignals) {
    // Turn Ctrl-C / SIGTERM into a normal exit so 'exit' listeners run (they kill validator process groups).
    process.once('SIGINT', () => process.exit(130));
    process.once('SIGTERM', () => process.exit(143));
  }
  try {
    return await command.run({ positionals: parsed.positionals, values: parsed.values as Record<string, string | boolean | string[] | undefined>, io });
  } catch (e) {
    const err = asBinderyError(e, 'INTERNAL');
    io.error(err);
    if (err.code === 'INTERNAL' && process.env.BINDERY_DEBUG) process.stderr.write(String((e as Error).stack) + '\n');
    return err.code === 'USAGE' || err.code === 'CONFIG' ? 2 : 1;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
