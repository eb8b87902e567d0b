import { BinderyError } from '../errors.js';
import { findClient } from '../metadata/index.js';
import { bindEntry, type BindContext, type BindResult } from '../cfg/index.js';
import { bindContext } from './bind-all.js';
import type { ClientMetadata } from '../types.js';
import { bindInput, load, plan, type Loaded, type LoadOptions } from './stages.js';

interface InspectOptions extends LoadOptions {
  readonly host: string;
  readonly env: NodeJS.ProcessEnv;
}

/** Read-only access to one client for `bindery info`: no keys are generated, nothing is written. */
async function open(opts: InspectOptions): Promise<{ ctx: BindContext; loaded: Loaded; client: ClientMetadata }> {
  const loaded = await load(opts);
  const client = findClient(loaded.metadata, opts.host);
  if (!client) {
    throw new BinderyError('USAGE', `no client "${opts.host}" in Metadata/clients.xml`, { file: 'Metadata/clients.xml', host: opts.host }, 'bindery compiles only the clients listed there (names are lower-case; aliases work too)');
  }
  const ctx = bindContext(bindInput(loaded, new Map(), opts.env, true));
  return { ctx, loaded, client };
}

export interface PathReport {
  readonly path: string;
  readonly ok: boolean;
  readonly source?: string;
  readonly deltas: readonly string[];
  readonly owner?: string;
  readonly group?: string;
  readonly mode?: string;
  readonly validator?: string;
  readonly message?: string;
}

/** `bindery info client`: metadata and, for every planned path, the file chosen. */
export async function inspectClient(opts: InspectOptions): Promise<{ metadata: ClientMetadata; paths: PathReport[]; failed: { path: string; message: string }[]; skipped: { bundle: string; tag: string; name: string }[] }> {
  const { ctx, loaded, client } = await open(opts);
  const { plans, skipped } = plan(loaded, [client]);
  const paths: PathReport[] = plans.get(client.hostname)!.map((entry) => {
    const r = bindEntry(ctx, entry, client);
    return r.ok
      ? { path: r.file.path, ok: true, source: r.file.source, deltas: r.file.deltas, owner: r.file.info.owner, group: r.file.info.group, mode: r.file.info.mode, validator: r.file.validator }
      : { path: entry.name, ok: false, deltas: [], message: r.failure.message };
  });
  paths.sort((a, b) => (a.path < b.path ? -1 : 1));
  // What a --keep-going build publishes this client without (decision 17 (docs/decisions.md)).
  const failed = paths.flatMap((p) => (p.ok ? [] : [{ path: p.path, message: p.message ?? '' }]));
  return { metadata: client, paths, failed, skipped: skipped.map(({ bundle, tag, name }) => ({ bundle, tag, name })) };
}

/** `bindery info buildfile`: bind one path for one client. */
export async function buildFile(opts: InspectOptions & { path: string; altsrc?: string }): Promise<BindResult> {
  const { ctx, client } = await open(opts);
  return bindEntry(ctx, { name: opts.path, ...(opts.altsrc ? { altsrc: opts.altsrc } : {}) }, client);
}
