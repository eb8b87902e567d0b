import { Worker } from 'node:worker_threads';
import pLimit from 'p-limit';
import { BinderyError, isBinderyError, type Diagnostic } from '../errors.js';
import type { Config } from '../config/index.js';
import type { RepoModel } from '../repo/index.js';
import { findClient, groupStandIn, type MetadataModel } from '../metadata/index.js';
import type { PropertiesModel } from '../properties/index.js';
import { bindEntry, newCaches, type BindContext, type BindResult, type Decrypted } from '../cfg/index.js';
import { contentHash, emitHost, type ContentHashes, type EmitTarget, type EmittedHost } from '../emit/index.js';
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

/** One (validator, content) a host's file needs checked; the verdict comes back in the same order. */
export interface ValidationItem {
  readonly validator: string;
  readonly sha256: string;
  readonly content: Buffer;
}
export interface ValidationVerdict {
  readonly ok: boolean;
  readonly message?: string;
}
/** Runs each (validator, content) once however many hosts ask (it lives on the main thread). */
export type Validate = (items: readonly ValidationItem[]) => Promise<readonly ValidationVerdict[]>;

/** What became of one client. */
export interface HostOutcome {
  readonly host: string;
  readonly failures: readonly BindFailure[];
  /** How many files it got. */
  readonly fileCount: number;
  /** Its tarball and record in the output's store, when emitting. */
  readonly emitted: EmittedHost | null;
  /** Its bound files when asked to keep them (no emit sink), else empty: emitted hosts are dropped. */
  readonly files: readonly BoundFile[];
  /** Warnings of its binding (one the same binder already reported for another client is left out). */
  readonly diagnostics: readonly Diagnostic[];
}

/** How bindAll treats each client's result. */
export interface BindSink {
  /** Write each client into the output's store as soon as it is bound (then drop its files). */
  readonly emit: EmitTarget | null;
  /** Return each client's bound files (memory grows with the build: not for big builds). */
  readonly keepFiles: boolean;
}

/** A binder: the bind context plus what is shared by every client it binds. */
interface Binder {
  readonly ctx: BindContext;
  /** Host-independent bind results by (entry, group set): bound once, shared by every such client. */
  readonly shared: Map<string, BindResult>;
  /** Per entry set: null when its result can depend on more than the client's groups, else the hosts its .H_ files name. */
  readonly shape: Map<string, ReadonlySet<string> | null>;
  readonly hashes: ContentHashes;
  /** Diagnostics already reported by this binder (the same warning from many hosts is sent once, as compile() reports it). */
  readonly seen: Set<string>;
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

function newBinder(input: BindInput): Binder {
  return { ctx: bindContext(input), shared: new Map(), shape: new Map(), hashes: new WeakMap(), seen: new Set() };
}

/** Plain (or encrypted plain) generators and deltas and info without Client conditions: only groups and .H_ files matter. */
const GROUP_DETERMINED = new Set<CfgFile['kind']>(['plain', 'crypt', 'cat', 'diff', 'test', 'info.xml', 'legacy-info']);

function setShape(b: Binder, set: EntrySet): ReadonlySet<string> | null {
  let shape = b.shape.get(set.name);
  if (shape === undefined) {
    const files = [...set.generators, ...set.deltas, ...set.validators, ...set.infos];
    const simple = set.creators.length === 0 && files.every((f) => GROUP_DETERMINED.has(f.kind) && !(f.kind === 'info.xml' && f.file.data.includes('<Client')));
    shape = simple ? new Set(files.flatMap((f) => (f.specificity.kind === 'host' ? [f.specificity.host] : []))) : null;
    b.shape.set(set.name, shape);
  }
  return shape;
}

/** Whether binding `entry` for m gives what it gives for any client with m's groups. */
function groupDetermined(b: Binder, entry: PathEntry, m: ClientMetadata): boolean {
  for (const name of entry.altsrc ? [entry.altsrc, entry.name] : [entry.name]) {
    const set = b.ctx.repo.entrySets.get(name);
    if (!set) continue;
    const shape = setShape(b, set);
    if (shape === null || shape.has(m.hostname)) return false;
  }
  return true;
}

function bindShared(b: Binder, entry: PathEntry, m: ClientMetadata): BindResult {
  if (!groupDetermined(b, entry, m)) return bindEntry(b.ctx, entry, m);
  const key = `${entry.name}\0${entry.altsrc ?? ''}\0${m.groups.join('\0')}`;
  const hit = b.shared.get(key);
  if (hit) return hit;
  const r = bindEntry(b.ctx, entry, m);
  // Failures and warnings name the host: those are bound per host.
  if (r.ok && r.diagnostics.length === 0) b.shared.set(key, r);
  return r;
}

function diagnosticKey(d: Diagnostic): string {
  return `${d.code}\0${d.file ?? ''}\0${d.line ?? ''}\0${d.path ?? ''}\0${d.message}`;
}

/** Bind every planned entry of one client; files sorted by path. Diagnostics are new ones only. */
function bindClient(b: Binder, m: ClientMetadata, plan: readonly PathEntry[]): { files: BoundFile[]; failures: BindFailure[]; diagnostics: Diagnostic[] } {
  const files: BoundFile[] = [];
  const failures: BindFailure[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const entry of plan) {
    const r = bindShared(b, entry, m);
    for (const d of r.diagnostics) {
      const k = diagnosticKey(d);
      if (!b.seen.has(k)) {
        b.seen.add(k);
        diagnostics.push(d);
      }
    }
    if (r.ok) files.push(r.file);
    else if (!r.omitted) failures.push(r.failure);
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, failures, diagnostics };
}

/** Bind, validate and (when emitting) write one client. */
async function processHost(b: Binder, m: ClientMetadata, plan: readonly PathEntry[], sink: BindSink, validate: Validate | null): Promise<HostOutcome> {
  const bound = bindClient(b, m, plan);
  let files = bound.files;
  const failures = bound.failures;
  const checked = validate ? files.filter((f) => f.validator) : [];
  if (checked.length > 0) {
    const verdicts = await validate!(checked.map((f) => ({ validator: f.validator!, sha256: contentHash(f.data, b.hashes), content: f.data })));
    const failed = new Set<string>();
    checked.forEach((f, i) => {
      const v = verdicts[i]!;
      if (v.ok) return;
      failed.add(f.path);
      failures.push({ host: m.hostname, path: f.path, file: f.validator, code: 'validator-failed', message: `validator failed: ${v.message ?? 'no output'}` });
    });
    if (failed.size) files = files.filter((f) => !failed.has(f.path));
  }
  const emitted = sink.emit ? emitHost(sink.emit, m.hostname, files, failures, b.hashes) : null;
  return { host: m.hostname, failures, fileCount: files.length, emitted, files: sink.keepFiles ? files : [], diagnostics: bound.diagnostics };
}

/** Structured clone turns Buffers into Uint8Arrays; give them their Buffer view back. */
const asBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** Rebuild a BindInput received from another thread, sharing one RepoFile per path. */
function reviveInput(input: BindInput): BindInput {
  const files = new Map<string, RepoFile>();
  for (const [rel, f] of input.repo.files) files.set(rel, { ...f, data: asBuffer(f.data) });
  const revive = (list: readonly CfgFile[]) => list.map((c) => ({ ...c, file: files.get(c.file.rel) ?? { ...c.file, data: asBuffer(c.file.data) } }));
  const entrySets = new Map<string, EntrySet>();
  for (const [name, s] of input.repo.entrySets) {
    entrySets.set(name, { ...s, generators: revive(s.generators), deltas: revive(s.deltas), validators: revive(s.validators), infos: revive(s.infos), creators: revive(s.creators) });
  }
  const decrypted = new Map([...input.decrypted].map(([rel, v]) => [rel, 'plain' in v ? { plain: asBuffer(v.plain) } : v]));
  return { ...input, repo: { ...input.repo, files, entrySets }, decrypted };
}

/** A BinderyError as plain data, to cross between threads (structured clone drops its fields). */
type WireError = { code: BinderyError['code']; message: string; location: BinderyError['location']; hint?: string } | { internal: string };
const toWire = (e: unknown): WireError => (isBinderyError(e) ? { code: e.code, message: e.message, location: e.location, hint: e.hint } : { internal: e instanceof Error ? (e.stack ?? e.message) : String(e) });
const fromWire = (w: WireError): Error => ('internal' in w ? new Error(`bind worker: ${w.internal}`) : new BinderyError(w.code, w.message, w.location, w.hint));

/** Messages between the main thread and a bind-and-emit worker. */
export type FromWorker =
  | { readonly outcome: HostOutcome }
  | { readonly validate: { readonly id: number; readonly items: readonly ValidationItem[] } }
  | { readonly error: WireError };
export type ToWorker = { readonly validated: { readonly id: number; readonly verdicts: readonly ValidationVerdict[] } };
export interface WorkerData {
  readonly input: BindInput;
  readonly hosts: readonly string[];
  readonly sink: BindSink;
  readonly validating: boolean;
}

/**
 * A worker costs 0.5-1 s of CPU (measured: loading the stages' modules, about 0.25 s, then JIT warm-up and its own copy of
 * the repository and caches), about what binding and writing 128 clients of 100 entries costs on these
 * 2-core machines (scripts/bench.ts): below that, this thread does the work.
 */
const CLIENTS_PER_WORKER = 128;

/** How many of its clients a worker keeps in flight while it waits for validation verdicts. */
const IN_FLIGHT = 8;

/** The body of a bind-and-emit worker (bind-worker.ts): bind its clients, post each outcome. */
export async function runWorker(data: WorkerData, post: (m: FromWorker) => void, onMessage: (listener: (m: ToWorker) => void) => void): Promise<void> {
  const input = reviveInput(data.input);
  const b = newBinder(input);
  const byName = new Map(input.metadata.clients.map((m) => [m.hostname, m]));
  const waiting = new Map<number, (v: readonly ValidationVerdict[]) => void>();
  let next = 0;
  onMessage((m) => {
    const resolve = waiting.get(m.validated.id);
    waiting.delete(m.validated.id);
    resolve?.(m.validated.verdicts);
  });
  const validate: Validate | null = data.validating
    ? (items) =>
        new Promise((resolve) => {
          const id = next++;
          waiting.set(id, resolve);
          post({ validate: { id, items } });
        })
    : null;
  const limit = pLimit(IN_FLIGHT);
  try {
    await Promise.all(
      data.hosts.map((host) =>
        limit(async () => {
          const outcome = await processHost(b, byName.get(host)!, input.plans.get(host) ?? [], data.sink, validate);
          post({ outcome });
        }),
      ),
    );
  } catch (e) {
    post({ error: toWire(e) });
  }
}

/**
 * Start a worker running bind-worker beside this module: the compiled .js, or when running
 * from TypeScript sources (tests, scripts), the .ts loaded through tsx's API, since Node 20
 * does not apply --import loader hooks inside workers.
 */
function startWorker(workerData: WorkerData): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./bind-worker.js', import.meta.url), { workerData });
  const api = import.meta.resolve('tsx/esm/api');
  const script = new URL('./bind-worker.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(api)}).then((t) => t.tsImport(${JSON.stringify(script)}, ${JSON.stringify(import.meta.url)}))`, { eval: true, workerData });
}

export interface BindAllResult {
  /** In client order. */
  readonly hosts: HostOutcome[];
  /** Threads that bound: worker threads plus this one (1 when this thread bound everything alone). */
  readonly threads: number;
}

/**
 * Bind (and, with sink.emit, write) every client: in this thread with one job, else in `jobs`
 * threads (this one and jobs - 1 workers), each given an interleaved shard of the clients; a
 * worker gets its own copy of the already parsed repository (nothing is read or parsed again). Each binder keeps its caches, so
 * a template is compiled once per binder and host-independent content is bound once per
 * group set. Validation requests come back to `validate` here, which runs each content once.
 */
export async function bindAll(input: BindInput, opts: { clients: readonly ClientMetadata[]; jobs: number; sink: BindSink; validate: Validate | null; onClient: () => void }): Promise<BindAllResult> {
  const { clients } = opts;
  const validate = input.validating ? opts.validate : null;
  const workers = Math.min(opts.jobs, Math.floor(clients.length / CLIENTS_PER_WORKER));
  if (workers <= 1) {
    const b = newBinder(input);
    // Several clients in flight, so their validators run side by side (up to --jobs at once).
    const limit = pLimit(IN_FLIGHT);
    const hosts = await Promise.all(
      clients.map((m) =>
        limit(async () => {
          const outcome = await processHost(b, m, input.plans.get(m.hostname) ?? [], opts.sink, validate);
          opts.onClient();
          return outcome;
        }),
      ),
    );
    return { hosts, threads: 1 };
  }
  const byHost = new Map<string, HostOutcome>();
  const shards: string[][] = Array.from({ length: workers }, () => []);
  clients.forEach((m, k) => shards[k % workers]!.push(m.hostname));
  const running: Worker[] = [];
  // This thread binds the first shard itself (one worker fewer to start), yielding between
  // clients so the workers' messages are answered meanwhile.
  let stopped = false;
  const here = async () => {
    const b = newBinder(input);
    const byName = new Map(clients.map((m) => [m.hostname, m]));
    const limit = pLimit(IN_FLIGHT);
    await Promise.all(
      shards[0]!.map((host) =>
        limit(async () => {
          if (stopped) return;
          // Yield first, so the workers' messages are answered between clients.
          await new Promise((resolve) => setImmediate(resolve));
          byHost.set(host, await processHost(b, byName.get(host)!, input.plans.get(host) ?? [], opts.sink, validate));
          opts.onClient();
        }),
      ),
    );
  };
  try {
    await Promise.all([
      here(),
      ...shards.slice(1).map(
        (hosts) =>
          new Promise<void>((resolve, reject) => {
            const worker = startWorker({ input, hosts, sink: opts.sink, validating: validate !== null });
            running.push(worker);
            let done = 0;
            let failed: Error | null = null;
            worker.on('message', (msg: FromWorker) => {
              if ('outcome' in msg) {
                const { outcome } = msg;
                byHost.set(outcome.host, { ...outcome, files: outcome.files.map((f) => ({ ...f, data: asBuffer(f.data) })) });
                done++;
                opts.onClient();
                if (done === hosts.length) resolve();
              } else if ('validate' in msg) {
                const { id, items } = msg.validate;
                validate!(items.map((i) => ({ ...i, content: asBuffer(i.content) }))).then(
                  (verdicts) => worker.postMessage({ validated: { id, verdicts } } satisfies ToWorker),
                  (e: unknown) => reject(e),
                );
              } else {
                failed = fromWire(msg.error);
              }
            });
            worker.on('error', reject);
            worker.on('exit', (code) => {
              if (failed) reject(failed);
              else if (done < hosts.length) reject(new Error(`bind worker exited with code ${code} after ${done} of ${hosts.length} clients`));
            });
          }),
      ),
    ]);
  } finally {
    // On a failure the other threads are stopped: the build is going to be thrown away.
    stopped = true;
    await Promise.all(running.map((w) => w.terminate()));
  }
  return { hosts: clients.map((m) => byHost.get(m.hostname)!), threads: workers };
}
