import { resolve } from 'node:path';
import { BinderyError, countOf } from '../../errors.js';
import { compile, messagesOf } from '../../pipeline/index.js';
import { loadSigningKey, publishBuild } from '../../emit/index.js';
import { boolOpt, stringOpt, type Command } from '../command.js';
import { failureCounts, jobsOption, positional, progressPhases } from './common.js';
import { publishOutput, storeOptions } from './publish.js';
import { inputHash, parseShard, parseStoreUrl, refuseMissingKeys, shardOf } from '../../publish/index.js';

const USAGE = 'build <repo> --out <dir> [--config bcfg2.conf] [--signing-key key.pem] [--keep-going] [--jobs N] [--no-validate] [--shard K/N] [--publish s3://bucket/prefix|file:///dir [publish options]] [--json]';

export const buildCommand: Command = {
  name: 'build',
  summary: 'compile every client of a repository into signed per-host tarballs and a manifest',
  usage: USAGE,
  options: {
    out: { type: 'string', short: 'o', valueName: 'dir', description: 'output directory: current -> .builds/<id>/{hosts/,manifest.json} (required)' },
    config: { type: 'string', short: 'C', valueName: 'file', description: 'bcfg2.conf to read', default: '<repo>/bcfg2.conf when present, else built-in defaults' },
    'signing-key': { type: 'string', valueName: 'file', description: 'Ed25519 private key (PEM) that signs tarballs and the manifest', default: '$BINDERY_SIGNING_KEY' },
    'keep-going': { type: 'boolean', short: 'k', description: 'publish the hosts that bound even when some entries failed (exit 1 still)' },
    jobs: { type: 'string', short: 'j', valueName: 'n', description: 'threads for binding, validators and writing', default: 'the available parallelism' },
    'no-validate': { type: 'boolean', description: 'do not run the :test validators' },
    shard: { type: 'string', valueName: 'K/N', description: 'build only the hosts whose name hashes to shard K of N (join the N outputs with bindery merge); keys must exist (bindery keys)' },
    publish: { type: 'string', valueName: 'url', description: 'then publish the build to this store (s3://bucket/prefix or file:///dir), as bindery publish does' },
    ...storeOptions,
  },
  async run(ctx) {
    const repo = resolve(positional(ctx, 0, 'repository directory', USAGE));
    const out = stringOpt(ctx, 'out');
    if (!out) throw new BinderyError('USAGE', 'missing --out <dir>', {}, `usage: bindery ${USAGE}`);
    const started = Date.now();
    // Fail on a missing key before any work is done.
    const key = loadSigningKey({ path: stringOpt(ctx, 'signing-key'), env: process.env });
    const jobs = jobsOption(ctx);
    const to = stringOpt(ctx, 'publish');
    if (to) parseStoreUrl(to);
    const shardText = stringOpt(ctx, 'shard');
    const split = shardText ? parseShard(shardText) : null;
    const result = await compile({
      repo,
      configPath: stringOpt(ctx, 'config'),
      jobs,
      validate: !boolOpt(ctx, 'no-validate'),
      generateKeys: split === null,
      env: process.env,
      onPhase: progressPhases(ctx.io),
      ...(split ? { hosts: (host: string) => shardOf(host, split.count) === split.index } : {}),
    });
    const { io } = ctx;
    const failures = result.hosts.flatMap((h) => h.failures);
    if (split) refuseMissingKeys(result.repo.entrySets, failures, repo);
    const shard = split && { ...split, inputs: inputHash([...result.repo.files.values(), ...result.repo.pluginFiles.values()], result.config.raw) };
    const messages = messagesOf(result.repo, failures, result.warnings);
    messages.warnings.forEach((w) => io.report(w));
    const keepGoing = boolOpt(ctx, 'keep-going');
    const summary = {
      ok: failures.length === 0,
      published: false,
      out: resolve(out),
      hosts: result.hosts.length,
      files: 0,
      errors: messages.errors,
      warnings: messages.warnings,
      skipped: result.skipped,
      keysWritten: result.keysWritten,
      validation: result.validation,
      binding: result.binding,
      revision: result.revision,
      seconds: 0,
    };
    // With --keep-going a host with any failure is left out rather than shipped incomplete.
    const good = result.hosts.filter((h) => h.failures.length === 0);
    summary.files = good.reduce((n, h) => n + h.files.length, 0);
    if (failures.length > 0 && (!keepGoing || good.length === 0)) {
      messages.errors.forEach((m) => io.report(m));
      io.info(`build failed: entries could not be bound (${failureCounts(failures)})${keepGoing ? ' and no host bound completely' : ''}; nothing was written to ${out} (any previous build there is untouched${keepGoing ? '' : '; --keep-going publishes the hosts that bound'})`);
      io.result({ ...summary, seconds: (Date.now() - started) / 1000 });
      return 1;
    }
    const bar = io.progress(good.length, 'writing');
    const manifest = await publishBuild(
      resolve(out),
      { hosts: good.map((h) => ({ host: h.host, files: h.files })), failures, skipped: result.skipped, warnings: result.warnings, revision: result.revision, ...(shard ? { shard } : {}) },
      key,
      { concurrency: jobs * 2, onHost: () => bar.tick() },
    );
    bar.done();
    messages.errors.forEach((m) => io.report(m));
    const seconds = (Date.now() - started) / 1000;
    io.info(
      `built ${Object.keys(manifest.hosts).length} host${good.length === 1 ? '' : 's'} (${summary.files} files) in ${seconds.toFixed(2)} s → ${resolve(out)}/hosts/` +
        (result.keysWritten.length ? `; generated ${result.keysWritten.length} key files` : '') +
        (result.validation.checked ? `; ${result.validation.runs} validator runs for ${result.validation.checked} validated files` : '') +
        (result.warnings.length ? `; ${countOf(result.warnings.length, 'warning')}` : '') +
        (failures.length ? `; failures left ${countOf(new Set(failures.map((f) => f.host)).size, 'host')} out (${failureCounts(failures)})` : ''),
    );
    const store = to ? await publishOutput(ctx, resolve(out), to) : undefined;
    io.result({ ...summary, published: true, ...(store ? { store } : {}), seconds, manifest: `${resolve(out)}/manifest.json`, tarballs: Object.fromEntries(Object.entries(manifest.hosts).map(([h, v]) => [h, { tarball: v.tarball, sha256: v.sha256 }])) });
    return failures.length > 0 ? 1 : 0;
  },
};
