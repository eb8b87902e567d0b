#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command as Program, CommanderError, Option } from 'commander';
import { BinderyError, type Message } from '../errors.js';
import { createIo, type Io } from './io.js';
import { commands } from './commands/index.js';
import type { Command, CommandContext } from './command.js';

/** Descriptions of the commands that only group subcommands. */
const GROUPS: Readonly<Record<string, string>> = {
  info: 'inspect what one client gets (like bcfg2-info)',
  ca: 'a small certificate authority for serve and fetch',
  'signing-key': 'the key that signs builds: hand over to a new one',
};

const JSON_HELP = 'print one JSON document on stdout (errors included) instead of human output';

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** What a bug report needs, said in the message of every internal error. */
const BUG = `this is a bug in bindery ${version}; please report it with the command line, this whole output and the stack trace above`;

function addOptions(sub: Program, c: Command): void {
  for (const [name, spec] of Object.entries(c.options)) {
    const flags = `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.type === 'string' ? ` <${spec.valueName ?? 'value'}>` : ''}`;
    const text = (spec.description ?? '') + (spec.default !== undefined ? ` (default: ${spec.default})` : '') + (spec.multiple && !/repeatable/.test(spec.description ?? '') ? ' (repeatable)' : '');
    const opt = new Option(flags, text.trim());
    if (spec.multiple) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    sub.addOption(opt);
  }
  sub.addOption(new Option('--json', JSON_HELP));
}

/** commander's parsed options back to the names the command declared (`--no-validate` stays `no-validate`). */
function valuesOf(sub: Program): CommandContext['values'] {
  const parsed = sub.opts();
  const values: Record<string, string | boolean | string[] | undefined> = {};
  for (const opt of sub.options) {
    const name = opt.long!.slice(2);
    const v = parsed[opt.attributeName()];
    values[name] = opt.negate ? (v === false ? true : undefined) : (v as string | boolean | string[] | undefined);
  }
  return values;
}

function program(io: Io, ran: { code: number }): Program {
  const root = new Program('bindery')
    .description('compile a Bcfg2 repository into signed, deterministic per-host tarballs')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .addHelpText('after', '\nexit codes: 0 ok, 1 build, validation or auth failure, 2 usage or configuration error, 70 internal error (a bug)\n`bindery help <command>` shows a command\'s options.')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s), outputError: () => {} });
  const groups = new Map<string, Program>();
  for (const c of commands) {
    const words = c.name.split(' ');
    let parent = root;
    for (const word of words.slice(0, -1)) {
      let g = groups.get(word);
      if (!g) {
        g = parent.command(word).description(GROUPS[word] ?? `${word} subcommands`);
        groups.set(word, g);
      }
      parent = g;
    }
    const sub = parent
      .command(words[words.length - 1]!)
      .description(c.summary)
      .usage(c.usage.startsWith(c.name) ? c.usage.slice(c.name.length).trim() || '[options]' : c.usage)
      .allowExcessArguments(true)
      .helpOption('-h, --help', 'show this help');
    addOptions(sub, c);
    sub.action(async () => {
      if (!c.handlesSignals) {
        // Turn Ctrl-C / SIGTERM into a normal exit so 'exit' listeners run (they kill validator process groups).
        process.once('SIGINT', () => process.exit(130));
        process.once('SIGTERM', () => process.exit(143));
      }
      ran.code = await c.run({ positionals: sub.args, values: valuesOf(sub), io });
    });
  }
  // Every command (groups and leaves alike) fails as the top level does.
  const inherit = (p: Program) => {
    p.exitOverride().showSuggestionAfterError(true).configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s), outputError: () => {} });
    p.commands.forEach(inherit);
  };
  root.commands.forEach(inherit);
  return root;
}

/** A fatal error: rendered on stderr, and with --json the one document on stdout. */
function fail(io: Io, messages: readonly Message[], code: number): number {
  for (const m of messages) io.report(m);
  if (io.json && !io.resultWritten) io.result({ ok: false, errors: messages });
  return code;
}

export async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  // The emit stage's stable JSON (sorted keys); loaded only when a document will be printed.
  const stringify = json ? (await import('../emit/index.js')).stableStringify : JSON.stringify;
  const io = createIo({ json, stringify });
  const ran = { code: 0 };
  try {
    // `bindery help info client` is `bindery info client --help` (commander's help takes one word).
    const args = argv[0] === 'help' && argv.length > 1 ? [...argv.slice(1), '--help'] : argv;
    await program(io, ran).parseAsync(args, { from: 'user' });
    return ran.code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help asked for is exit 0; help shown because a subcommand is missing (`bindery ca`) is a usage error.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return e.exitCode === 0 ? 0 : 2;
      const text = e.message.replace(/^error: /, '').replace(/\n\(Did you mean (.+)\?\)$/, '');
      const suggestion = /\(Did you mean (.+)\?\)/.exec(e.message)?.[1];
      const hint = suggestion ? `did you mean ${suggestion}?` : 'run bindery help <command> for its options';
      return fail(io, [new BinderyError('usage', text, {}, hint).toMessage()], 2);
    }
    if (e instanceof BinderyError && e.exitCode !== 70) return fail(io, [e.toMessage()], e.exitCode);
    // Anything else is a bug: say so, and what to put in a report.
    process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
    const text = `internal error: ${(e as Error)?.message ?? String(e)}`;
    return fail(io, [{ ...new BinderyError('internal', text, e instanceof BinderyError ? e.location : {}).toMessage(), hint: BUG }], 70);
  }
}

process.exitCode = await main(process.argv.slice(2));
