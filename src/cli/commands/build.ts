import { join, resolve } from 'node:path';
import { layout } from '../../protocol/index.js';
import { BinderyError } from '../../errors.js';
import { compile, type CompileResult } from '../../pipeline/index.js';
import { abortPublish, beginPublish, finishPublish, loadSigningKey, type Publication } from '../../emit/index.js';
import { boolOpt, stringOpt, type Command } from '../command.js';
import { jobsOption, positional, progressPhases, reportFailures } from './common.js';

const USAGE = 'build <repo> --out <dir> [--config bcfg2.conf] [--signing-key key.pem] [--keep-going] [--jobs N] [--cache <dir>] [--no-validate] [--json]';

/** Paths that failed, per host (--json). */
function failedByHost(result: CompileResult): Record<string, string[]> {
  return Object.fromEntries(result.hosts.filter((h) => h.failures.length > 0).map((h) => [h.host, h.failures.map((f) => f.path).sort()]));
}

export const buildCommand: Command = {
  name: 'build',
  summary: 'compile every client of a repository into signed per-host tarballs and a manifest',
  usage: USAGE,
  options: {
    out: { type: 'string', short: 'o' },
    config: { type: 'string', short: 'C' },
    'signing-key': { type: 'string' },
    'keep-going': { type: 'boolean', short: 'k' },
    jobs: { type: 'string', short: 'j' },
    cache: { type: 'string' },
    'no-validate': { type: 'boolean' },
  },
  async run(ctx) {
    const repo = resolve(positional(ctx, 0, 'repository directory', USAGE));
    const outOpt = stringOpt(ctx, 'out');
    if (!outOpt) throw new BinderyError('USAGE', 'missing --out <dir>', {}, `usage: bindery ${USAGE}`);
    const out = resolve(outOpt);
    const started = Date.now();
    // Fail on a missing key before any work is done.
    const key = loadSigningKey({ path: stringOpt(ctx, 'signing-key'), env: process.env });
    const jobs = jobsOption(ctx);
    const keepGoing = boolOpt(ctx, 'keep-going');
    let pub: Publication | null = null;
    try {
      const result = await compile({
        repo,
        configPath: stringOpt(ctx, 'config'),
        jobs,
        validate: !boolOpt(ctx, 'no-validate'),
        generateKeys: true,
        env: process.env,
        onPhase: progressPhases(ctx.io),
        // The output directory is locked only once the repository has loaded.
        emitTo: () => (pub = beginPublish(out, key)).target,
        cacheDir: resolve(stringOpt(ctx, 'cache') ?? join(out, layout.CACHE)),
      });
      const { io } = ctx;
      result.warnings.forEach((w) => io.warn(w));
      const failures = result.hosts.flatMap((h) => h.failures);
      const summary = {
        ok: failures.length === 0,
        published: false,
        out,
        hosts: result.hosts.length,
        files: result.hosts.reduce((n, h) => n + h.files, 0),
        failures,
        failedPaths: failedByHost(result),
        warnings: result.warnings,
        skipped: result.skipped,
        keysWritten: result.keysWritten,
        validation: result.validation,
        binding: result.binding,
        revision: result.revision,
        seconds: 0,
      };
      reportFailures(io, failures);
      const failedHosts = Object.keys(summary.failedPaths).length;
      const counted = `${failures.length} entr${failures.length === 1 ? 'y' : 'ies'} on ${failedHosts} host${failedHosts === 1 ? '' : 's'}`;
      if (failures.length > 0 && !keepGoing) {
        // Decision 17 (docs/decisions.md): without --keep-going any failure fails the whole build.
        abortPublish(pub!, result.hosts.flatMap((h) => h.emitted?.created ?? []));
        pub = null;
        io.info(`build failed: ${counted} could not be bound; nothing was published to ${out} (any previous build there is untouched; --keep-going publishes every host without its failed entries)`);
        io.result({ ...summary, seconds: (Date.now() - started) / 1000 });
        return 1;
      }
      const manifest = finishPublish(pub!, { hosts: result.hosts.map((h) => h.emitted!), failures, skipped: result.skipped, warnings: result.warnings, revision: result.revision });
      pub = null;
      const seconds = (Date.now() - started) / 1000;
      const written = new Set(result.hosts.flatMap((h) => (h.emitted!.created.length > 0 ? [h.host] : []))).size;
      io.info(
        `built ${result.hosts.length} host${result.hosts.length === 1 ? '' : 's'} (${summary.files} files) in ${seconds.toFixed(2)} s, ${(result.hosts.length / Math.max(seconds, 0.001)).toFixed(0)} hosts/s → ${out}/hosts/` +
          `; ${result.binding.bound} bound, ${result.binding.reused} reused from the cache, ${written} with new objects` +
          (result.keysWritten.length ? `; generated ${result.keysWritten.length} key files` : '') +
          (result.validation.checked ? `; ${result.validation.runs} validator runs for ${result.validation.checked} validated files` : '') +
          (result.warnings.length ? `; ${result.warnings.length} warnings` : '') +
          (failures.length ? `; ${counted} failed (published without them)` : ''),
      );
      io.result({
        ...summary,
        published: true,
        seconds,
        serial: manifest.serial,
        manifest: `${out}/manifest.json`,
        tarballs: Object.fromEntries(Object.entries(manifest.hosts).map(([h, v]) => [h, { tarball: layout.hostTarballPath(h), sha256: v.tarball, record: v.record }])),
      });
      return failures.length > 0 ? 1 : 0;
    } finally {
      if (pub) abortPublish(pub, []);
    }
  },
};
