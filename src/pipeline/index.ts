import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { BinderyError, type Diagnostic } from '../errors.js';
import { loadConfig, type Config } from '../config/index.js';
import { addFiles, scanRepo, type RepoModel } from '../repo/index.js';
import { loadMetadata, type MetadataModel } from '../metadata/index.js';
import { loadBundles, planClient, type SkippedEntry } from '../bundles/index.js';
import { passphrases } from '../secrets/index.js';
import { generateKeys } from '../keys/index.js';
import { decryptAll, selectBest } from '../cfg/index.js';
import pLimit from 'p-limit';
import { bindAll, type BindInput, type BindSink, type HostOutcome, type Validate } from './bind-all.js';
import { runValidators } from '../validate/index.js';
import type { EmitTarget } from '../emit/index.js';
import type { ClientMetadata, PathEntry } from '../types.js';
import { repoChecks } from './checks.js';
import { hostKeys, openCache, type CachedHost } from './cache.js';

export interface CompileOptions {
  readonly repo: string;
  /** bcfg2.conf; default: <repo>/bcfg2.conf when present, else built-in defaults. */
  readonly configPath?: string;
  readonly jobs: number;
  /** false = --no-validate; validators also off when [cfg] validation = no… */
  readonly validate: boolean;
  /** …unless forced (`bindery validate`, like bcfg2-test --cfg-validation). */
  readonly forceValidation?: boolean;
  /** Run the key phase (generate missing keys into the repo). */
  readonly generateKeys: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly onPhase?: (phase: string, total: number) => { tick(): void; done(): void };
  /**
   * Where bound clients go: written into an output's store as they are bound (emitTo is called
   * once, after loading and the key phase, just before binding), else kept in memory.
   */
  readonly emitTo?: () => EmitTarget;
  /** With emitTo: the incremental cache's directory (hosts whose inputs did not change are reused). */
  readonly cacheDir?: string;
}

export type HostResult = HostOutcome;

/** A non-Path bundle entry a client was not given (bindery only compiles Path entries). */
export interface Skipped extends SkippedEntry {
  readonly host: string;
}

export interface CompileResult {
  readonly repo: RepoModel;
  readonly config: Config;
  readonly metadata: MetadataModel;
  readonly hosts: readonly HostResult[];
  readonly skipped: readonly Skipped[];
  readonly warnings: readonly Diagnostic[];
  readonly keysWritten: readonly string[];
  readonly validation: { readonly runs: number; readonly checked: number; readonly failed: number };
  /** Worker threads that bound (and wrote) the clients (0 when this thread did), and how many hosts came unchanged from the cache. */
  readonly binding: { readonly workers: number; readonly bound: number; readonly reused: number };
  readonly revision: string | null;
}

const noProgress = { tick() {}, done() {} };

export function resolveConfig(repo: string, configPath?: string): Config {
  if (configPath) return loadConfig(configPath);
  const inRepo = join(repo, 'bcfg2.conf');
  return loadConfig(existsSync(inRepo) ? inRepo : null);
}

/** The git revision of the repository, when it is a checkout (for the manifest). */
export function gitRevision(repo: string): string | null {
  try {
    return execFileSync('git', ['-C', repo, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

/** Which Path entries each client gets: its bundles, or every matching entry set without Bundler/. */
export function planClients(repo: RepoModel, clients: readonly ClientMetadata[], warnings: Diagnostic[], skipped: Skipped[]): Map<string, PathEntry[]> {
  const bundles = loadBundles(repo.root);
  const known = [...repo.entrySets.keys()];
  const plans = new Map<string, PathEntry[]>();
  for (const m of clients) {
    if (bundles) {
      const plan = planClient(bundles, m, known);
      warnings.push(...plan.diagnostics);
      skipped.push(...plan.skipped.map((s) => ({ host: m.hostname, ...s })));
      plans.set(m.hostname, [...plan.paths]);
    } else {
      const paths: PathEntry[] = [];
      for (const set of repo.entrySets.values()) {
        let wanted: boolean;
        try {
          wanted = selectBest(set.generators, m, 'generator', set.name) !== null || set.creators.length > 0;
        } catch {
          wanted = true; // ambiguous: binding reports it
        }
        if (wanted) paths.push({ name: set.name });
      }
      plans.set(m.hostname, paths);
    }
  }
  return plans;
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
 * One batch compile: read the repo once, generate missing keys, bind every client's entries,
 * run each validator once per distinct content. Nothing is written except generated keys.
 */
export async function compile(opts: CompileOptions): Promise<CompileResult> {
  const phase = opts.onPhase ?? (() => noProgress);
  const config = resolveConfig(opts.repo, opts.configPath);
  if (!existsSync(join(opts.repo, 'Metadata'))) {
    throw new BinderyError('REPO', 'not a Bcfg2 repository: no Metadata/ directory', { file: opts.repo }, 'pass the directory that holds Metadata/groups.xml, Metadata/clients.xml and Cfg/');
  }
  let repo = await scanRepo(opts.repo, config);
  const metadata = loadMetadata(repo.root);
  if (metadata.clients.length === 0) {
    throw new BinderyError('METADATA', 'no clients in Metadata/clients.xml: nothing to build', { file: 'Metadata/clients.xml' }, 'add <Client name="…" profile="…"/> elements');
  }
  const warnings: Diagnostic[] = [...repo.diagnostics, ...metadata.diagnostics];
  const skipped: Skipped[] = [];
  const plans = planClients(repo, metadata.clients, warnings, skipped);

  let keysWritten: readonly string[] = [];
  if (opts.generateKeys) {
    const needs = metadata.clients.map((m) => ({ metadata: m, paths: plans.get(m.hostname)!.map((p) => p.altsrc ?? p.name) }));
    const keys = await generateKeys(repo, needs, config, opts.env, { jobs: opts.jobs });
    warnings.push(...keys.diagnostics);
    keysWritten = keys.written;
    repo = await addFiles(repo, keys.written);
  }
  warnings.push(...repoChecks(repo, metadata));

  const validating = opts.validate && (config.cfg.validation || opts.forceValidation === true);
  const input: BindInput = { repo, config, decrypted: decryptAll(repo, passphrases(config, opts.env)), metadata, plans, validating };
  const validation = validationService(repo, config, opts.jobs);
  const target = opts.emitTo?.() ?? null;
  const sink: BindSink = target ? { emit: target, keepFiles: false } : { emit: null, keepFiles: true };
  // Hosts whose inputs are unchanged since the cached build are reused, not bound again.
  const cache = target && opts.cacheDir ? openCache(opts.cacheDir, target, (d) => warnings.push(d)) : null;
  const keyOf = cache ? hostKeys(repo, config, passphrases(config, opts.env), metadata.clients, target!, validating) : null;
  const keys = new Map(keyOf ? metadata.clients.map((m) => [m.hostname, keyOf(m, plans.get(m.hostname) ?? [])]) : []);
  const reused = new Map<string, CachedHost>();
  for (const [host, key] of keys) {
    const hit = cache!.lookup(host, key);
    if (hit) reused.set(host, hit);
  }
  const bar = phase('binding', metadata.clients.length - reused.size);
  const bound = await bindAll(input, { clients: metadata.clients.filter((m) => !reused.has(m.hostname)), jobs: opts.jobs, sink, validate: validation.validate, onClient: () => bar.tick() });
  bar.done();
  const byHost = new Map(bound.hosts.map((h) => [h.host, h]));
  const hosts: HostOutcome[] = metadata.clients.map((m) => {
    const hit = reused.get(m.hostname);
    return hit ? { host: m.hostname, failures: hit.failures, files: hit.emitted.files, emitted: { ...hit.emitted, created: [] }, bound: null, diagnostics: hit.diagnostics } : byHost.get(m.hostname)!;
  });
  for (const h of hosts) warnings.push(...h.diagnostics);
  cache?.save(hosts.map((h) => ({ key: keys.get(h.host)!, emitted: { host: h.host, record: h.emitted!.record, tarball: h.emitted!.tarball, files: h.emitted!.files }, failures: h.failures, diagnostics: h.diagnostics })));
  const binding = { workers: bound.workers, bound: bound.hosts.length, reused: reused.size };
  return { repo, config, metadata, hosts, skipped, warnings: dedupe(warnings), keysWritten, validation: validation.stats, binding, revision: gitRevision(repo.root) };
}

/**
 * Each (validator, content) runs once, however many hosts (and worker threads) ask for it, at
 * most `jobs` at a time; a failure turns every file that shares it into a bind failure.
 */
function validationService(repo: RepoModel, config: Config, jobs: number): { validate: Validate; stats: { runs: number; checked: number; failed: number } } {
  const stats = { runs: 0, checked: 0, failed: 0 };
  const limit = pLimit(Math.max(1, jobs));
  const verdicts = new Map<string, Promise<{ ok: boolean; message?: string }>>();
  const validate: Validate = (items) =>
    Promise.all(
      items.map((item) => {
        stats.checked++;
        const key = `${item.validator}\0${item.sha256}`;
        let verdict = verdicts.get(key);
        if (!verdict) {
          verdict = limit(async () => {
            const [o] = await runValidators([{ validator: repo.files.get(item.validator)!, content: item.content, uses: [] }], { jobs: 1, timeoutMs: config.cfg.validationTimeoutSeconds * 1000 });
            stats.runs++;
            if (!o!.ok) stats.failed++;
            return o!.ok ? { ok: true } : { ok: false, message: o!.message };
          });
          verdicts.set(key, verdict);
        }
        return verdict;
      }),
    );
  return { validate, stats };
}
