import type { Specificity } from '../types.js';

export interface MatchSubject {
  readonly hostname: string;
  readonly groups: readonly string[];
}

/** Does a generator/delta/validator of this specificity apply to the client? */
export function matches(spec: Specificity, m: MatchSubject): boolean {
  switch (spec.kind) {
    case 'all':
      return true;
    case 'group':
      return m.groups.includes(spec.group);
    case 'host':
      return spec.host === m.hostname;
  }
}

/** Rank by kind and priority only: two groups of equal priority compare equal. */
function rank(s: Specificity): number {
  return s.kind === 'all' ? -1 : s.kind === 'host' ? Number.MAX_SAFE_INTEGER : s.prio;
}

/** > 0 when a is more specific than b, 0 when they tie. */
export function compareSpecificity(a: Specificity, b: Specificity): number {
  return Math.sign(rank(a) - rank(b));
}

/** The suffix a file of this specificity carries: '', '.G50_web', '.H_host'. */
export function specificitySuffix(s: Specificity): string {
  return s.kind === 'all' ? '' : s.kind === 'group' ? `.G${String(s.prio).padStart(2, '0')}_${s.group}` : `.H_${s.host}`;
}

export function describeSpecificity(s: Specificity): string {
  return s.kind === 'all' ? 'all clients' : s.kind === 'group' ? `group ${s.group} (priority ${s.prio})` : `host ${s.host}`;
}
