import { isUtf8 } from 'node:buffer';
import { createTwoFilesPatch } from 'diff';
import type { BindFailure } from '../types.js';
import type { BuildSnapshot, FileState } from './snapshot.js';

export type ChangeKind = 'added' | 'removed' | 'changed';
export type Field = 'content' | 'mode' | 'owner' | 'group';

/** One side of a change: what a client gets (content by hash). */
export interface FileSide {
  readonly sha256: string;
  readonly mode: string;
  readonly owner: string;
  readonly group: string;
  readonly source?: string;
}

/** The same change of one path on one or more hosts. */
export interface Change {
  readonly path: string;
  readonly kind: ChangeKind;
  /** What differs (for "changed"): content, mode, owner, group. */
  readonly fields: readonly Field[];
  readonly old?: FileSide;
  readonly new?: FileSide;
  /** Only hashes are shown: the content is a secret on either side. */
  readonly secret: boolean;
  /** The content is not UTF-8 text: no unified diff. */
  readonly binary: boolean;
  /** Sorted. */
  readonly hosts: readonly string[];
  /** Groups whose members are exactly these hosts together (null when no small set of groups does). */
  readonly groups: readonly string[] | null;
  /** Else, when the hosts are every host but the members of a few groups: those groups. */
  readonly exceptGroups?: readonly string[];
  /** Unified diff of the content (absent for secrets, binary content and unchanged content); of `hosts[0]` when there are variants. */
  readonly diff?: string;
  /**
   * Set when hosts got different contents but the same edit (the same lines added and removed,
   * e.g. one line added to a template): each variant's hosts and hashes.
   */
  readonly variants?: readonly { readonly hosts: readonly string[]; readonly old: string; readonly new: string }[];
}

export interface BuildDiff {
  readonly old: { readonly label: string; readonly revision: string | null; readonly builtAt: string | null };
  readonly new: { readonly label: string; readonly revision: string | null; readonly builtAt: string | null };
  readonly changed: boolean;
  readonly hostsAdded: readonly string[];
  readonly hostsRemoved: readonly string[];
  /** Hosts in both builds with at least one change. */
  readonly hostsChanged: readonly string[];
  readonly hostsUnchanged: number;
  /** Sorted by path, then kind. */
  readonly changes: readonly Change[];
  /** Failures of the new build that the old one did not have (same host, path and message). */
  readonly newFailures: readonly BindFailure[];
  readonly fixedFailures: readonly BindFailure[];
}

export interface DiffOptions {
  /** Lines of context in unified diffs (default 3). */
  readonly context?: number;
  /** Each host's groups, to name groups of hosts ("on 1,834 hosts in groups web, db"). */
  readonly hostGroups?: ReadonlyMap<string, readonly string[]>;
}

const side = (f: FileState): FileSide => ({ sha256: f.sha256, mode: f.mode, owner: f.owner, group: f.group, ...(f.source ? { source: f.source } : {}) });

const isText = (b: Buffer) => isUtf8(b) && !b.includes(0);

function fieldsOf(a: FileState, b: FileState): Field[] {
  const out: Field[] = [];
  if (a.sha256 !== b.sha256) out.push('content');
  if (a.mode !== b.mode) out.push('mode');
  if (a.owner !== b.owner) out.push('owner');
  if (a.group !== b.group) out.push('group');
  return out;
}

/** Compare two builds host by host; identical changes of a path on many hosts become one Change. */
export function diffBuilds(oldBuild: BuildSnapshot, newBuild: BuildSnapshot, opts: DiffOptions = {}): BuildDiff {
  const grouped = new Map<string, { path: string; kind: ChangeKind; fields: Field[]; old?: FileState; new?: FileState; hosts: string[] }>();
  const add = (host: string, kind: ChangeKind, path: string, a?: FileState, b?: FileState) => {
    const fields = a && b ? fieldsOf(a, b) : [];
    const key = [path, kind, a?.sha256, a?.mode, a?.owner, a?.group, b?.sha256, b?.mode, b?.owner, b?.group].join('\0');
    const g = grouped.get(key) ?? { path, kind, fields, ...(a ? { old: a } : {}), ...(b ? { new: b } : {}), hosts: [] };
    g.hosts.push(host);
    grouped.set(key, g);
  };
  const hostsChanged: string[] = [];
  let hostsUnchanged = 0;
  for (const [host, nh] of newBuild.hosts) {
    const oh = oldBuild.hosts.get(host);
    if (!oh) continue;
    if (oh.tarball !== undefined && oh.tarball === nh.tarball) {
      hostsUnchanged++; // the same tarball: nothing to compare (and it may not have been unpacked)
      continue;
    }
    let changed = false;
    for (const [path, b] of nh.files) {
      const a = oh.files.get(path);
      if (!a) {
        add(host, 'added', path, undefined, b);
        changed = true;
      } else if (fieldsOf(a, b).length > 0) {
        add(host, 'changed', path, a, b);
        changed = true;
      }
    }
    for (const [path, a] of oh.files) {
      if (!nh.files.has(path)) {
        add(host, 'removed', path, a);
        changed = true;
      }
    }
    if (changed) hostsChanged.push(host);
    else hostsUnchanged++;
  }
  const cover = groupCover(opts.hostGroups, [...new Set([...oldBuild.hosts.keys(), ...newBuild.hosts.keys()])]);
  const exact: Change[] = [...grouped.values()].map((g) => {
    const secret = Boolean(g.old?.secret || g.new?.secret);
    const binary = !secret && ![g.old, g.new].every((f) => !f || isText(f.data));
    const showDiff = !secret && !binary && (g.kind !== 'changed' || g.fields.includes('content'));
    const hosts = g.hosts.sort();
    return {
      path: g.path,
      kind: g.kind,
      fields: g.fields,
      ...(g.old ? { old: side(g.old) } : {}),
      ...(g.new ? { new: side(g.new) } : {}),
      secret,
      binary,
      hosts,
      groups: null,
      ...(showDiff ? { diff: unified(g.path, g.old?.data, g.new?.data, opts.context ?? 3) } : {}),
    };
  });
  const changes = mergeSameEdits(exact)
    .map((c) => ({ ...c, ...cover(c.hosts) }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.hosts[0]! < b.hosts[0]! ? -1 : 1));
  const failKey = (f: BindFailure) => `${f.host}\0${f.path}\0${f.message}`;
  const oldFail = new Set(oldBuild.failures.map(failKey));
  const newFail = new Set(newBuild.failures.map(failKey));
  const hostsAdded = [...newBuild.hosts.keys()].filter((h) => !oldBuild.hosts.has(h));
  const hostsRemoved = [...oldBuild.hosts.keys()].filter((h) => !newBuild.hosts.has(h));
  const newFailures = newBuild.failures.filter((f) => !oldFail.has(failKey(f)));
  const fixedFailures = oldBuild.failures.filter((f) => !newFail.has(failKey(f)));
  const meta = (b: BuildSnapshot) => ({ label: b.label, revision: b.revision, builtAt: b.builtAt });
  return {
    old: meta(oldBuild),
    new: meta(newBuild),
    changed: changes.length + hostsAdded.length + hostsRemoved.length + newFailures.length + fixedFailures.length > 0,
    hostsAdded,
    hostsRemoved,
    hostsChanged,
    hostsUnchanged,
    changes,
    newFailures,
    fixedFailures,
  };
}

/** The lines a diff adds and removes, without context or line numbers: what "the same edit" means. */
function edit(diff: string): string {
  return diff
    .split('\n')
    .filter((l) => (l.startsWith('+') || l.startsWith('-')) && !l.startsWith('+++') && !l.startsWith('---'))
    .join('\n');
}

/** Per-host contents of a template differ, but one commit makes the same edit in all: one Change. */
function mergeSameEdits(changes: readonly Change[]): Change[] {
  const out = new Map<string, Change[]>();
  for (const c of changes) {
    const key = c.diff === undefined ? `exact\0${out.size}` : [c.path, c.kind, c.fields.join(','), c.old?.mode, c.old?.owner, c.old?.group, c.new?.mode, c.new?.owner, c.new?.group, edit(c.diff)].join('\0');
    out.set(key, [...(out.get(key) ?? []), c]);
  }
  return [...out.values()].map((same) => {
    if (same.length === 1) return same[0]!;
    const sorted = [...same].sort((a, b) => (a.hosts[0]! < b.hosts[0]! ? -1 : 1));
    return {
      ...sorted[0]!,
      hosts: sorted.flatMap((c) => c.hosts).sort(),
      variants: sorted.map((c) => ({ hosts: c.hosts, old: c.old?.sha256 ?? '', new: c.new?.sha256 ?? '' })),
    };
  });
}

function unified(path: string, a: Buffer | undefined, b: Buffer | undefined, context: number): string {
  const patch = createTwoFilesPatch(a ? `a${path}` : '/dev/null', b ? `b${path}` : '/dev/null', a?.toString('utf8') ?? '', b?.toString('utf8') ?? '', undefined, undefined, { context });
  // Drop the "Index:"/"===" preamble the library writes; keep ---/+++ and the hunks.
  return patch.slice(patch.indexOf('---'));
}

/** At most this many groups name a set of hosts; more reads worse than the host count. */
const MAX_GROUPS = 4;

/**
 * A function naming a set of hosts by groups whose members, together, are exactly those hosts
 * (greedy: the group covering most of what is left, among groups with no member outside the set).
 */
function groupCover(hostGroups: ReadonlyMap<string, readonly string[]> | undefined, allHosts: readonly string[]): (hosts: readonly string[]) => { groups: string[] | null; exceptGroups?: string[] } {
  if (!hostGroups) return () => ({ groups: null });
  const members = new Map<string, Set<string>>();
  for (const h of allHosts) for (const g of hostGroups.get(h) ?? []) (members.get(g) ?? members.set(g, new Set()).get(g)!).add(h);
  const groups = [...members].sort(([a], [b]) => (a < b ? -1 : 1));
  const exactly = (hosts: Iterable<string>): string[] | null => {
    const want = new Set(hosts);
    const candidates = groups.filter(([, m]) => [...m].every((h) => want.has(h)));
    const left = new Set(want);
    const chosen: string[] = [];
    while (left.size > 0 && chosen.length < MAX_GROUPS) {
      let best: [string, number] | null = null;
      for (const [g, m] of candidates) {
        let n = 0;
        for (const h of m) if (left.has(h)) n++;
        if (n > 0 && (!best || n > best[1])) best = [g, n];
      }
      if (!best) break;
      chosen.push(best[0]);
      for (const h of members.get(best[0])!) left.delete(h);
    }
    return left.size === 0 && chosen.length > 0 ? chosen.sort() : null;
  };
  return (hosts) => {
    const named = exactly(hosts);
    if (named) return { groups: named };
    const set = new Set(hosts);
    const rest = allHosts.filter((h) => !set.has(h));
    const except = rest.length > 0 && rest.length < allHosts.length ? exactly(rest) : null;
    return except ? { groups: null, exceptGroups: except } : { groups: null };
  };
}
