import { resolve } from 'node:path';
import { BinderyError, diagnosticMessage } from '../../errors.js';
import { renderMessage } from '../render.js';
import { stringOpt, type Command } from '../command.js';
import { positional } from './common.js';

/** The name lint looks for at the repository root (for help text; the lint stage reads it). */
const CONFIG_NAME = 'bindery-lint.conf';
const USAGE = `lint <repo> [--config bcfg2.conf] [--lint-config ${CONFIG_NAME}] [--format text|github] [--json]`;

export const lintCommand: Command = {
  name: 'lint',
  summary: `check a repository for mistakes (bcfg2-lint's checks that apply, and more); silence ids per path in ${CONFIG_NAME}; exit 1 on errors`,
  usage: USAGE,
  options: {
    config: { type: 'string', short: 'C', valueName: 'file', description: 'bcfg2.conf to read', default: '<repo>/bcfg2.conf when present' },
    'lint-config': { type: 'string', valueName: 'file', description: 'which ids to silence where, and severities (docs/review.md)', default: `<repo>/${CONFIG_NAME} when present` },
    format: { type: 'string', valueName: 'text|github', description: 'github: GitHub Actions workflow annotations', default: 'text' },
  },
  async run(ctx) {
    const repo = resolve(positional(ctx, 0, 'repository directory', USAGE));
    const format = stringOpt(ctx, 'format') ?? 'text';
    if (format !== 'text' && format !== 'github') throw new BinderyError('USAGE', `--format ${format}: expected text or github`, {}, `usage: bindery ${USAGE}`);
    // Loaded when the command runs, so other commands start fast.
    const { CHECKS, lintRepo } = await import('../../lint/index.js');
    const { annotationFile, githubAnnotation } = await import('../../report/index.js');
    const result = await lintRepo(repo, { configPath: stringOpt(ctx, 'config'), lintConfig: stringOpt(ctx, 'lint-config') });
    const { io } = ctx;
    if (!io.json) {
      for (const f of result.findings) {
        if (format === 'github') {
          const level = f.severity === 'info' ? 'notice' : f.severity;
          io.out(githubAnnotation(level, { file: annotationFile(repo, f.file), line: f.line, title: `bindery lint ${f.code}`, message: f.message + (f.hint ? ` (hint: ${f.hint})` : '') }));
        } else {
          io.out(renderMessage(diagnosticMessage(f)) + '\n');
        }
      }
      const { error, warning, info } = result.counts;
      io.info(`${error} error${error === 1 ? '' : 's'}, ${warning} warning${warning === 1 ? '' : 's'}, ${info} info (${Object.keys(CHECKS).length} checks)`);
    }
    io.result({ ok: result.counts.error === 0, ...result });
    return result.counts.error > 0 ? 1 : 0;
  },
};
