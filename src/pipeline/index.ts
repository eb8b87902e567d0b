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
import { decryptAll, selectBest, sha256 } from '../cfg/index.js';
import { bindAll, type BindInput, type ParallelOptions } from './bind-all.js';
import { runValidators, type ValidationRequest } from '../validate/index.js';
import type { BindFailure, BoundFile, ClientMetadata, PathEntry } from '../types.js';
import { repoChecks } from './checks.js';
import { clientHazards } from '../server/index.js';

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
  readonly parallel?: ParallelOptions;
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
  readonly validation: { readonly runs: number; readonly checked: number; readonly failed: number };
  /** Worker threads used for binding, and how many clients they bound (0, 0 when one thread sufficed). */
  readonly binding: { readonly workers: number; readonly inWorkers: number };
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
  warnings.push(...repoChecks(repo, metadata), ...clientHazards(metadata.auth, config.communication.authentication));

  const validating = opts.validate && (config.cfg.validation || opts.forceValidation === true);
  const bar = phase('binding', metadata.clients.length);
  const input: BindInput = { repo, config, decrypted: decryptAll(repo, passphrases(config, opts.env)), metadata, plans, validating };
  const { bindings, workers, inWorkers } = await bindAll(input, opts.jobs, () => bar.tick(), opts.parallel);
  bar.done();
  const bound = new Map<string, { files: BoundFile[]; failures: BindFailure[] }>();
  for (const b of bindings) {
    warnings.push(...b.diagnostics);
    bound.set(b.host, { files: b.files, failures: b.failures });
  }

  let validation = { runs: 0, checked: 0, failed: 0 };
  if (validating) validation = await validateAll(repo, config, bound, opts.jobs, phase);

  const hosts: HostResult[] = [...bound].map(([host, r]) => ({ host, files: r.files, failures: r.failures }));
  return { repo, config, metadata, hosts, skipped, warnings: dedupe(warnings), keysWritten, validation, binding: { workers, inWorkers }, revision: gitRevision(repo.root) };
}

/** Run each (validator, content) once; a failure turns every file that shares it into a bind failure. */
async function validateAll(repo: RepoModel, config: Config, bound: Map<string, { files: BoundFile[]; failures: BindFailure[] }>, jobs: number, phase: NonNullable<CompileOptions['onPhase']>) {
  // Grouped here by (validator, content), so each bound file is hashed once and the bar knows the runs.
  const distinct = new Map<string, { validator: ValidationRequest['validator']; content: Buffer; uses: { host: string; path: string }[] }>();
  let checked = 0;
  for (const [host, r] of bound) {
    for (const f of r.files) {
      if (!f.validator) continue;
      checked++;
      const key = `${f.validator}\0${sha256(f.data)}`;
      const request = distinct.get(key);
      if (request) request.uses.push({ host, path: f.path });
      else distinct.set(key, { validator: repo.files.get(f.validator)!, content: f.data, uses: [{ host, path: f.path }] });
    }
  }
  if (checked === 0) return { runs: 0, checked: 0, failed: 0 };
  const bar = phase('validating', distinct.size);
  const outcomes = await runValidators([...distinct.values()], { jobs, timeoutMs: config.cfg.validationTimeoutSeconds * 1000, onDone: () => bar.tick() });
  bar.done();
  let failed = 0;
  for (const o of outcomes) {
    if (o.ok) continue;
    failed++;
    for (const use of o.uses) {
      const r = bound.get(use.host)!;
      const i = r.files.findIndex((f) => f.path === use.path);
      if (i < 0) continue;
      r.files.splice(i, 1);
      r.failures.push({ host: use.host, path: use.path, file: o.validator, message: `validator failed: ${o.message ?? 'no output'}` });
    }
  }
  return { runs: outcomes.length, checked, failed };
}
