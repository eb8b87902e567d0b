import { BinderyError } from '../errors.js';
import { compareSpecificity, describeSpecificity, matches, type MatchSubject } from '../repo/index.js';
import type { CfgFile, CfgFileKind, Diagnostic } from '../types.js';

/**
 * Template families at equal specificity (seed 003 and issue #3): a .liquid beats .genshi,
 * which beats .cheetah; encrypted variants rank with their family. Anything else that ties is
 * ambiguous.
 */
const TEMPLATE_RANK: Partial<Record<CfgFileKind, number>> = {
  liquid: 3,
  'liquid.crypt': 3,
  genshi: 2,
  'genshi.crypt': 2,
  cheetah: 1,
  'cheetah.crypt': 1,
};

export interface Selection {
  readonly chosen: CfgFile;
  /** Files shadowed by template precedence (each one is a warning). */
  readonly shadowed: readonly CfgFile[];
}

/**
 * The best matching file of a list: host > group by priority > all. Two that tie
 * are an error naming both (decision 2 (docs/decisions.md)), except for the template precedence above.
 * Returns null when nothing matches.
 */
export function selectBest(files: readonly CfgFile[], subject: MatchSubject, what: 'generator' | 'validator', path: string): Selection | null {
  const candidates = files.filter((f) => matches(f.specificity, subject));
  if (candidates.length === 0) return null;
  const top = candidates.reduce((best, f) => (compareSpecificity(f.specificity, best.specificity) > 0 ? f : best));
  const tied = candidates.filter((f) => compareSpecificity(f.specificity, top.specificity) === 0).sort((a, b) => (a.file.rel < b.file.rel ? -1 : 1));
  if (tied.length === 1) return { chosen: tied[0]!, shadowed: [] };
  const ranked = [...tied].sort((a, b) => (TEMPLATE_RANK[b.kind] ?? 0) - (TEMPLATE_RANK[a.kind] ?? 0));
  const [first, second] = ranked as [CfgFile, CfgFile];
  const r1 = TEMPLATE_RANK[first.kind] ?? 0;
  const r2 = TEMPLATE_RANK[second.kind] ?? 0;
  // Precedence resolves a tie only between templates of different families for the very same
  // group or host (motd.genshi vs motd.cheetah), never between two groups of equal priority.
  const same = (f: CfgFile) => JSON.stringify(f.specificity) === JSON.stringify(first.specificity);
  if (what === 'generator' && r1 > r2 && r2 > 0 && ranked.every((f) => (TEMPLATE_RANK[f.kind] ?? 0) > 0 && same(f))) {
    return { chosen: first, shadowed: ranked.slice(1) };
  }
  const names = tied.map((f) => f.file.rel);
  throw new BinderyError(
    'AMBIGUOUS',
    `${tied.length} ${what}s are equally specific (${describeSpecificity(top.specificity)}) for this client: ${names.join(' and ')}`,
    { file: names[0], path, host: subject.hostname },
    what === 'generator'
      ? 'remove one of them, or give one a higher priority (.G<NN>_) or make it host-specific (.H_)'
      : 'keep one validator per specificity level',
  );
}

export function shadowWarnings(sel: Selection, host: string, path: string): Diagnostic[] {
  return sel.shadowed.map((f) => ({
    code: 'template-shadowed',
    message: `ignored: ${sel.chosen.file.rel} takes precedence at the same specificity`,
    file: f.file.rel,
    host,
    path,
  }));
}
