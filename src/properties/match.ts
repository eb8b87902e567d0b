import type { MatchSubject } from '../xml/index.js';
import type { PNode } from './tree.js';

/** Group and Client elements are conditions (negate="true" inverts them); everything else is data. */
function condition(el: PNode, subject: MatchSubject): boolean | null {
  let hit: boolean;
  if (el.tag === 'Group') hit = subject.groups.includes(el.attrib.name ?? '');
  else if (el.tag === 'Client') hit = (el.attrib.name ?? '') === subject.hostname;
  else return null;
  return hit !== ((el.attrib.negate ?? 'false').toLowerCase() === 'true');
}

/**
 * StructFile.XMLMatch as Bcfg2 computes it, order and text included: the contents of a matching
 * Group or Client move to the end of its parent element (depth first, in document order), its
 * text is appended to the parent's text (a nested condition's before its own), and what does
 * not match is removed with its text and tail.
 */
export function xmlMatch(el: PNode, subject: MatchSubject): PNode {
  let text = el.text;
  const direct: PNode[] = [];
  const moved: PNode[] = [];
  const expand = (cond: PNode) => {
    if (!condition(cond, subject)) return;
    for (const c of cond.children) {
      if (condition(c, subject) === null) moved.push(xmlMatch(c, subject));
      else expand(c);
    }
    if (cond.text) text = (text ?? '') + cond.text;
  };
  for (const c of el.children) {
    if (condition(c, subject) === null) direct.push(xmlMatch(c, subject));
    else expand(c);
  }
  return { ...el, text, children: [...direct, ...moved] };
}

/**
 * StructFile.Match: the data elements under the root whose Group/Client ancestors all match,
 * in document order, each with its own children matched the same way in place.
 */
export function match(root: PNode, subject: MatchSubject): PNode[] {
  const walk = (el: PNode): PNode[] => {
    const c = condition(el, subject);
    if (c === false) return [];
    if (c === true) return el.children.flatMap(walk);
    return [{ ...el, children: el.children.flatMap(walk) }];
  };
  return root.children.flatMap(walk);
}
