import { resolve } from 'node:path';
import { stringOpt, type Command } from '../command.js';
import { positional, writeOutputFile } from './common.js';

const USAGE = 'report <out> [--output report.html] [--repo <dir> [--config bcfg2.conf]] [--json]';

export const reportCommand: Command = {
  name: 'report',
  summary: 'write a self-contained HTML report of a published build (hosts, files and why, failures, warnings, changes since the previous build)',
  usage: USAGE,
  options: {
    output: { type: 'string', short: 'o', valueName: 'file', description: 'where to write the HTML file', default: 'report.html' },
    repo: { type: 'string', valueName: 'dir', description: 'the repository, to say which info.xml applied and name groups of hosts' },
    config: { type: 'string', short: 'C', valueName: 'file', description: 'with --repo: bcfg2.conf to read', default: '<repo>/bcfg2.conf when present' },
  },
  async run(ctx) {
    const out = resolve(positional(ctx, 0, 'build output directory', USAGE));
    const dest = resolve(stringOpt(ctx, 'output') ?? 'report.html');
    const repoDir = stringOpt(ctx, 'repo');
    // With the repository at hand the report says which info.xml applied and names groups of hosts.
    // Loaded when the command runs, so other commands start fast.
    const { load } = await import('../../pipeline/index.js');
    const { reportForOutput } = await import('../../report/index.js');
    const loaded = repoDir ? await load({ repo: resolve(repoDir), configPath: stringOpt(ctx, 'config') }) : null;
    const html = await reportForOutput(
      out,
      loaded ? { entrySets: loaded.repo.entrySets, hostGroups: new Map(loaded.metadata.clients.map((c) => [c.hostname, c.groups])) } : {},
    );
    writeOutputFile(dest, html, 0o644, 'REPO');
    ctx.io.info(`wrote ${dest} (${(html.length / 1024).toFixed(0)} KiB)`);
    ctx.io.result({ ok: true, report: dest, bytes: Buffer.byteLength(html) });
    return 0;
  },
};
