import { resolve } from 'node:path';
import { BinderyError } from '../../errors.js';
import { CHECKS, LINT_CONFIG_FILE, lintRepo } from '../../lint/index.js';
import { annotationFile, githubAnnotation } from '../../report/index.js';
import { stringOpt, type Command } from '../command.js';
import { positional } from './common.js';

const USAGE = `lint <repo> [--config bcfg2.conf] [--lint-config ${LINT_CONFIG_FILE}] [--format text|github] [--json]`;

export const lintCommand: Command = {
  name: 'lint',
  summary: `check a repository for mistakes (bcfg2-lint's checks that apply, and more); silence ids per path in ${LINT_CONFIG_FILE}; exit 1 on errors`,
  usage: USAGE,
  options: {
    config: { type: 'string', short: 'C' },
    'lint-config': { type: 'string' },
    format: { type: 'string' },
  },
  async run(ctx) {
    const repo = resolve(positional(ctx, 0, 'repository directory', USAGE));
    const format = stringOpt(ctx, 'format') ?? 'text';
    if (format !== 'text' && format !== 'github') throw new BinderyError('USAGE', `--format ${format}: expected text or github`, {}, `usage: bindery ${USAGE}`);
    const result = await lintRepo(repo, { configPath: stringOpt(ctx, 'config'), lintConfig: stringOpt(ctx, 'lint-config') });
    const { io } = ctx;
    if (!io.json) {
      for (const f of result.findings) {
        if (format === 'github') {
          const level = f.severity === 'info' ? 'notice' : f.severity;
          io.out(githubAnnotation(level, { file: annotationFile(repo, f.file), line: f.line, title: `bindery lint ${f.code}`, message: f.message + (f.hint ? ` (hint: ${f.hint})` : '') }));
        } else {
          const where = f.file ? `${f.file}${f.line ? `:${f.line}` : ''}: ` : '';
          io.out(`${where}${f.severity} [${f.code}]: ${f.message}${f.path && !f.file?.includes(f.path.slice(1)) ? ` (${f.path})` : ''}\n${f.hint ? `  hint: ${f.hint}\n` : ''}`);
        }
      }
      const { error, warning, info } = result.counts;
      io.info(`${error} error${error === 1 ? '' : 's'}, ${warning} warning${warning === 1 ? '' : 's'}, ${info} info (${Object.keys(CHECKS).length} checks)`);
    }
    io.result({ ok: result.counts.error === 0, ...result });
    return result.counts.error > 0 ? 1 : 0;
  },
};
