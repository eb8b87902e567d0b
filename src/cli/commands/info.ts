import { resolve } from 'node:path';
import { BinderyError, diagnosticMessage, failureMessages } from '../../errors.js';
import { stringOpt, type Command, type CommandContext } from '../command.js';
import { positional } from './common.js';

const common = {
  repo: { type: 'string', short: 'r', valueName: 'dir', description: 'the repository', default: 'the current directory' },
  config: { type: 'string', short: 'C', valueName: 'file', description: 'bcfg2.conf to read', default: '<repo>/bcfg2.conf when present, else built-in defaults' },
} as const;

const repoOf = (ctx: CommandContext) => resolve(stringOpt(ctx, 'repo') ?? '.');

const CLIENT_USAGE = 'info client <host> [--repo <dir>] [--config bcfg2.conf] [--json]';
export const infoClientCommand: Command = {
  name: 'info client',
  summary: "show a client's profile, groups, categories, bundles and the file chosen for each path",
  usage: CLIENT_USAGE,
  options: common,
  async run(ctx) {
    // Loaded when the command runs, so help, --version and other commands start fast.
    const { inspectClient } = await import('../../pipeline/index.js');
    const host = positional(ctx, 0, 'client name', CLIENT_USAGE);
    const info = await inspectClient({ repo: repoOf(ctx), configPath: stringOpt(ctx, 'config'), host, env: process.env });
    const { io } = ctx;
    io.result({ ok: info.paths.every((p) => p.ok), ...info });
    if (!io.json) {
      const m = info.metadata;
      const lines = [
        `client:     ${m.hostname}`,
        `profile:    ${m.profile ?? '(none)'}`,
        `groups:     ${m.groups.join(', ') || '(none)'}`,
        `categories: ${Object.entries(m.categories).map(([c, g]) => `${c}=${g}`).join(', ') || '(none)'}`,
        `bundles:    ${m.bundles.join(', ') || '(none)'}`,
        ...(m.aliases.length ? [`aliases:    ${m.aliases.join(', ')}`] : []),
        ...(m.addresses.length ? [`addresses:  ${m.addresses.join(', ')}`] : []),
        ...(m.uuid ? [`uuid:       ${m.uuid}`] : []),
        'paths:',
        ...info.paths.map((p) =>
          p.ok
            ? `  ${p.path}  ← ${p.source}${p.deltas.length ? ` + ${p.deltas.join(' + ')}` : ''}  (${p.owner}:${p.group} ${p.mode}${p.validator ? `, checked by ${p.validator}` : ''})`
            : `  ${p.path}  FAILED: ${p.message}`,
        ),
      ];
      io.out(lines.join('\n') + '\n');
    }
    return info.paths.some((p) => !p.ok) ? 1 : 0;
  },
};

const BUILDFILE_USAGE = 'info buildfile <path> <host> [--altsrc <path>] [--repo <dir>] [--config bcfg2.conf] [--json]';
export const infoBuildfileCommand: Command = {
  name: 'info buildfile',
  summary: 'print the content a client gets for one path (like bcfg2-info buildfile)',
  usage: BUILDFILE_USAGE,
  options: { ...common, altsrc: { type: 'string', valueName: 'path', description: 'bind this entry set instead of <path> (as a bundle\'s altsrc=)' } },
  async run(ctx) {
    // Loaded when the command runs, so help, --version and other commands start fast.
    const { buildFile } = await import('../../pipeline/index.js');
    const path = positional(ctx, 0, 'path', BUILDFILE_USAGE);
    const host = positional(ctx, 1, 'client name', BUILDFILE_USAGE);
    if (!path.startsWith('/')) throw new BinderyError('USAGE', `path must be absolute, like /etc/motd (got "${path}")`);
    const r = await buildFile({ repo: repoOf(ctx), configPath: stringOpt(ctx, 'config'), host, path, altsrc: stringOpt(ctx, 'altsrc'), env: process.env });
    const { io } = ctx;
    const warnings = r.diagnostics.map(diagnosticMessage);
    warnings.forEach((m) => io.report(m));
    if (!r.ok) {
      const errors = failureMessages([r.failure]);
      errors.forEach((m) => io.report(m));
      io.result({ ok: false, errors, warnings });
      return 1;
    }
    const f = r.file;
    const base64 = f.info.encoding === 'base64';
    io.result({ ok: true, warnings, path: f.path, owner: f.info.owner, group: f.info.group, mode: f.info.mode, encoding: f.info.encoding ?? null, source: f.source, deltas: f.deltas, content: f.data.toString(base64 ? 'base64' : 'utf8') });
    if (!io.json) io.out(base64 ? f.data.toString('base64') + '\n' : f.data.toString('utf8'));
    return 0;
  },
};
