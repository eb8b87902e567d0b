import { resolve } from 'node:path';
import { countOf, diagnosticMessage } from '../../errors.js';
import { stringOpt, type Command } from '../command.js';
import { jobsOption, positional } from './common.js';

const USAGE = 'keys <repo> [--config bcfg2.conf] [--jobs N] [--json]';

/** `bindery keys <repo>`: the key phase alone, so CI can commit the keys and then build. */
export const keysCommand: Command = {
  name: 'keys',
  summary: 'generate the SSH keys clients need and lack, writing them into the repository',
  usage: USAGE,
  options: {
    config: { type: 'string', short: 'C', valueName: 'file', description: 'bcfg2.conf to read', default: '<repo>/bcfg2.conf when present, else built-in defaults' },
    jobs: { type: 'string', short: 'j', valueName: 'n', description: 'keys generated at once', default: 'the available parallelism' },
  },
  async run(ctx) {
    // Loaded when the command runs, so help, --version and other commands start fast.
    const { keys, load, plan } = await import('../../pipeline/index.js');
    const root = resolve(positional(ctx, 0, 'repository directory', USAGE));
    const started = Date.now();
    const loaded = await load({ repo: root, configPath: stringOpt(ctx, 'config') });
    const { result } = await keys(loaded, plan(loaded), process.env, jobsOption(ctx));
    const { io } = ctx;
    const ours = result.written.filter((f) => !result.adopted.includes(f));
    const warnings = result.diagnostics.filter((d) => !result.failed.includes(d));
    const messages = { warnings: warnings.map(diagnosticMessage), errors: result.failed.map((d) => ({ ...diagnosticMessage(d), severity: 'error' as const })) };
    [...messages.warnings, ...messages.errors].forEach((m) => io.report(m));
    for (const f of ours) io.info(`wrote ${f}`);
    const seconds = (Date.now() - started) / 1000;
    const failed = result.failed.length;
    // "Every key exists" only when none failed: a failed key is one that does not exist.
    const summary = failed
      ? `${countOf(failed, 'key')} clients need could not be generated${ours.length ? `; wrote ${ours.length} key files` : '; nothing written'}`
      : ours.length
        ? `wrote ${ours.length} key files`
        : 'every key clients need exists; nothing written';
    io.info(summary + (result.adopted.length ? ` (${result.adopted.length} written meanwhile by another build)` : '') + ` in ${seconds.toFixed(2)} s`);
    io.result({ ok: result.failed.length === 0, written: ours, adopted: result.adopted, ...messages, seconds });
    return result.failed.length > 0 ? 1 : 0;
  },
};
