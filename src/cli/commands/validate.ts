import { resolve } from 'node:path';
import { compile } from '../../pipeline/index.js';
import { stringOpt, type Command } from '../command.js';
import { jobsOption, positional, progressPhases, reportFailures } from './common.js';

const USAGE = 'validate <repo> [--config bcfg2.conf] [--jobs N] [--json]';

/** The bcfg2-test --cfg-validation workflow: bind everything, run every validator, write nothing. */
export const validateCommand: Command = {
  name: 'validate',
  summary: 'bind every client and run the :test validators only; writes nothing (for CI)',
  usage: USAGE,
  options: {
    config: { type: 'string', short: 'C', valueName: 'file', description: 'bcfg2.conf to read', default: '<repo>/bcfg2.conf when present, else built-in defaults' },
    jobs: { type: 'string', short: 'j', valueName: 'n', description: 'validators run at once', default: 'the available parallelism' },
  },
  async run(ctx) {
    const repo = resolve(positional(ctx, 0, 'repository directory', USAGE));
    const started = Date.now();
    const result = await compile({ repo, configPath: stringOpt(ctx, 'config'), jobs: jobsOption(ctx), validate: true, forceValidation: true, generateKeys: false, env: process.env, onPhase: progressPhases(ctx.io) });
    const failures = result.hosts.flatMap((h) => h.failures);
    result.warnings.forEach((w) => ctx.io.warn(w));
    reportFailures(ctx.io, failures);
    const v = result.validation;
    ctx.io.info(`${failures.length ? 'FAILED' : 'ok'}: ${v.runs} validator runs covered ${v.checked} validated files of ${result.hosts.length} hosts in ${((Date.now() - started) / 1000).toFixed(2)} s; ${v.failed} validator failures, ${failures.length} failed entries`);
    ctx.io.result({ ok: failures.length === 0, validation: v, failures, warnings: result.warnings });
    return failures.length ? 1 : 0;
  },
};
