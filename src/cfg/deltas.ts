import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BinderyError } from '../errors.js';
import { compareSpecificity, matches, type MatchSubject } from '../repo/index.js';
import type { CfgFile } from '../types.js';

/**
 * Deltas that apply on top of the chosen base (decision 3 (docs/decisions.md)): those matching the client and at
 * least as specific as the base; of those only the most specific level (host, else group,
 * else all); groups in increasing priority, ties by file name.
 */
export function selectDeltas(deltas: readonly CfgFile[], base: CfgFile, m: MatchSubject): CfgFile[] {
  const eligible = deltas.filter((d) => matches(d.specificity, m) && compareSpecificity(d.specificity, base.specificity) >= 0);
  for (const level of ['host', 'group', 'all'] as const) {
    const atLevel = eligible.filter((d) => d.specificity.kind === level);
    if (atLevel.length > 0) {
      const prio = (d: CfgFile) => (d.specificity.kind === 'group' ? d.specificity.prio : 0);
      return atLevel.sort((a, b) => prio(a) - prio(b) || (a.file.rel < b.file.rel ? -1 : a.file.rel > b.file.rel ? 1 : 0));
    }
  }
  return [];
}

/**
 * A .cat delta: strip the base, then `+line` appends, `-line` removes the first
 * equal line, anything else is ignored; the result always ends in one newline.
 */
export function applyCat(base: string, cat: string): string {
  const stripped = base.trim();
  const lines = stripped === '' ? [] : stripped.split('\n');
  for (const line of cat.split('\n')) {
    if (line.startsWith('+')) lines.push(line.slice(1));
    else if (line.startsWith('-')) {
      const i = lines.indexOf(line.slice(1));
      if (i >= 0) lines.splice(i, 1);
    }
  }
  return lines.join('\n') + '\n';
}

/** A .diff delta: a unified diff applied with the real `patch` program, as Bcfg2 does. */
export function applyDiff(base: Buffer, diff: Buffer, file: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'bindery-diff-'));
  try {
    const target = join(dir, 'base');
    writeFileSync(target, base);
    const r = spawnSync('patch', ['-u', '-f', '-s', '--no-backup-if-mismatch', '-r', '-', target], { input: diff, encoding: 'buffer', timeout: 30_000 });
    if (r.error) {
      throw new BinderyError('BIND', `cannot run patch: ${r.error.message}`, { file }, 'install the patch program (apt-get install patch)');
    }
    if (r.status !== 0) {
      const why = (r.stdout.toString() + r.stderr.toString()).replaceAll(target, 'the base file').trim();
      throw new BinderyError('BIND', `diff does not apply to the base file${why ? `: ${why.split('\n')[0]}` : ''}`, { file }, 'regenerate the diff against the current base file, or use a template instead');
    }
    return readFileSync(target);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
