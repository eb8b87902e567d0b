import { SaxesParser } from 'saxes';
import { BinderyError } from '../errors.js';

/**
 * An XML element as ElementTree and lxml show it to templates: `text` is the text before the
 * first child, `tail` the text after the element up to its next sibling (None when there is
 * none). Plain data: it crosses to bind workers as it is.
 */
export interface PNode {
  readonly tag: string;
  readonly attrib: Readonly<Record<string, string>>;
  readonly text: string | null;
  readonly tail: string | null;
  readonly children: readonly PNode[];
  readonly line: number;
}

interface Building {
  tag: string;
  attrib: Record<string, string>;
  text: string | null;
  tail: string | null;
  children: Building[];
  line: number;
}

const BLANK = /^[ \t\r\n]*$/;

/**
 * Bcfg2 parses with lxml's remove_blank_text: whitespace-only text between elements is dropped,
 * except the whole content of an element without children, or in mixed content (an element
 * whose text before its first child is kept).
 */
function dropBlanks(b: Building): PNode {
  const mixed = b.text !== null && !BLANK.test(b.text);
  const keep = (t: string | null, sole: boolean) => (t === null || (BLANK.test(t) && !mixed && !sole) ? null : t);
  const children = b.children.map((c) => {
    const n = dropBlanks(c);
    return { ...n, tail: keep(c.tail, false) };
  });
  return { tag: b.tag, attrib: b.attrib, text: keep(b.text, b.children.length === 0), tail: b.tail, children, line: b.line };
}

/** Parse a Properties (or probe) document; malformed XML is an XML error naming file and line. */
export function parsePropertyXml(source: string, file: string): PNode {
  const parser = new SaxesParser({ xmlns: false, position: true });
  const stack: Building[] = [];
  let root: Building | undefined;
  let failure: BinderyError | undefined;
  const fail = (message: string) => {
    failure ??= new BinderyError('XML', `malformed XML: ${message.replace(/^(?:[^:]*:)?\d+:\d+: /, '')}`, { file, line: parser.line, column: parser.column }, 'fix the XML syntax at that line');
  };
  parser.on('error', (e) => fail(e.message));
  parser.on('opentag', (tag) => {
    const el: Building = { tag: tag.name, attrib: Object.fromEntries(Object.entries(tag.attributes).map(([k, v]) => [k, String(v)])), text: null, tail: null, children: [], line: parser.line };
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else root = el;
    stack.push(el);
  });
  const text = (t: string) => {
    const top = stack[stack.length - 1];
    if (!top) return;
    const last = top.children[top.children.length - 1];
    if (last) last.tail = (last.tail ?? '') + t;
    else top.text = (top.text ?? '') + t;
  };
  parser.on('text', text);
  parser.on('cdata', text);
  parser.on('closetag', () => void stack.pop());
  try {
    parser.write(source).close();
  } catch (e) {
    fail((e as Error).message);
  }
  if (failure) throw failure;
  if (!root) throw new BinderyError('XML', 'empty XML document', { file, line: 1 }, 'the file must contain one root element');
  return { ...dropBlanks(root), tail: null };
}
