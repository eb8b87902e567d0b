import { Worker } from 'node:worker_threads';
import type { Diagnostic } from '../errors.js';
import type { Config } from '../config/index.js';
import type { RepoModel } from '../repo/index.js';
import { findClient, groupStandIn, type MetadataModel } from '../metadata/index.js';
import { bindEntry, newCaches, type BindContext, type Decrypted } from '../cfg/index.js';
import type { PropertiesModel } from '../properties/index.js';
import type { BindFailure, BoundFile, CfgFile, ClientMetadata, EntrySet, PathEntry, RepoFile } from '../types.js';

/** Everything a binder needs; plain data, so it can be sent to a worker as it is. */
export interface BindInput {
  readonly repo: RepoModel;
  readonly config: Config;
  readonly decrypted: ReadonlyMap<string, Decrypted>;
  readonly properties: PropertiesModel;
  readonly metadata: MetadataModel;
  readonly plans: ReadonlyMap<string, readonly PathEntry[]>;
  readonly validating: boolean;
}

export interface ClientBinding {
  readonly host: string;
  readonly files: BoundFile[];
  readonly failures: BindFailure[];
  readonly diagnostics: Diagnostic[];
}

export function bindContext(input: BindInput): BindContext {
  const { metadata } = input;
  return {
    repo: input.repo,
    config: input.config,
    decrypted: input.decrypted,
    properties: input.properties,
    validating: input.validating,
    clients: metadata.clients,
    findClient: (name) => findClient(metadata, name),
    groupMetadata: (group) => groupStandIn(group, metadata.clients),
    caches: newCaches(),
  };
}

/** Bind every planned entry of one client; files sorted by path. */
export function bindClient(ctx: BindContext, m: ClientMetadata, plan: readonly PathEntry[]): ClientBinding {
  const files: BoundFile[] = [];
  const failures: BindFailure[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const entry of plan) {
    const r = bindEntry(ctx, entry, m);
    diagnostics.push(...r.diagnostics);
    if (r.ok) files.push(r.file);
    else if (!r.omitted) failures.push(r.failure);
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { host: m.hostname, files, failures, diagnostics };
}

/** Structured clone turns Buffers into Uint8Arrays; give them their Buffer view back. */
const asBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** Rebuild a RepoModel received from another thread, sharing one RepoFile per path. */
export function reviveRepo(repo: RepoModel): RepoModel {
  const files = new Map<string, RepoFile>();
  for (const [rel, f] of repo.files) files.set(rel, { ...f, data: asBuffer(f.data) });
  const revive = (list: readonly CfgFile[]) => list.map((c) => ({ ...c, file: files.get(c.file.rel) ?? { ...c.file, data: asBuffer(c.file.data) } }));
  const entrySets = new Map<string, EntrySet>();
  for (const [name, s] of repo.entrySets) {
    entrySets.set(name, { ...s, generators: revive(s.generators), deltas: revive(s.deltas), validators: revive(s.validators), infos: revive(s.infos), creators: revive(s.creators) });
  }
  return { ...repo, files, entrySets };
}

export function reviveDecrypted(d: ReadonlyMap<string, Decrypted>): Map<string, Decrypted> {
  return new Map([...d].map(([rel, v]) => [rel, 'plain' in v ? { plain: asBuffer(v.plain) } : v]));
}

export function reviveBinding(b: ClientBinding): ClientBinding {
  return { ...b, files: b.files.map((f) => ({ ...f, data: asBuffer(f.data) })) };
}

/**
 * Start a bind worker running bind-worker beside this module: the compiled .js, or when
 * running from TypeScript sources (tests, scripts), the .ts loaded through tsx's API, since
 * Node 20 does not apply --import loader hooks inside workers.
 */
function startWorker(workerData: unknown): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./bind-worker.js', import.meta.url), { workerData });
  const api = import.meta.resolve('tsx/esm/api');
  const script = new URL('./bind-worker.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(api)}).then((t) => t.tsImport(${JSON.stringify(script)}, ${JSON.stringify(import.meta.url)}))`, { eval: true, workerData });
}

/** When to hand the remaining clients to workers (tests set both to 0 to force it). */
export interface ParallelOptions {
  readonly probeMs?: number;
  readonly thresholdMs?: number;
  readonly minJobs?: number;
}

/**
 * Measured (scripts/bench.ts, 2,000 clients × 30 Liquid templates): a worker binds about 1.5×
 * slower than the main thread, so two workers only break even; from three on they win.
 */
const MIN_JOBS_FOR_WORKERS = 3;

/** Below this much projected binding time, starting workers (and copying the repo to them) costs more than it saves. */
const WORKER_THRESHOLD_MS = 1500;
/** How long to bind in this thread before estimating the rest. */
const PROBE_MS = 250;

/**
 * Bind all clients. Binding starts in this thread; if the projected remaining time is large
 * (template-heavy repositories with many clients) and jobs allow, the remaining clients are split
 * into shards bound by worker threads. Each binder keeps its own caches, so a file is still
 * parsed or compiled once per binder; decryption already happened once, before.
 */
export async function bindAll(input: BindInput, jobs: number, onClient: () => void, opts: ParallelOptions = {}): Promise<{ bindings: ClientBinding[]; workers: number; inWorkers: number }> {
  // The planned clients: all of them, or one shard's.
  const clients = input.metadata.clients.filter((m) => input.plans.has(m.hostname));
  const ctx = bindContext(input);
  const results: ClientBinding[] = [];
  const started = performance.now();
  let i = 0;
  for (; i < clients.length; i++) {
    const m = clients[i]!;
    results.push(bindClient(ctx, m, input.plans.get(m.hostname) ?? []));
    onClient();
    const elapsed = performance.now() - started;
    if (jobs >= (opts.minJobs ?? MIN_JOBS_FOR_WORKERS) && elapsed >= (opts.probeMs ?? PROBE_MS) && clients.length - i - 1 >= jobs * 4) {
      const projected = (elapsed / (i + 1)) * (clients.length - i - 1);
      if (projected >= (opts.thresholdMs ?? WORKER_THRESHOLD_MS)) {
        i++;
        break;
      }
    }
  }
  if (i >= clients.length) return { bindings: results, workers: 0, inWorkers: 0 };
  const rest = clients.slice(i).map((m) => m.hostname);
  const shards: string[][] = Array.from({ length: jobs }, () => []);
  rest.forEach((host, k) => shards[k % jobs]!.push(host));
  const fromWorkers = await Promise.all(
    shards.map(
      (hosts) =>
        new Promise<ClientBinding[]>((resolve, reject) => {
          const worker = startWorker({ input, hosts });
          const done: ClientBinding[] = [];
          worker.on('message', (msg: { binding: ClientBinding }) => {
            done.push(reviveBinding(msg.binding));
            onClient();
          });
          worker.on('error', reject);
          worker.on('exit', (code) => (code === 0 && done.length === hosts.length ? resolve(done) : reject(new Error(`bind worker exited with code ${code}`))));
        }),
    ),
  );
  const byHost = new Map([...results, ...fromWorkers.flat()].map((b) => [b.host, b]));
  return { bindings: clients.map((m) => byHost.get(m.hostname)!), workers: jobs, inWorkers: rest.length };
}
