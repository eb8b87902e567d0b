import { execFileSync } from 'node:child_process';
import { diagnosticMessage, failureMessages, type Diagnostic, type Message } from '../errors.js';
import type { Config } from '../config/index.js';
import type { RepoModel } from '../repo/index.js';
import type { MetadataModel } from '../metadata/index.js';
import { bindAll, type BindSink, type HostOutcome } from './bind-all.js';
import type { EmitTarget } from '../emit/index.js';
import { passphrases } from '../secrets/index.js';
import type { BindFailure } from '../types.js';
import { repoChecks } from './checks.js';
import { clientHazards } from '../server/index.js';
import { validationService, type ValidationSummary } from './validation.js';
import { hostKeys, openCache, type CachedHost } from './cache.js';
import { sourceLine } from './source.js';
import { bindInput, keys, load, plan, type LoadOptions, type Phase, type Skipped } from './stages.js';

export interface CompileOptions extends LoadOptions {
  readonly jobs: number;
  /** false = --no-validate; validators also off when [cfg] validation = no… */
  readonly validate: boolean;
  /** …unless forced (`bindery validate`, like bcfg2-test --cfg-validation). */
  readonly forceValidation?: boolean;
  /** Run the key phase (generate missing keys into the repo). */
  readonly generateKeys: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly onPhase?: Phase;
  /**
   * Where bound clients go: written into an output's store as they are bound (emitTo is called
   * once, after loading and the key phase, just before binding), else kept in memory.
   */
  readonly emitTo?: () => EmitTarget;
  /** Only the clients this accepts are planned and bound (build --shard). */
  readonly hosts?: (host: string) => boolean;
  /** With emitTo: the incremental cache's directory (hosts whose inputs did not change are reused). */
  readonly cacheDir?: string;
  /** Client paths whose validators are not run (--skip-validator), each named in a warning. */
  readonly skipValidators?: readonly string[];
}

export type HostResult = HostOutcome;

export interface CompileResult {
  readonly repo: RepoModel;
  readonly config: Config;
  readonly metadata: MetadataModel;
  readonly hosts: readonly HostResult[];
  readonly skipped: readonly Skipped[];
  readonly warnings: readonly Diagnostic[];
  readonly keysWritten: readonly string[];
  readonly validation: ValidationSummary;
  /** Threads that bound (and wrote) the clients, how many they bound, and how many hosts came unchanged from the cache. */
  readonly binding: { readonly threads: number; readonly bound: number; readonly reused: number };
  readonly revision: string | null;
  /** Record this build's hosts in the cache (with cacheDir); call it once the build is published. */
  readonly saveCache: () => void;
}

const noProgress = { tick() {}, done() {} };

/** The git revision of the repository, when it is a checkout (for the manifest). */
function gitRevision(repo: string): string | null {
  try {
    return execFileSync('git', ['-C', repo, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

/** Same warning from many hosts is reported once. */
function dedupe(ds: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = `${d.code}\0${d.file ?? ''}\0${d.line ?? ''}\0${d.path ?? ''}\0${d.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * One batch compile: load, plan, generate missing keys, bind every client's entries, run each
 * validator once per distinct content. Nothing is written except generated keys, unless
 * emitTo is given: then each client is written into the output's store as it is bound.
 */
export async function compile(opts: CompileOptions): Promise<CompileResult> {
  const phase = opts.onPhase ?? (() => noProgress);
  let loaded = await load(opts);
  // All clients, or one shard's (build --shard).
  const clients = opts.hosts ? loaded.metadata.clients.filter((m) => opts.hosts!(m.hostname)) : loaded.metadata.clients;
  const plans = plan(loaded, clients);
  const warnings: Diagnostic[] = [...loaded.warnings, ...plans.warnings];
  let keysWritten: readonly string[] = [];
  if (opts.generateKeys) {
    const k = await keys(loaded, plans, opts.env, opts.jobs);
    loaded = k.loaded;
    warnings.push(...k.result.diagnostics);
    keysWritten = k.result.written;
  }
  const { repo, config, metadata } = loaded;
  warnings.push(...repoChecks(repo, metadata), ...clientHazards(metadata.auth, config.communication.authentication));

  const validating = opts.validate && (config.cfg.validation || opts.forceValidation === true);
  const input = bindInput(loaded, plans.plans, opts.env, validating);
  warnings.push(...input.properties.diagnostics);
  const skip = opts.skipValidators ?? [];
  const validation = validationService(repo, config, opts.jobs, new Set(skip));
  const target = opts.emitTo?.() ?? null;
  const sink: BindSink = target ? { emit: target, keepFiles: false } : { emit: null, keepFiles: true };
  // Hosts whose inputs are unchanged since the cached build are reused, not bound again.
  const cache = target && opts.cacheDir ? openCache(opts.cacheDir, target, (d) => warnings.push(d)) : null;
  const keyOf = cache ? hostKeys(repo, config, passphrases(config, opts.env), metadata.clients, target!, validating, skip) : null;
  const keyOfHost = new Map(keyOf ? clients.map((m) => [m.hostname, keyOf(m, plans.plans.get(m.hostname) ?? [])]) : []);
  const reused = new Map<string, CachedHost>();
  for (const [host, key] of keyOfHost) {
    const hit = cache!.lookup(host, key);
    if (hit) reused.set(host, hit);
  }
  const bar = phase('binding', clients.length - reused.size);
  const bound = await bindAll(input, { clients: clients.filter((m) => !reused.has(m.hostname)), jobs: opts.jobs, sink, validate: validation.validate, onClient: () => bar.tick() });
  bar.done();
  const byHost = new Map(bound.hosts.map((h) => [h.host, h]));
  const hosts: HostOutcome[] = clients.map((m) => {
    const hit = reused.get(m.hostname);
    return hit ? { host: m.hostname, failures: hit.failures, fileCount: hit.emitted.files, emitted: { ...hit.emitted, created: [] }, files: [], diagnostics: hit.diagnostics } : byHost.get(m.hostname)!;
  });
  for (const h of hosts) warnings.push(...h.diagnostics);
  for (const v of [...validation.skipped].sort()) {
    warnings.push({ code: 'validator-skipped', file: v, message: 'validator not run (--skip-validator): the files it checks are published unchecked' });
  }
  const saveCache = () => cache?.save(hosts.map((h) => ({ key: keyOfHost.get(h.host)!, emitted: { host: h.host, record: h.emitted!.record, tarball: h.emitted!.tarball, tarballSize: h.emitted!.tarballSize, files: h.emitted!.files }, failures: h.failures, diagnostics: h.diagnostics })));
  const binding = { threads: bound.threads, bound: bound.hosts.length, reused: reused.size };
  return { repo, config, metadata, hosts, skipped: plans.skipped, warnings: dedupe(warnings), keysWritten, validation: validation.stats, binding, revision: gitRevision(repo.root), saveCache };
}

/** Failures and warnings as Messages (one per distinct failure, every host named), with the source line where the repository has it. */
export function messagesOf(repo: RepoModel, failures: readonly BindFailure[], warnings: readonly Diagnostic[]): { errors: Message[]; warnings: Message[] } {
  const withLine = (m: Message): Message => {
    const loc = m.location;
    const text = loc?.line && loc.lineText === undefined ? sourceLine(repo, loc.file, loc.line) : undefined;
    return text === undefined ? m : { ...m, location: { ...loc!, lineText: text } };
  };
  return { errors: failureMessages(failures).map(withLine), warnings: warnings.map((w) => withLine(diagnosticMessage(w))) };
}
