import { resolve } from 'node:path';
import { loadMetadata } from '../../metadata/index.js';
import { resolveConfig } from '../../pipeline/index.js';
import { scanRepo } from '../../repo/index.js';
import { reportForOutput } from '../../report/index.js';
import { stringOpt, type Command } from '../command.js';
import { positional, writeOutputFile } from './common.js';

const USAGE = 'report <out> [--output report.html] [--repo <dir> [--config bcfg2.conf]] [--json]';

export const reportCommand: Command = {
  name: 'report',
  summary: 'write a self-contained HTML report of a published build (hosts, files and why, failures, warnings, changes since the previous build)',
  usage: USAGE,
  options: {
    output: { type: 'string', short: 'o' },
    repo: { type: 'string' },
    config: { type: 'string', short: 'C' },
  },
  async run(ctx) {
    const out = resolve(positional(ctx, 0, 'build output directory', USAGE));
    const dest = resolve(stringOpt(ctx, 'output') ?? 'report.html');
    const repoDir = stringOpt(ctx, 'repo');
    // With the repository at hand the report says which info.xml applied and names groups of hosts.
    const repo = repoDir ? await scanRepo(resolve(repoDir), resolveConfig(resolve(repoDir), stringOpt(ctx, 'config'))) : null;
    const hostGroups = repo ? new Map(loadMetadata(repo.root).clients.map((c) => [c.hostname, c.groups])) : undefined;
    const html = await reportForOutput(out, { ...(repo ? { entrySets: repo.entrySets } : {}), ...(hostGroups ? { hostGroups } : {}) });
    writeOutputFile(dest, html, 0o644, 'REPO');
    ctx.io.info(`wrote ${dest} (${(html.length / 1024).toFixed(0)} KiB)`);
    ctx.io.result({ ok: true, report: dest, bytes: Buffer.byteLength(html) });
    return 0;
  },
};
