import { Worker } from 'node:worker_threads';
import type { Diagnostic } from '../errors.js';
import type { Config } from '../config/index.js';
import type { RepoModel } from '../repo/index.js';
import { findClient, groupMetadata, type MetadataModel } from '../metadata/index.js';
import { bindEntry, newCaches, type BindContext, type Decrypted } from '../cfg/index.js';
import type { BindFailure, BoundFile, CfgFile, ClientMetadata, EntrySet, PathEntry, RepoFile } from '../types.js';

/** Everything a binder needs; plain data, so it can be sent to a worker as it is. */
export interface BindInput {
  readonly repo: RepoModel;
  readonly config: Config;
  readonly decrypted: ReadonlyMap<string, Decrypted>;
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
    clients: metadata.clients,
    findClient: (name) => findClient(metadata, name),
    groupMetadata: (group) => groupMetadata(metadata, group),
    caches: newCaches(),
  };
}

/** Bind every planned entry of one client; files sorted by path. */
export function bindClient(ctx: BindContext, m: ClientMetadata, plan: readonly PathEntry[], validating: boolean): ClientBinding {
  const files: BoundFile[] = [];
  const failures: BindFailure[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const entry of plan) {
    const r = bindEntry(ctx, entry, m);
    diagnostics.push(...r.diagnostics);
    if (r.ok) files.push(validating ? r.file : { ...r.file, validator: undefined });
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

/** Worker entry: the script path of the worker module beside this one, compiled or through tsx. */
function workerScript(): { url: URL; execArgv: string[] } {
  const ts = import.meta.url.endsWith('.ts');
  return { url: new URL(`./bind-worker.${ts ? 'ts' : 'js'}`, import.meta.url), execArgv: ts ? ['--import', 'tsx'] : [] };
}

/**
 * Bind all clients. With jobs > 1 and enough clients the clients are split into shards bound
 * by worker threads (binding templates is CPU work); otherwise in this thread. Each binder
 * keeps its own caches, so a file is still parsed or compiled once per binder.
 */
export async function bindAll(input: BindInput, jobs: number, onClient: () => void): Promise<ClientBinding[]> {
  const clients = input.metadata.clients;
  const workers = Math.min(jobs, Math.floor(clients.length / 16));
  if (workers < 2) {
    const ctx = bindContext(input);
    return clients.map((m) => {
      const b = bindClient(ctx, m, input.plans.get(m.hostname) ?? [], input.validating);
      onClient();
      return b;
    });
  }
  const shards: string[][] = Array.from({ length: workers }, () => []);
  clients.forEach((m, i) => shards[i % workers]!.push(m.hostname));
  const { url, execArgv } = workerScript();
  const results = await Promise.all(
    shards.map(
      (hosts) =>
        new Promise<ClientBinding[]>((resolve, reject) => {
          const worker = new Worker(url, { workerData: { input, hosts }, execArgv });
          const done: ClientBinding[] = [];
          worker.on('message', (msg: { binding?: ClientBinding; error?: string }) => {
            if (msg.binding) {
              done.push(reviveBinding(msg.binding));
              onClient();
            }
          });
          worker.on('error', reject);
          worker.on('exit', (code) => (code === 0 && done.length === hosts.length ? resolve(done) : reject(new Error(`bind worker exited with code ${code}`))));
        }),
    ),
  );
  const byHost = new Map(results.flat().map((b) => [b.host, b]));
  return clients.map((m) => byHost.get(m.hostname)!);
}
