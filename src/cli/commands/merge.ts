import { resolve } from 'node:path';
import { BinderyError } from '../../errors.js';
import { loadSigningKey } from '../../emit/index.js';
import { mergeShards } from '../../publish/index.js';
import { stringOpt, type Command } from '../command.js';
import { publishOutput, storeOptions } from './publish.js';

const USAGE = 'merge <shard out dir>… --out <dir> [--signing-key key.pem] [--publish s3://bucket/prefix|file:///dir [publish options]] [--json]';

export const mergeCommand: Command = {
  name: 'merge',
  summary: 'join the outputs of bindery build --shard K/N (every K of one N) into one output with one signed manifest',
  usage: USAGE,
  options: {
    out: { type: 'string', short: 'o', valueName: 'dir', description: 'the merged output directory (required)' },
    'signing-key': { type: 'string', valueName: 'file', description: 'the Ed25519 key (PEM) the shards were signed with; it signs the merged manifest', default: '$BINDERY_SIGNING_KEY' },
    publish: { type: 'string', valueName: 'url', description: 'then publish the merged build to this store, as bindery publish does' },
    ...storeOptions,
  },
  async run(ctx) {
    const shards = ctx.positionals.map((p) => resolve(p));
    if (shards.length === 0) throw new BinderyError('USAGE', 'missing the shard output directories', {}, `usage: bindery ${USAGE}`);
    const out = stringOpt(ctx, 'out');
    if (!out) throw new BinderyError('USAGE', 'missing --out <dir>', {}, `usage: bindery ${USAGE}`);
    const started = Date.now();
    const key = loadSigningKey({ path: stringOpt(ctx, 'signing-key'), env: process.env });
    const merged = await mergeShards(shards, resolve(out), key);
    ctx.io.info(`merged ${merged.shards} shards (${merged.hosts} hosts) → ${merged.out}`);
    const to = stringOpt(ctx, 'publish');
    const store = to ? await publishOutput(ctx, merged.out, to) : undefined;
    ctx.io.result({ ok: true, out: merged.out, shards: merged.shards, hosts: merged.hosts, revision: merged.manifest.revision, ...(store ? { store } : {}), seconds: (Date.now() - started) / 1000 });
    return 0;
  },
};
