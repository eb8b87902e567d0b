import { join, resolve } from 'node:path';
import { BinderyError, countOf } from '../../errors.js';
import type { CompileResult } from '../../pipeline/index.js';
import type { Publication } from '../../emit/index.js';
import { layout } from '../../protocol/index.js';
import { boolOpt, listOpt, stringOpt, type Command, type CommandContext } from '../command.js';
import { failureCounts, jobsOption, positional, progressPhases, writeOutputFile } from './common.js';
import type { FinishedBuild } from '../../report/index.js';
import { publishOutput, storeOptions } from './publish.js';
import { inputHash, parseShard, parseStoreUrl, refuseMissingKeys, shardOf } from '../../publish/index.js';

const USAGE = 'build <repo> --out <dir> [--config bcfg2.conf] [--signing-key key.pem] [--keep-going] [--jobs N] [--cache <dir>] [--no-validate] [--skip-validator PATH]... [--shard K/N] [--publish s3://bucket/prefix|file:///dir [publish options]] [--report report.html] [--junit junit.xml] [--format text|github] [--json]';

/** Paths that failed, per host (--json). */
function failedByHost(result: CompileResult): Record<string, string[]> {
  return Object.fromEntries(result.hosts.filter((h) => h.failures.length > 0).map((h) => [h.host, h.failures.map((f) => f.path).sort()]));
}

export const buildCommand: Command = {
  name: 'build',
  summary: 'compile every client of a repository into signed per-host tarballs and a manifest',
  usage: USAGE,
  options: {
    out: { type: 'string', short: 'o', valueName: 'dir', description: 'output directory (docs/output-format.md): objects/, current -> .builds/<id>/{hosts/,manifest.json} (required)' },
    config: { type: 'string', short: 'C', valueName: 'file', description: 'bcfg2.conf to read', default: '<repo>/bcfg2.conf when present, else built-in defaults' },
    'signing-key': { type: 'string', valueName: 'file', description: 'Ed25519 private key (PEM) that signs tarballs, host records and the manifest', default: '$BINDERY_SIGNING_KEY' },
    'keep-going': { type: 'boolean', short: 'k', description: 'publish every host without the entries that failed, listed in its record and the manifest (exit 1 still)' },
    jobs: { type: 'string', short: 'j', valueName: 'n', description: 'threads for binding, validators and writing', default: 'the available parallelism' },
    cache: { type: 'string', valueName: 'dir', description: 'incremental build cache: hosts whose inputs did not change are reused', default: '<out>/.cache' },
    'no-validate': { type: 'boolean', description: 'do not run the :test validators' },
    'skip-validator': { type: 'string', multiple: true, valueName: 'path', description: 'do not run the validator of this client path, e.g. /etc/sudoers when visudo is missing (repeatable; each is named in a warning)' },
    report: { type: 'string', valueName: 'file', description: 'also write a self-contained HTML report of the build (and of the changes since the previous one)' },
    junit: { type: 'string', valueName: 'file', description: 'also write JUnit XML: one test case per host, a failure per failed path' },
    format: { type: 'string', valueName: 'text|github', description: 'github: print failures and warnings as GitHub Actions workflow annotations on stdout', default: 'text' },
    shard: { type: 'string', valueName: 'K/N', description: 'build only the hosts whose name hashes to shard K of N (join the N outputs with bindery merge); keys must exist (bindery keys)' },
    publish: { type: 'string', valueName: 'url', description: 'then publish the build to this store (s3://bucket/prefix or file:///dir), as bindery publish does' },
    ...storeOptions,
  },
  async run(ctx) {
    // Loaded when the command runs, so help, --version and other commands start fast.
    const { compile, messagesOf } = await import('../../pipeline/index.js');
    const { abortPublish, beginPublish, finishPublish, loadSigningKey } = await import('../../emit/index.js');
    const repo = resolve(positional(ctx, 0, 'repository directory', USAGE));
    const outOpt = stringOpt(ctx, 'out');
    if (!outOpt) throw new BinderyError('USAGE', 'missing --out <dir>', {}, `usage: bindery ${USAGE}`);
    const out = resolve(outOpt);
    const started = Date.now();
    // Fail on a missing key before any work is done.
    const key = loadSigningKey({ path: stringOpt(ctx, 'signing-key'), env: process.env });
    const jobs = jobsOption(ctx);
    const keepGoing = boolOpt(ctx, 'keep-going');
    const format = stringOpt(ctx, 'format') ?? 'text';
    if (format !== 'text' && format !== 'github') throw new BinderyError('USAGE', `--format ${format}: expected text or github`, {}, `usage: bindery ${USAGE}`);
    const phases: Record<string, number> = {};
    const to = stringOpt(ctx, 'publish');
    if (to) parseStoreUrl(to);
    const shardText = stringOpt(ctx, 'shard');
    const split = shardText ? parseShard(shardText) : null;
    let pub: Publication | null = null;
    try {
      const result = await compile({
        repo,
        configPath: stringOpt(ctx, 'config'),
        jobs,
        validate: !boolOpt(ctx, 'no-validate'),
        skipValidators: listOpt(ctx, 'skip-validator'),
        generateKeys: split === null,
        ...(split ? { hosts: (host: string) => shardOf(host, split.count) === split.index } : {}),
        env: process.env,
        onPhase: timePhases(progressPhases(ctx.io), phases),
        // The output directory is locked only once the repository has loaded.
        emitTo: () => (pub = beginPublish(out, key)).target,
        cacheDir: resolve(stringOpt(ctx, 'cache') ?? join(out, layout.CACHE)),
      });
      const { io } = ctx;
      const failures = result.hosts.flatMap((h) => h.failures);
      const finish = (published: boolean) =>
        reviewOutputs(ctx, format, {
          repo,
          out,
          published,
          hosts: result.hosts,
          failures,
          warnings: result.warnings,
          entrySets: result.repo.entrySets,
          hostGroups: new Map(result.metadata.clients.map((c) => [c.hostname, c.groups])),
          phases,
          revision: result.revision,
          seconds: (Date.now() - started) / 1000,
        });
      if (split) refuseMissingKeys(result.repo.entrySets, failures, repo);
      const shard = split && { ...split, inputs: inputHash([...result.repo.files.values(), ...result.repo.pluginFiles.values()], result.config.raw) };
      const messages = messagesOf(result.repo, failures, result.warnings);
      messages.warnings.forEach((w) => io.report(w));
      const summary = {
        ok: failures.length === 0,
        published: false,
        out,
        hosts: result.hosts.length,
        files: result.hosts.reduce((n, h) => n + h.fileCount, 0),
        errors: messages.errors,
        failedPaths: failedByHost(result),
        warnings: messages.warnings,
        skipped: result.skipped,
        keysWritten: result.keysWritten,
        validation: result.validation,
        binding: result.binding,
        revision: result.revision,
        seconds: 0,
      };
      messages.errors.forEach((m) => io.report(m));
      if (failures.length > 0 && !keepGoing) {
        // Decision 17 (docs/decisions.md): without --keep-going any failure fails the whole build.
        abortPublish(pub!, result.hosts.flatMap((h) => h.emitted?.created ?? []));
        pub = null;
        io.info(`build failed: entries could not be bound (${failureCounts(failures)}); nothing was published to ${out} (any previous build there is untouched; --keep-going publishes every host without its failed entries)`);
        await finish(false);
        io.result({ ...summary, seconds: (Date.now() - started) / 1000 });
        return 1;
      }
      const manifest = finishPublish(pub!, { hosts: result.hosts.map((h) => h.emitted!), failures, skipped: result.skipped, warnings: result.warnings, revision: result.revision, ...(shard ? { shard } : {}) });
      pub = null;
      result.saveCache();
      const seconds = (Date.now() - started) / 1000;
      const { bound, reused } = result.binding;
      io.info(
        `built ${countOf(result.hosts.length, 'host')} (${summary.files} files) in ${seconds.toFixed(2)} s, ${(result.hosts.length / Math.max(seconds, 0.001)).toFixed(0)} hosts/s → ${out}/hosts/` +
          `; ${bound} bound, ${reused} reused from the cache` +
          (result.keysWritten.length ? `; generated ${result.keysWritten.length} key files` : '') +
          (result.validation.checked ? `; ${result.validation.runs} validator runs for ${result.validation.checked} validated files` : '') +
          (result.warnings.length ? `; ${countOf(result.warnings.length, 'warning')}` : '') +
          (failures.length ? `; published without the entries that failed (${failureCounts(failures)})` : ''),
      );
      await finish(true);
      const store = to ? await publishOutput(ctx, out, to) : undefined;
      io.result({
        ...summary,
        published: true,
        ...(store ? { store } : {}),
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

/** Record the seconds each phase takes (for the report) while showing its progress. */
function timePhases(inner: ReturnType<typeof progressPhases>, into: Record<string, number>): ReturnType<typeof progressPhases> {
  return (phase, total) => {
    const t0 = performance.now();
    const p = inner(phase, total);
    return {
      tick: () => p.tick(),
      done: () => {
        p.done();
        into[phase] = (into[phase] ?? 0) + (performance.now() - t0) / 1000;
      },
    };
  };
}

/** --report, --junit and --format github: files for reviewers and CI, written whether or not the build published. */
async function reviewOutputs(ctx: CommandContext, format: string, b: FinishedBuild): Promise<void> {
  const report = stringOpt(ctx, 'report');
  const junit = stringOpt(ctx, 'junit');
  if (!report && !junit && format !== 'github') return;
  const { buildAnnotations, buildJunit, buildReport } = await import('../../report/index.js');
  if (report) {
    writeOutputFile(resolve(report), await buildReport(b), 0o644, 'REPO');
    ctx.io.info(`report: ${resolve(report)}`);
  }
  if (junit) writeOutputFile(resolve(junit), buildJunit(b), 0o644, 'REPO');
  if (format === 'github' && !ctx.io.json) ctx.io.out(buildAnnotations(b));
}
