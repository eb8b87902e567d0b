import { resolve } from 'node:path';
import { asBinderyError, BinderyError } from '../../errors.js';
import type { BuildDiff } from '../../diff/index.js';
import { boolOpt, stringOpt, type Command, type CommandContext } from '../command.js';
import { intOption, jobsOption, positional } from './common.js';

const USAGE = 'diff <old-out> <new-out> [--repo <dir>] | diff <repo> --rev A..B [--config bcfg2.conf] [--jobs N] [--no-validate]; [--format text|markdown] [--context N] [--json]';

async function compute(ctx: CommandContext): Promise<BuildDiff> {
  // Loaded when the command runs, so other commands start fast.
  const { buildRevisions, diffBuilds, readBuild, tarballsOf } = await import('../../diff/index.js');
  const context = intOption(ctx, 'context', 3, 0);
  const range = stringOpt(ctx, 'rev');
  if (range !== undefined) {
    if (ctx.positionals.length !== 1) throw new BinderyError('USAGE', '--rev takes one repository (a git checkout), not two build outputs', {}, `usage: bindery ${USAGE}`);
    const builds = await buildRevisions(positional(ctx, 0, 'repository', USAGE), range, { configPath: stringOpt(ctx, 'config'), jobs: jobsOption(ctx), validate: !boolOpt(ctx, 'no-validate'), env: process.env });
    return diffBuilds(builds.old, builds.new, { context, hostGroups: builds.hostGroups });
  }
  const oldDir = resolve(positional(ctx, 0, 'old build output', USAGE));
  const newDir = resolve(positional(ctx, 1, 'new build output', USAGE));
  const repo = stringOpt(ctx, 'repo');
  const hostGroups = repo ? new Map((await import('../../metadata/index.js')).loadMetadata(resolve(repo)).clients.map((c) => [c.hostname, c.groups])) : undefined;
  // The new build in full, the old one without the tarballs the new one has (unchanged hosts).
  const b = await readBuild(newDir);
  const a = await readBuild(oldDir, tarballsOf(b));
  return diffBuilds(a, b, { context, ...(hostGroups ? { hostGroups } : {}) });
}

export const diffCommand: Command = {
  name: 'diff',
  summary: 'what a change does to every host: compare two build outputs, or build two git revisions (--rev A..B); exit 0 no change, 1 changes, 2 trouble',
  usage: USAGE,
  options: {
    rev: { type: 'string', valueName: 'A..B', description: 'build revisions A and B of the git checkout <repo> and compare them (B defaults to HEAD)' },
    repo: { type: 'string', valueName: 'dir', description: 'comparing build outputs: the repository whose metadata names groups of hosts' },
    config: { type: 'string', short: 'C', valueName: 'file', description: 'with --rev: bcfg2.conf for both builds', default: "each revision's bcfg2.conf" },
    jobs: { type: 'string', short: 'j', valueName: 'n', description: 'with --rev: threads for binding and validators', default: 'the available parallelism' },
    'no-validate': { type: 'boolean', description: 'with --rev: do not run the :test validators' },
    format: { type: 'string', valueName: 'text|markdown', description: 'markdown: a pull-request comment (summary table, collapsed diffs)', default: 'text' },
    context: { type: 'string', short: 'U', valueName: 'n', description: 'lines of context in unified diffs', default: '3' },
  },
  async run(ctx) {
    const format = stringOpt(ctx, 'format') ?? 'text';
    if (format !== 'text' && format !== 'markdown') throw new BinderyError('USAGE', `--format ${format}: expected text or markdown`, {}, `usage: bindery ${USAGE}`);
    let d: BuildDiff;
    try {
      d = await compute(ctx);
    } catch (e) {
      // Like diff(1): 2 means the comparison itself failed, so 1 keeps meaning "something changed".
      const err = asBinderyError(e, 'INTERNAL');
      if (err.exitCode === 70) throw err;
      const m = err.toMessage();
      ctx.io.report(m);
      ctx.io.result({ ok: false, errors: [m] });
      return 2;
    }
    const { renderMarkdown, renderText } = await import('../../diff/index.js');
    if (!ctx.io.json) ctx.io.out(format === 'markdown' ? renderMarkdown(d) : renderText(d));
    ctx.io.result(d);
    return d.changed ? 1 : 0;
  },
};
