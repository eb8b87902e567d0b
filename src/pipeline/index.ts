/**
 * The pipeline, in one place: load → plan → keys → bind → validate (→ emit, by the build
 * command). Every command that reads a repository (`build`, `validate`, `keys`, `info`,
 * `serve`) starts with `load`, so they all make the same checks in the same order.
 *
 * The seam for parallel work: `prepare` returns a `BindInput` (plain data, cloneable into
 * worker threads); `bindAll` binds it per shard of hosts; the main thread keeps load, keys,
 * validation scheduling and the final publish.
 */
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { BinderyError, diagnosticMessage, failureMessages, type Diagnostic, type Message } from '../errors.js';
import { loadConfig, type Config } from '../config/index.js';
import { addFiles, scanRepo, type RepoFs, type RepoModel } from '../repo/index.js';
import { loadMetadata, type MetadataModel } from '../metadata/index.js';
import { loadBundles, planClient, type SkippedEntry } from '../bundles/index.js';
import { passphrases } from '../secrets/index.js';
import { generateKeys, type KeyPhaseResult } from '../keys/index.js';
import { decryptAll, selectBest } from '../cfg/index.js';
import { bindAll, type BindInput, type ParallelOptions } from './bind-all.js';
import type { BindFailure, BoundFile, ClientMetadata, PathEntry } from '../types.js';
import { repoChecks } from './checks.js';
import { validateAll, type ValidationSummary } from './validation.js';
import { withSourceLines, sourceLine } from './source.js';

export interface LoadOptions {
  readonly repo: string;
  /** bcfg2.conf; default: <repo>/bcfg2.conf when present, else built-in defaults. */
  readonly configPath?: string;
  /** Read the repository through this instead of the disk (unit tests). */
  readonly fs?: RepoFs;
}

/** A repository as read once, with its configuration and metadata. */
export interface Loaded {
  readonly config: Config;
  readonly repo: RepoModel;
  readonly metadata: MetadataModel;
  /** Findings of the scan and of metadata. */
  readonly warnings: readonly Diagnostic[];
}

export type Phase = (phase: string, total: number) => { tick(): void; done(): void };

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
  readonly parallel?: ParallelOptions;
  /** Only the clients this accepts are planned and bound (build --shard). */
  readonly hosts?: (host: string) => boolean;
}

export interface HostResult {
  readonly host: string;
  readonly files: readonly BoundFile[];
  readonly failures: readonly BindFailure[];
}

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
  readonly validation: ValidationSummary;
  /** Worker threads used for binding, and how many clients they bound (0, 0 when one thread sufficed). */
  readonly binding: { readonly workers: number; readonly inWorkers: number };
  readonly revision: string | null;
}

const noProgress = { tick() {}, done() {} };

function resolveConfig(repo: string, configPath?: string): Config {
  if (configPath) return loadConfig(configPath);
  const inRepo = join(repo, 'bcfg2.conf');
  return loadConfig(existsSync(inRepo) ? inRepo : null);
}

/** The git revision of the repository, when it is a checkout (for the manifest). */
function gitRevision(repo: string): string | null {
  try {
    return execFileSync('git', ['-C', repo, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

/**
 * Stage 1, load: configuration, one read of the repository, metadata. Refuses a directory
 * without Metadata/ and a clients.xml without clients. Errors that point at a line of a file
 * the scan read carry that line's text (for the code frame).
 */
export async function load(opts: LoadOptions): Promise<Loaded> {
  const config = resolveConfig(opts.repo, opts.configPath);
  const repo = await scanRepo(opts.fs ?? opts.repo, config);
  if (!repo.plugins.has('Metadata')) {
    throw new BinderyError('not-a-repository', 'not a Bcfg2 repository: no Metadata/ directory', { file: opts.repo }, 'pass the directory that holds Metadata/groups.xml, Metadata/clients.xml and Cfg/');
  }
  const metadata = withSourceLines(repo, () => loadMetadata(repo.root, repo.pluginFiles));
  if (metadata.clients.length === 0) {
    throw new BinderyError('METADATA', 'no clients in Metadata/clients.xml', { file: 'Metadata/clients.xml' }, 'add <Client name="…" profile="…"/> elements');
  }
  return { config, repo, metadata, warnings: [...repo.diagnostics, ...metadata.diagnostics] };
}

export interface Plans {
  /** The Path entries of each client, by hostname. */
  readonly plans: ReadonlyMap<string, readonly PathEntry[]>;
  readonly skipped: readonly Skipped[];
  readonly warnings: readonly Diagnostic[];
}

/** Stage 2, plan: which Path entries each client gets: its bundles, or every matching entry set without Bundler/. */
export function plan(loaded: Loaded, clients: readonly ClientMetadata[] = loaded.metadata.clients): Plans {
  const { repo } = loaded;
  const bundles = withSourceLines(repo, () => loadBundles(repo));
  const known = [...repo.entrySets.keys()];
  const plans = new Map<string, PathEntry[]>();
  const warnings: Diagnostic[] = [];
  const skipped: Skipped[] = [];
  for (const m of clients) {
    if (bundles) {
      const p = planClient(bundles, m, known);
      warnings.push(...p.diagnostics);
      skipped.push(...p.skipped.map((s) => ({ host: m.hostname, ...s })));
      plans.set(m.hostname, [...p.paths]);
      continue;
    }
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
  return { plans, skipped, warnings };
}

/** Stage 3, keys: generate the keys clients need and lack into the repository, and read them in. */
export async function keys(loaded: Loaded, plans: Plans, env: NodeJS.ProcessEnv, jobs: number): Promise<{ loaded: Loaded; result: KeyPhaseResult }> {
  const { metadata, config } = loaded;
  const needs = metadata.clients.map((m) => ({ metadata: m, paths: (plans.plans.get(m.hostname) ?? []).map((p) => p.altsrc ?? p.name) }));
  const result = await generateKeys(loaded.repo, needs, config, env, { jobs });
  const repo = await addFiles(loaded.repo, result.written);
  return { loaded: { ...loaded, repo }, result };
}

/** What binding needs (the input of stage 4): plain data, so it can be sent to worker threads. */
export function bindInput(loaded: Loaded, plans: Plans['plans'], env: NodeJS.ProcessEnv, validating: boolean): BindInput {
  const { repo, config, metadata } = loaded;
  return { repo, config, decrypted: decryptAll(repo, passphrases(config, env)), metadata, plans, validating };
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
 * validator once per distinct content. Nothing is written except generated keys.
 */
export async function compile(opts: CompileOptions): Promise<CompileResult> {
  const phase = opts.onPhase ?? (() => noProgress);
  let loaded = await load(opts);
  const plans = plan(loaded, opts.hosts ? loaded.metadata.clients.filter((m) => opts.hosts!(m.hostname)) : undefined);
  const warnings: Diagnostic[] = [...loaded.warnings, ...plans.warnings];
  let keysWritten: readonly string[] = [];
  if (opts.generateKeys) {
    const k = await keys(loaded, plans, opts.env, opts.jobs);
    loaded = k.loaded;
    warnings.push(...k.result.diagnostics);
    keysWritten = k.result.written;
  }
  const { repo, config, metadata } = loaded;
  warnings.push(...repoChecks(repo, metadata));

  const validating = opts.validate && (config.cfg.validation || opts.forceValidation === true);
  const bar = phase('binding', plans.plans.size);
  const { bindings, workers, inWorkers } = await bindAll(bindInput(loaded, plans.plans, opts.env, validating), opts.jobs, () => bar.tick(), opts.parallel);
  bar.done();
  const bound = new Map<string, { files: BoundFile[]; failures: BindFailure[] }>();
  for (const b of bindings) {
    warnings.push(...b.diagnostics);
    bound.set(b.host, { files: b.files, failures: b.failures });
  }

  const validation = validating ? await validateAll(repo, config, bound, opts.jobs, phase) : { runs: 0, checked: 0, failed: 0 };
  const hosts: HostResult[] = [...bound].map(([host, r]) => ({ host, files: r.files, failures: r.failures }));
  return { repo, config, metadata, hosts, skipped: plans.skipped, warnings: dedupe(warnings), keysWritten, validation, binding: { workers, inWorkers }, revision: gitRevision(repo.root) };
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
