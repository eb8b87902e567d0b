import { resolve } from 'node:path';
import { scanRepo } from '../../repo/index.js';
import { loadMetadata } from '../../metadata/index.js';
import { planClients, resolveConfig } from '../../pipeline/index.js';
import { generateKeys } from '../../keys/index.js';
import { stringOpt, type Command } from '../command.js';
import { jobsOption, positional } from './common.js';

const USAGE = 'keys <repo> [--config bcfg2.conf] [--jobs N] [--json]';

/** `bindery keys <repo>`: the key phase alone, so CI can commit the keys and then build. */
export const keysCommand: Command = {
  name: 'keys',
  summary: 'generate the SSH keys clients need and lack, writing them into the repository',
  usage: USAGE,
  options: {
    config: { type: 'string', short: 'C' },
    jobs: { type: 'string', short: 'j' },
  },
  async run(ctx) {
    const root = resolve(positional(ctx, 0, 'repository directory', USAGE));
    const started = Date.now();
    const config = resolveConfig(root, stringOpt(ctx, 'config'));
    const repo = await scanRepo(root, config);
    const metadata = loadMetadata(repo.root);
    const plans = planClients(repo, metadata.clients, [], []);
    const needs = metadata.clients.map((m) => ({ metadata: m, paths: plans.get(m.hostname)!.map((p) => p.altsrc ?? p.name) }));
    const result = await generateKeys(repo, needs, config, process.env, { jobs: jobsOption(ctx) });
    const { io } = ctx;
    const ours = result.written.filter((f) => !result.adopted.includes(f));
    const warnings = result.diagnostics.filter((d) => !result.failed.includes(d));
    warnings.forEach((d) => io.warn(d));
    result.failed.forEach((d) => io.warn({ ...d, message: `failed: ${d.message}` }));
    for (const f of ours) io.info(`wrote ${f}`);
    const seconds = (Date.now() - started) / 1000;
    const failed = result.failed.length;
    // "Every key exists" only when none failed: a failed key is one that does not exist.
    const summary = failed
      ? `${failed} key${failed === 1 ? '' : 's'} clients need could not be generated${ours.length ? `; wrote ${ours.length} key files` : '; nothing written'}`
      : ours.length
        ? `wrote ${ours.length} key files`
        : 'every key clients need exists; nothing written';
    io.info(summary + (result.adopted.length ? ` (${result.adopted.length} written meanwhile by another build)` : '') + ` in ${seconds.toFixed(2)} s`);
    io.result({ ok: result.failed.length === 0, written: ours, adopted: result.adopted, failed: result.failed, warnings, seconds });
    return result.failed.length > 0 ? 1 : 0;
  },
};
