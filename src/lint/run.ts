import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { asBinderyError } from '../errors.js';
import { loadBundles } from '../bundles/index.js';
import { loadMetadata } from '../metadata/index.js';
import { planClients, resolveConfig, type Skipped } from '../pipeline/index.js';
import { scanRepo, repoRelative } from '../repo/index.js';
import type { Diagnostic } from '../types.js';
import { addressChecks, cfgFileChecks, passphraseChecks, priorityChecks, reachableGroups, specificityChecks, usageChecks, type LintInput } from './checks.js';
import type { Finding, ReportedFinding } from './registry.js';
import { applyPolicy, loadPolicy } from './silence.js';

export interface LintResult {
  /** Sorted by file, line, id. */
  readonly findings: readonly ReportedFinding[];
  readonly counts: { readonly error: number; readonly warning: number; readonly info: number };
}

/** Run every check over the repository at `dir`. A repository that cannot be loaded is one load-failed error. */
export async function lintRepo(dir: string, opts: { configPath?: string; lintConfig?: string } = {}): Promise<LintResult> {
  const policy = loadPolicy(dir, opts.lintConfig);
  const findings: Finding[] = [];
  try {
    findings.push(...(await check(dir, opts.configPath)));
  } catch (e) {
    const err = asBinderyError(e, 'REPO');
    findings.push({ code: 'load-failed', message: err.message, ...(err.location.file ? { file: relFile(dir, err.location.file) } : {}), ...(err.location.line ? { line: err.location.line } : {}), ...(err.hint ? { hint: err.hint } : {}) });
  }
  const reported = dedupe(applyPolicy(findings, policy)).sort(
    (a, b) => cmp(a.file ?? '', b.file ?? '') || (a.line ?? 0) - (b.line ?? 0) || cmp(a.code, b.code) || cmp(a.message, b.message),
  );
  const counts = { error: 0, warning: 0, info: 0 };
  for (const f of reported) counts[f.severity]++;
  return { findings: reported, counts };
}

async function check(dir: string, configPath?: string): Promise<Finding[]> {
  if (!existsSync(join(dir, 'Metadata'))) {
    return [{ code: 'load-failed', message: 'not a Bcfg2 repository: no Metadata/ directory', file: '.', hint: 'pass the directory that holds Metadata/ and Cfg/' }];
  }
  const config = resolveConfig(dir, configPath);
  const repo = await scanRepo(dir, config);
  const metadata = loadMetadata(repo.root);
  const bundles = loadBundles(repo.root);
  const loaded: Diagnostic[] = [...repo.diagnostics, ...metadata.diagnostics];
  const skipped: Skipped[] = [];
  planClients(repo, metadata.clients, loaded, skipped);
  const input: LintInput = { repo, metadata, bundles, config, configText: config.file ? readFileSync(config.file, 'utf8') : null };
  const own = [
    ...specificityChecks(input, reachableGroups(metadata)),
    ...usageChecks(input),
    ...cfgFileChecks(input),
    ...priorityChecks(input),
    ...addressChecks(input),
    ...passphraseChecks(input),
  ];
  const fromLoaders: Finding[] = loaded.map((d) => ({ code: d.code, message: d.message, ...pick(d) }));
  return [...fromLoaders, ...own].map((f) => (f.file ? { ...f, file: relFile(repo.root, f.file) } : f));
}

function pick(d: Diagnostic): Partial<Finding> {
  return { ...(d.file ? { file: d.file } : {}), ...(d.line ? { line: d.line } : {}), ...(d.path ? { path: d.path } : {}), ...(d.host ? { host: d.host } : {}) };
}

function relFile(root: string, file: string): string {
  if (!isAbsolute(file)) return file;
  const rel = relative(root, file);
  return rel.startsWith('..') ? file : repoRelative(root, file);
}

/** The same finding reached through many clients is reported once. */
function dedupe(fs: readonly ReportedFinding[]): ReportedFinding[] {
  const seen = new Set<string>();
  return fs.filter((f) => {
    const k = `${f.code}\0${f.file ?? ''}\0${f.line ?? ''}\0${f.path ?? ''}\0${f.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
