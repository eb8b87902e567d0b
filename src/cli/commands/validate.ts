import { resolve } from 'node:path';
import { countOf } from '../../errors.js';
import { listOpt, stringOpt, type Command } from '../command.js';
import { failureCounts, jobsOption, positional, progressPhases } from './common.js';

const USAGE = 'validate <repo> [--config bcfg2.conf] [--jobs N] [--skip-validator PATH]... [--json]';

/** The bcfg2-test --cfg-validation workflow: bind everything, run every validator, write nothing. */
export const validateCommand: Command = {
  name: 'validate',
  summary: 'bind every client and run the :test validators only; writes nothing (for CI)',
  usage: USAGE,
  options: {
    config: { type: 'string', short: 'C', valueName: 'file', description: 'bcfg2.conf to read', default: '<repo>/bcfg2.conf when present, else built-in defaults' },
    jobs: { type: 'string', short: 'j', valueName: 'n', description: 'validators run at once', default: 'the available parallelism' },
    'skip-validator': { type: 'string', multiple: true, valueName: 'path', description: 'do not run the validator of this client path (repeatable; each is named in a warning)' },
  },
  async run(ctx) {
    // Loaded when the command runs, so help, --version and other commands start fast.
    const { compile, messagesOf } = await import('../../pipeline/index.js');
    const repo = resolve(positional(ctx, 0, 'repository directory', USAGE));
    const started = Date.now();
    const result = await compile({ repo, configPath: stringOpt(ctx, 'config'), jobs: jobsOption(ctx), validate: true, forceValidation: true, skipValidators: listOpt(ctx, 'skip-validator'), generateKeys: false, env: process.env, onPhase: progressPhases(ctx.io) });
    const failures = result.hosts.flatMap((h) => h.failures);
    const { errors, warnings } = messagesOf(result.repo, failures, result.warnings);
    [...warnings, ...errors].forEach((m) => ctx.io.report(m));
    const v = result.validation;
    ctx.io.info(
      `${failures.length ? 'FAILED' : 'ok'}: ${countOf(v.runs, 'validator run')} covered ${countOf(v.checked, 'validated file')} of ${countOf(result.hosts.length, 'host')} in ${((Date.now() - started) / 1000).toFixed(2)} s` +
        `; ${countOf(v.failed, 'validator failure')}${failures.length ? `; failed: ${failureCounts(failures)}` : ''}`,
    );
    ctx.io.result({ ok: failures.length === 0, validation: v, errors, warnings });
    return failures.length ? 1 : 0;
  },
};
