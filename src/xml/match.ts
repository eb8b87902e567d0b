import type { XmlElement } from './parse.js';

/**
 * Group/Client (and, in info.xml, Path) conditionals of Bcfg2's StructFile.
 * A predicate says whether a container element matches; anything else is content.
 */
export interface Conditions {
  /** Tag names that act as containers, e.g. Group, Client (and Path for info.xml). */
  readonly containers: ReadonlySet<string>;
  matches(container: XmlElement): boolean;
}

export function isNegated(el: XmlElement): boolean {
  return (el.attrs.negate ?? '').toLowerCase() === 'true';
}

export interface MatchSubject {
  readonly hostname: string;
  readonly groups: readonly string[];
}

/** The usual Group/Client conditions for a client. */
export function clientConditions(subject: MatchSubject, extra?: { tag: string; matches: (el: XmlElement) => boolean }): Conditions {
  const groups = new Set(subject.groups);
  const containers = new Set(['Group', 'Client']);
  if (extra) containers.add(extra.tag);
  return {
    containers,
    matches(el) {
      let hit: boolean;
      if (el.name === 'Group') hit = groups.has(el.attrs.name ?? '');
      else if (el.name === 'Client') hit = (el.attrs.name ?? '') === subject.hostname;
      else if (extra && el.name === extra.tag) hit = extra.matches(el);
      else return true;
      return hit !== isNegated(el);
    },
  };
}

/**
 * Match: surviving non-container descendants, flattened depth-first in document order
 * (containers are transparent; non-matching containers vanish with their subtree).
 */
export function flatMatch(root: XmlElement, cond: Conditions): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (children: readonly XmlElement[]) => {
    for (const c of children) {
      if (cond.containers.has(c.name)) {
        if (cond.matches(c)) walk(c.children);
      } else {
        out.push(c);
      }
    }
  };
  walk(root.children);
  return out;
}

/**
 * XMLMatch: rebuild the tree without containers. For each parent: its own non-container
 * children first (document order), then the contents of each matching container child,
 * expanded depth-first in place. Applies recursively to the kept elements' children.
 */
export function xmlMatch(root: XmlElement, cond: Conditions): XmlElement {
  const rebuild = (el: XmlElement): XmlElement => {
    const direct: XmlElement[] = [];
    const fromContainers: XmlElement[] = [];
    const expand = (children: readonly XmlElement[], into: XmlElement[]) => {
      for (const c of children) {
        if (cond.containers.has(c.name)) {
          if (cond.matches(c)) expand(c.children, into);
        } else {
          into.push(rebuild(c));
        }
      }
    };
    for (const c of el.children) {
      if (cond.containers.has(c.name)) {
        if (cond.matches(c)) expand(c.children, fromContainers);
      } else {
        direct.push(rebuild(c));
      }
    }
    return { ...el, children: [...direct, ...fromContainers] };
  };
  return rebuild(root);
}
