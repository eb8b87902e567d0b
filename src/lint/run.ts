import { readFileSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { asBinderyError } from '../errors.js';
import { loadBundles } from '../bundles/index.js';
import { load, plan, repoChecks } from '../pipeline/index.js';
import type { RepoModel } from '../repo/index.js';
import { addressChecks, cfgFileChecks, templateChecks, passphraseChecks, priorityChecks, reachableGroups, reachabilityChecks, usageChecks, type LintInput } from './checks.js';
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
    if (err.exitCode !== 1) throw err; // a bad command line or bcfg2.conf is not a finding
    const { file, line, lineText } = err.location;
    findings.push({ code: 'load-failed', message: err.message, ...(file ? { file: relFile(dir, file) } : {}), ...(line ? { line } : {}), ...(lineText !== undefined ? { lineText } : {}), ...(err.hint ? { hint: err.hint } : {}) });
  }
  const reported = dedupe(applyPolicy(findings, policy)).sort(
    (a, b) => cmp(a.file ?? '', b.file ?? '') || (a.line ?? 0) - (b.line ?? 0) || cmp(a.code, b.code) || cmp(a.message, b.message),
  );
  const counts = { error: 0, warning: 0, info: 0 };
  for (const f of reported) counts[f.severity]++;
  return { findings: reported, counts };
}

async function check(dir: string, configPath?: string): Promise<Finding[]> {
  const loaded = await load({ repo: dir, configPath });
  const { repo, metadata, config } = loaded;
  const planned = plan(loaded);
  const bundles = loadBundles(repo);
  const input: LintInput = { repo, metadata, bundles, config, configText: config.file ? readFileSync(config.file, 'utf8') : null };
  const own = [
    ...repoChecks(repo, metadata),
    ...reachabilityChecks(input, reachableGroups(metadata)),
    ...usageChecks(input),
    ...cfgFileChecks(input),
    ...templateChecks(input),
    ...priorityChecks(input),
    ...addressChecks(input),
    ...passphraseChecks(input),
  ];
  const all = [...loaded.warnings, ...planned.warnings, ...own].map((f) => (f.file ? { ...f, file: relFile(repo.root, f.file) } : f));
  return all.map((f) => withLineText(repo, f));
}

/** The text of a finding's line, for the code frame, when the repository read that file. */
function withLineText(repo: RepoModel, f: Finding): Finding {
  if (!f.file || !f.line || f.lineText !== undefined) return f;
  const data = repo.files.get(f.file)?.data ?? repo.pluginFiles.get(f.file)?.data;
  const text = data?.toString('utf8').split('\n')[f.line - 1];
  return text === undefined ? f : { ...f, lineText: text.replace(/\r$/, '') };
}

function relFile(root: string, file: string): string {
  if (!isAbsolute(file)) return file;
  const rel = relative(root, file);
  return rel.startsWith('..') ? file : rel.split(sep).join('/');
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
