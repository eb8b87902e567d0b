import { BinderyError, type Diagnostic, type Location } from '../errors.js';
import type { GroupDecl, MembershipRule } from './groups.js';

/** A client's groups while they are being computed: set plus category map. */
export interface Membership {
  readonly groups: Set<string>;
  /** category → the member group holding it */
  readonly categories: Map<string, string>;
}

/** The parts of groups.xml the fixpoint needs, indexed once per model. */
export interface RuleIndex {
  readonly decls: ReadonlyMap<string, GroupDecl>;
  /** Non-negated rules by group, groups in first-occurrence (pass B) order. */
  readonly adding: ReadonlyMap<string, readonly MembershipRule[]>;
  /** Negated rules by group, first-occurrence order. */
  readonly removing: ReadonlyMap<string, readonly MembershipRule[]>;
  /** groups.xml, for errors about the rules as a whole. */
  readonly file: string;
}

export function indexRules(groups: readonly GroupDecl[], rules: readonly MembershipRule[], file: string): RuleIndex {
  const adding = new Map<string, MembershipRule[]>();
  const removing = new Map<string, MembershipRule[]>();
  for (const r of rules) {
    const into = r.negate ? removing : adding;
    const list = into.get(r.group);
    if (list) list.push(r);
    else into.set(r.group, [r]);
  }
  return { decls: new Map(groups.map((g) => [g.name, g])), adding, removing, file };
}

/**
 * Reports a group kept out by its category, once per group for this client.
 * `at` is where the losing group was asked for.
 */
export type CategoryWarn = (loser: string, category: string, winner: string, at: Location) => void;

export function categoryWarner(hostname: string, out: Diagnostic[]): CategoryWarn {
  const warned = new Set<string>();
  return (loser, category, winner, at) => {
    if (warned.has(loser)) return;
    warned.add(loser);
    out.push({
      code: 'category-conflict',
      message: `client ${hostname}: group "${loser}" suppressed by category "${category}"; ${hostname} is already a member of "${winner}"`,
      ...at,
      host: hostname,
    });
  };
}

/** Add one group directly (profile or connector group), honouring its category. False if suppressed. */
export function addGroup(m: Membership, index: RuleIndex, group: string, warn: CategoryWarn, at: Location): boolean {
  if (m.groups.has(group)) return true;
  const category = index.decls.get(group)?.category ?? null;
  if (category !== null) {
    const holder = m.categories.get(category);
    if (holder !== undefined) {
      warn(group, category, holder, at);
      return false;
    }
    m.categories.set(category, group);
  }
  m.groups.add(group);
  return true;
}

function conditionsHold(rule: MembershipRule, hostname: string, groups: ReadonlySet<string>): boolean {
  return rule.conditions.every((c) => (c.tag === 'Group' ? groups.has(c.name) : c.name === hostname) !== c.negate);
}

/**
 * The membership fixpoint of Bcfg2's metadata (`_merge_groups`), in place. Within a pass,
 * conditions see the groups as of the start of the pass and categories as updated so far, so the
 * first group in document order wins a category; negations apply at the end of each pass. Like
 * Bcfg2 it stops when a pass leaves the number of groups unchanged; a membership that never
 * settles (Bcfg2 would loop forever) is an error.
 */
export function mergeGroups(m: Membership, index: RuleIndex, hostname: string, warn: CategoryWarn): void {
  const seen = new Set<string>();
  for (;;) {
    const state = [...m.groups].sort().join('\n');
    if (seen.has(state)) {
      throw new BinderyError('METADATA', `group membership of client ${hostname} never settles: negated groups keep re-adding and removing each other`, { host: hostname, file: index.file }, 'check the negate="true" rules in groups.xml that apply to this client');
    }
    seen.add(state);
    const before = m.groups.size;
    const added: string[] = [];
    for (const [group, rules] of index.adding) {
      if (m.groups.has(group)) continue;
      const category = index.decls.get(group)?.category ?? null;
      for (const rule of rules) {
        if (!conditionsHold(rule, hostname, m.groups)) continue;
        const holder = category === null ? undefined : m.categories.get(category);
        if (holder !== undefined) {
          warn(group, category!, holder, { file: rule.file, line: rule.line });
          continue;
        }
        added.push(group);
        if (category !== null) m.categories.set(category, group);
        break;
      }
    }
    for (const g of added) m.groups.add(g);
    for (const [group, rules] of index.removing) {
      if (!m.groups.has(group) || !rules.some((r) => conditionsHold(r, hostname, m.groups))) continue;
      m.groups.delete(group);
      const category = index.decls.get(group)?.category ?? null;
      if (category !== null && m.categories.get(category) === group) m.categories.delete(category);
    }
    if (m.groups.size === before) return;
  }
}

/** Bundles of the declared member groups, sorted. */
export function bundlesOf(groups: Iterable<string>, index: RuleIndex): string[] {
  const out = new Set<string>();
  for (const g of groups) for (const b of index.decls.get(g)?.bundles ?? []) out.add(b);
  return [...out].sort();
}

/** The first member group that is a declared profile group, in declaration order. */
export function firstProfileGroup(groups: ReadonlySet<string>, declared: readonly GroupDecl[]): string | null {
  return declared.find((d) => d.profile && groups.has(d.name))?.name ?? null;
}
