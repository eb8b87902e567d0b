import { resolve } from 'node:path';
import { BinderyError } from '../../errors.js';
import { openStore, parseStoreUrl, publishToStore, type PublishResult } from '../../publish/index.js';
import { boolOpt, stringOpt, type Command, type CommandContext, type OptionSpec } from '../command.js';
import type { Io } from '../io.js';
import { intOption, positional } from './common.js';

const USAGE = 'publish <out dir> --to s3://bucket/prefix|file:///dir [--endpoint URL] [--path-style] [--keep N] [--grace SECONDS] [--json]';

/** The store options `publish` and `build --publish` share. */
export const storeOptions: OptionSpec = {
  endpoint: { type: 'string', valueName: 'url', description: 'an S3-compatible endpoint, e.g. http://127.0.0.1:7480', default: 'AWS, or $AWS_ENDPOINT_URL' },
  'path-style': { type: 'boolean', description: 'path-style S3 addressing (the default with --endpoint)' },
  keep: { type: 'string', valueName: 'n', description: 'builds the store keeps; objects no kept build names are removed', default: '3' },
  grace: { type: 'string', valueName: 'seconds', description: 'never remove objects younger than this (a concurrent publisher may be about to name them)', default: '3600' },
};

/** Publish outDir's current build to `to`, reporting progress and one summary line. */
export async function publishOutput(ctx: CommandContext, outDir: string, to: string): Promise<PublishResult> {
  const url = parseStoreUrl(to);
  const keep = intOption(ctx, 'keep', 3);
  const graceSeconds = intOption(ctx, 'grace', 3600, 0);
  const endpoint = stringOpt(ctx, 'endpoint');
  if (endpoint && !/^https?:\/\/[^/@\s]+\/?$/.test(endpoint)) {
    throw new BinderyError('USAGE', `--endpoint ${endpoint.replace(/\/\/[^@/]*@/, '//…@')} is not http(s)://host[:port]`, {}, 'for example --endpoint http://127.0.0.1:7480 (credentials come from the AWS environment or profile, never from the URL)');
  }
  const store = await openStore(url, { endpoint, pathStyle: boolOpt(ctx, 'path-style') || undefined });
  const started = Date.now();
  const result = await publishToStore(outDir, store, { keep, graceSeconds, onUpload: (total) => ctx.io.progress(total, 'uploading') });
  report(ctx.io, result, (Date.now() - started) / 1000);
  return result;
}

function report(io: Io, r: PublishResult, seconds: number): void {
  const mib = (r.objects.bytesUploaded / 1048576).toFixed(1);
  io.info(
    r.switched
      ? `published to ${r.url} (serial ${r.serial}): uploaded ${r.objects.uploaded} of ${r.objects.total} objects (${mib} MiB) in ${seconds.toFixed(2)} s` +
          (r.removed ? `; removed ${r.removed} objects no kept build names` : '') +
          `; keeping ${r.kept.length} build${r.kept.length === 1 ? '' : 's'}`
      : `${r.url} already serves this build (serial ${r.serial}): nothing uploaded`,
  );
}

export const publishCommand: Command = {
  name: 'publish',
  summary: 'upload a built output directory to an object store and make it the current build there',
  usage: USAGE,
  options: { to: { type: 'string', valueName: 'url', description: 's3://bucket/prefix or file:///dir (required)' }, ...storeOptions },
  async run(ctx) {
    const out = resolve(positional(ctx, 0, 'output directory', USAGE));
    const to = stringOpt(ctx, 'to');
    if (!to) throw new BinderyError('USAGE', 'missing --to <store URL>', {}, `usage: bindery ${USAGE}`);
    const started = Date.now();
    const result = await publishOutput(ctx, out, to);
    ctx.io.result({ ok: true, out, ...result, seconds: (Date.now() - started) / 1000 });
    return 0;
  },
};
