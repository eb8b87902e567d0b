import { execFileSync } from 'node:child_process';
import { diagnosticMessage, failureMessages, type Diagnostic, type Message } from '../errors.js';
import type { Config } from '../config/index.js';
import type { RepoModel } from '../repo/index.js';
import type { MetadataModel } from '../metadata/index.js';
import { bindAll, type ParallelOptions } from './bind-all.js';
import type { BindFailure, BoundFile } from '../types.js';
import { repoChecks } from './checks.js';
import { clientHazards } from '../server/index.js';
import { validateAll, type ValidationSummary } from './validation.js';
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
  readonly parallel?: ParallelOptions;
  /** Only the clients this accepts are planned and bound (build --shard). */
  readonly hosts?: (host: string) => boolean;
}

export interface HostResult {
  readonly host: string;
  readonly files: readonly BoundFile[];
  readonly failures: readonly BindFailure[];
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
  warnings.push(...repoChecks(repo, metadata), ...clientHazards(metadata.auth, config.communication.authentication));

  const validating = opts.validate && (config.cfg.validation || opts.forceValidation === true);
  const bar = phase('binding', plans.plans.size);
  const input = bindInput(loaded, plans.plans, opts.env, validating);
  warnings.push(...input.properties.diagnostics);
  const { bindings, workers, inWorkers } = await bindAll(input, opts.jobs, () => bar.tick(), opts.parallel);
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
