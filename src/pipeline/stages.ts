/** The stages of the pipeline, each a function from plain data to plain data (see index.ts). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BinderyError, type Diagnostic } from '../errors.js';
import { loadConfig, type Config } from '../config/index.js';
import { addFiles, scanRepo, type RepoFs, type RepoModel } from '../repo/index.js';
import { loadMetadata, type MetadataModel } from '../metadata/index.js';
import { loadBundles, planClient, type SkippedEntry } from '../bundles/index.js';
import { passphrases } from '../secrets/index.js';
import { loadProperties } from '../properties/index.js';
import { generateKeys, type KeyPhaseResult } from '../keys/index.js';
import { decryptAll, selectBest } from '../cfg/index.js';
import type { BindInput } from './bind-all.js';
import type { ClientMetadata, PathEntry } from '../types.js';
import { withSourceLines } from './source.js';

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

/** A non-Path bundle entry a client was not given (bindery only compiles Path entries). */
export interface Skipped extends SkippedEntry {
  readonly host: string;
}

export type Phase = (phase: string, total: number) => { tick(): void; done(): void };

function resolveConfig(repo: string, configPath?: string): Config {
  if (configPath) return loadConfig(configPath);
  const inRepo = join(repo, 'bcfg2.conf');
  return loadConfig(existsSync(inRepo) ? inRepo : null);
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
  const secrets = passphrases(config, env);
  return { repo, config, decrypted: decryptAll(repo, secrets), properties: loadProperties(repo, config, secrets), metadata, plans, validating };
}

