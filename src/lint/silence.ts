import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import picomatch from 'picomatch';
import { BinderyError } from '../errors.js';
import { parseIni } from '../config/index.js';
import { CHECKS, defaultSeverity, type Finding, type ReportedFinding, type Severity } from './registry.js';

/** Looked for at the repository root unless --lint-config names another file. */
const LINT_CONFIG_FILE = 'bindery-lint.conf';

/**
 * bindery-lint.conf, INI like bcfg2-lint.conf:
 *   [errors]  <id> = error | warning | info | silent      (every path)
 *   [ignore]  <id> = <glob> <glob> …                        (repo-relative paths; * for any id)
 */
export interface LintPolicy {
  readonly severity: ReadonlyMap<string, Severity | 'silent'>;
  readonly ignore: readonly { code: string; match: (path: string) => boolean }[];
}

const LEVELS = new Set(['error', 'warning', 'info', 'silent']);

export function loadPolicy(repo: string, explicit?: string): LintPolicy {
  const file = explicit ?? join(repo, LINT_CONFIG_FILE);
  if (!explicit && !existsSync(file)) return { severity: new Map(), ignore: [] };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new BinderyError('CONFIG', `cannot read the lint configuration: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file }, 'check the --lint-config path');
  }
  const ini = parseIni(text, file);
  const lineOf = (key: string) => {
    const i = text.split('\n').findIndex((l) => l.trimStart().startsWith(key));
    return i >= 0 ? i + 1 : undefined;
  };
  const known = (code: string) => {
    if (code !== '*' && !CHECKS[code]) {
      throw new BinderyError('CONFIG', `unknown lint id "${code}"`, { file, line: lineOf(code) }, 'docs/review.md lists the lint ids');
    }
  };
  for (const section of Object.keys(ini)) {
    if (section !== 'errors' && section !== 'ignore') throw new BinderyError('CONFIG', `unknown section [${section}]`, { file, line: lineOf(`[${section}]`) }, 'bindery-lint.conf has [errors] and [ignore]');
  }
  const severity = new Map<string, Severity | 'silent'>();
  for (const [code, level] of Object.entries(ini.errors ?? {})) {
    known(code);
    if (!LEVELS.has(level)) throw new BinderyError('CONFIG', `"${code} = ${level}": the level must be error, warning, info or silent`, { file, line: lineOf(code) });
    severity.set(code, level as Severity | 'silent');
  }
  const ignore: { code: string; match: (path: string) => boolean }[] = [];
  for (const [code, globs] of Object.entries(ini.ignore ?? {})) {
    known(code);
    const list = globs.split(/\s+/).filter(Boolean);
    if (list.length === 0) throw new BinderyError('CONFIG', `"${code} =" names no path`, { file, line: lineOf(code) }, 'list repo-relative globs, e.g. Cfg/etc/legacy/**');
    ignore.push({ code, match: picomatch(list, { dot: true }) });
  }
  return { severity, ignore };
}

/** Severity from the policy, findings silenced for their file or entry path dropped. */
export function applyPolicy(findings: readonly Finding[], policy: LintPolicy): ReportedFinding[] {
  const out: ReportedFinding[] = [];
  for (const f of findings) {
    const level = policy.severity.get(f.code) ?? defaultSeverity(f.code);
    if (level === 'silent') continue;
    const where = f.file ?? '';
    if (policy.ignore.some((i) => (i.code === '*' || i.code === f.code) && where !== '' && i.match(where))) continue;
    out.push({ ...f, severity: level });
  }
  return out;
}
