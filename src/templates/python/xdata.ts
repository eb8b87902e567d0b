/**
 * XML elements as templates see them through lxml: `metadata.Properties[...].xdata` and what
 * find/findall/xpath return. ElementPath is ElementTree's; `xpath` takes simple location paths.
 */
import type { PNode } from '../../properties/index.js';
import { PyError, outsideSubset } from './errors.js';
import { arity } from './methods.js';
import { PyDict, PyFunc, PyObject, PyTuple, asStr, type PyValue } from './values.js';

/** An element and the way up to its root (lxml elements know their parent; `..` and `/` need it). */
interface Ref {
  readonly node: PNode;
  readonly parent: Ref | null;
}

const childRefs = (r: Ref): Ref[] => r.node.children.map((node) => ({ node, parent: r }));

function descendants(r: Ref, out: Ref[] = []): Ref[] {
  for (const c of childRefs(r)) {
    out.push(c);
    descendants(c, out);
  }
  return out;
}

/** The text pieces of an element and its descendants, in document order (lxml's itertext). */
function textPieces(n: PNode): string[] {
  return [n.text, ...n.children.flatMap((c) => [...textPieces(c), c.tail])].filter((t): t is string => t !== null && t !== '');
}

const itertext = (n: PNode) => textPieces(n).join('');

const tagMatches = (n: PNode, test: string) => test === '*' || n.tag === test;

/** Split a path at `/` outside brackets and quotes; `//` leaves an empty part. */
function splitPath(path: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let depth = 0;
  let quote: string | null = null;
  for (const ch of path) {
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '[') depth++;
    else if (ch === ']') depth--;
    else if (ch === '/' && depth === 0) {
      parts.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  parts.push(cur);
  return parts;
}

interface Step {
  readonly axis: 'child' | 'descendant';
  /** A tag, `*`, `.` or `..` (or, in xpath, `@name`, `@*`, `text()`). */
  readonly test: string;
  readonly predicates: readonly string[];
}

const STEP = /^(\.\.|\.|\*|@\*|@[\w.:-]+|text\(\)|[\w.:-]+)((?:\[[^\]]*\])*)$/;

function parseSteps(parts: readonly string[], bad: () => never): Step[] {
  const steps: Step[] = [];
  let axis: Step['axis'] = 'child';
  parts.forEach((p, i) => {
    if (p === '') {
      if (i === parts.length - 1) bad();
      axis = 'descendant';
      return;
    }
    const m = STEP.exec(p.trim());
    if (!m) bad();
    steps.push({ axis, test: m[1]!, predicates: [...m[2]!.matchAll(/\[([^\]]*)\]/g)].map((x) => x[1]!.trim()) });
    axis = 'child';
  });
  return steps;
}

const LITERAL = /^(?:'([^']*)'|"([^"]*)")$/;
const literal = (s: string): string | null => {
  const m = LITERAL.exec(s.trim());
  return m ? (m[1] ?? m[2]!) : null;
};

/** Does one predicate hold for r? `position` is r's 1-based place and `size` the count it is placed among. */
function predicateHolds(pred: string, r: Ref, position: number, size: number, bad: () => never): boolean {
  const and = pred.split(/\s+and\s+/);
  if (and.length > 1) return and.every((p) => predicateHolds(p, r, position, size, bad));
  if (/^\d+$/.test(pred)) return position === Number(pred);
  const last = /^last\(\)\s*(?:-\s*(\d+))?$/.exec(pred);
  if (last) return position === size - Number(last[1] ?? 0);
  const cmp = /^(@[\w.:-]+|\.|text\(\)|[\w.:-]+)\s*(!?=)\s*(.+)$/.exec(pred);
  if (cmp) {
    const want = literal(cmp[3]!);
    if (want === null) bad();
    const [, lhs, op] = cmp;
    let values: string[];
    if (lhs!.startsWith('@')) values = r.node.attrib[lhs!.slice(1)] === undefined ? [] : [r.node.attrib[lhs!.slice(1)]!];
    else if (lhs === '.') values = [itertext(r.node)];
    else if (lhs === 'text()') values = r.node.text === null ? [] : [r.node.text];
    else values = r.node.children.filter((c) => c.tag === lhs).map(itertext);
    return op === '=' ? values.includes(want) : values.some((v) => v !== want);
  }
  if (/^@[\w.:-]+$/.test(pred)) return r.node.attrib[pred.slice(1)] !== undefined;
  if (/^[\w.:-]+$/.test(pred)) return r.node.children.some((c) => c.tag === pred);
  return bad();
}

function dedupe(refs: readonly Ref[]): Ref[] {
  const seen = new Set<PNode>();
  return refs.filter((r) => !seen.has(r.node) && (seen.add(r.node), true));
}

/**
 * ElementTree's find/findall path language from one element: tags, `*`, `.`, `..`, `//`, and
 * the predicates [@a], [@a='v'], [tag], [tag='v'], [.='v'], [n], [last()]. A position counts
 * among the siblings with the same tag, as ElementTree counts it.
 */
function elementPath(start: Ref, path: string): Ref[] {
  const bad = (): never => {
    throw new PyError('SyntaxError', `invalid path ${JSON.stringify(path)} (bindery evaluates ElementTree paths: tags, *, ., .., //, and [@attr], [@attr='v'], [tag], [tag='v'], [n], [last()] predicates)`);
  };
  if (path.startsWith('/')) throw new PyError('SyntaxError', `cannot use absolute path on element: ${JSON.stringify(path)} (use ".${path}" or xpath())`);
  let ctx: Ref[] = [start];
  for (const step of parseSteps(splitPath(path.endsWith('/') ? path + '*' : path), bad)) {
    let next: Ref[];
    if (step.test === '.') next = step.axis === 'child' ? ctx : ctx.flatMap((r) => descendants(r));
    else if (step.test === '..') next = ctx.map((r) => r.parent).filter((p): p is Ref => p !== null);
    else if (step.test.startsWith('@') || step.test === 'text()') return bad();
    else next = ctx.flatMap((r) => (step.axis === 'child' ? childRefs(r) : descendants(r))).filter((r) => tagMatches(r.node, step.test));
    next = dedupe(next);
    for (const pred of step.predicates) {
      next = next.filter((r) => {
        const siblings = r.parent ? r.parent.node.children.filter((c) => c.tag === r.node.tag) : [r.node];
        return predicateHolds(pred, r, siblings.indexOf(r.node) + 1, siblings.length, bad);
      });
    }
    ctx = next;
  }
  return ctx;
}

/**
 * lxml's xpath() for location paths: `/` and `//` from the document, steps of tags, `*`, `.`,
 * `..`, predicates as in ElementPath (a position counts within each step, as XPath counts it), and
 * a last step `@attr` or `text()` for strings. Anything else is refused naming the expression.
 */
function xpath(start: Ref, expr: string): PyValue[] {
  const bad = (): never => {
    throw outsideSubset('XPathEvalError', `xpath ${JSON.stringify(expr)}`);
  };
  const e = expr.trim();
  let root = start;
  while (root.parent) root = root.parent;
  // The document node: its one child is the root element.
  const doc: Ref = { node: { tag: '', attrib: {}, text: null, tail: null, children: [root.node], line: 0 }, parent: null };
  const order = new Map([doc, ...descendants(doc)].map((r, i) => [r.node, i]));
  const absolute = e.startsWith('/');
  let ctx: Ref[] = absolute ? [doc] : [start];
  const parts = splitPath(absolute ? e.slice(1) : e);
  if (absolute && parts.length === 1 && parts[0] === '') return [];
  const steps = parseSteps(parts, bad);
  for (const [i, step] of steps.entries()) {
    if (step.test.startsWith('@') || step.test === 'text()') {
      if (i !== steps.length - 1 || step.predicates.length > 0) bad();
      const from = step.axis === 'child' ? ctx : dedupe(ctx.flatMap((r) => [r, ...descendants(r)]));
      if (step.test === 'text()') return from.flatMap((r) => [r.node.text, ...r.node.children.map((c) => c.tail)].filter((t): t is string => t !== null));
      return from.flatMap((r) => (step.test === '@*' ? Object.values(r.node.attrib) : r.node.attrib[step.test.slice(1)] === undefined ? [] : [r.node.attrib[step.test.slice(1)]!]));
    }
    const next: Ref[] = [];
    for (const r of ctx) {
      let found: Ref[];
      if (step.test === '.') found = step.axis === 'child' ? [r] : [r, ...descendants(r)];
      else if (step.test === '..') found = r.parent && r.parent !== doc ? [r.parent] : [];
      else {
        // a//b is a/descendant-or-self::node()/b: positions count among each parent's children.
        for (const parent of step.axis === 'child' ? [r] : [r, ...descendants(r)]) {
          let kids = childRefs(parent).filter((x) => tagMatches(x.node, step.test));
          for (const pred of step.predicates) kids = kids.filter((x, j, all) => predicateHolds(pred, x, j + 1, all.length, bad));
          next.push(...kids);
        }
        continue;
      }
      for (const pred of step.predicates) found = found.filter((x, j, all) => predicateHolds(pred, x, j + 1, all.length, bad));
      next.push(...found);
    }
    // A node-set is in document order.
    ctx = dedupe(next)
      .sort((a, b) => order.get(a.node)! - order.get(b.node)!)
      .map((r) => (r.parent === doc ? { node: r.node, parent: null } : r));
  }
  return ctx.map((r) => element(r));
}

function method(name: string, min: number, max: number, body: (args: PyValue[]) => PyValue): PyFunc {
  return new PyFunc(name, (args, kwargs) => {
    arity(name, args, min, max, kwargs);
    return body(args);
  }, undefined, 'method');
}

const pathArg = (v: PyValue | undefined) => asStr(v ?? null, 'path');

/** The lxml element object for a node (its children and methods made when asked for). */
function element(r: Ref): PyObject {
  const n = r.node;
  const kids = () => childRefs(r).map(element);
  const attrs = new Map<string, PyValue>([
    ['tag', n.tag],
    ['text', n.text],
    ['tail', n.tail],
    ['attrib', new PyDict(Object.entries(n.attrib))],
    ['get', method('get', 1, 2, (a) => n.attrib[asStr(a[0]!, 'key')] ?? a[1] ?? null)],
    ['keys', method('keys', 0, 0, () => Object.keys(n.attrib))],
    ['values', method('values', 0, 0, () => Object.values(n.attrib))],
    ['items', method('items', 0, 0, () => Object.entries(n.attrib).map(([k, v]) => new PyTuple([k, v])))],
    ['find', method('find', 1, 1, (a) => {
      const found = elementPath(r, pathArg(a[0]))[0];
      return found ? element(found) : null;
    })],
    ['findall', method('findall', 1, 1, (a) => elementPath(r, pathArg(a[0])).map(element))],
    ['iterfind', method('iterfind', 1, 1, (a) => elementPath(r, pathArg(a[0])).map(element))],
    ['findtext', method('findtext', 1, 2, (a) => {
      const found = elementPath(r, pathArg(a[0]))[0];
      return found ? (found.node.text ?? '') : (a[1] ?? null);
    })],
    ['getchildren', method('getchildren', 0, 0, kids)],
    ['getparent', method('getparent', 0, 0, () => (r.parent ? element(r.parent) : null))],
    ['iter', method('iter', 0, 1, (a) => {
      const tag = a[0] === undefined || a[0] === null ? '*' : asStr(a[0], 'tag');
      return [r, ...descendants(r)].filter((x) => tagMatches(x.node, tag)).map(element);
    })],
    ['itertext', method('itertext', 0, 0, () => textPieces(n))],
    ['xpath', method('xpath', 1, 1, (a) => xpath(r, asStr(a[0]!, 'path')))],
  ]);
  attrs.set('getiterator', attrs.get('iter')!);
  return new PyObject('_Element', attrs, undefined, kids);
}

/** The element for the root of a document (or of an XMLMatch result). */
export function rootElement(node: PNode): PyObject {
  return element({ node, parent: null });
}

/** A list of elements that stand alone (Match's result: copies, each its own root). */
export function elementList(nodes: readonly PNode[]): PyObject[] {
  return nodes.map(rootElement);
}
