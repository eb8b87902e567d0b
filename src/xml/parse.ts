import { SaxesParser } from 'saxes';
import { BinderyError } from '../errors.js';

/** An XML element with the line it starts on, so every error can point at it. */
export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** Direct text of the element (all text nodes concatenated, children's text excluded). */
  readonly text: string;
  /** Text before the first child element (authorized_keys literal keys use this). */
  readonly leadingText: string;
  readonly line: number;
  readonly column: number;
}

interface Building {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
  leadingText: string;
  line: number;
  column: number;
}

/** Parse an XML document; malformed input is a BinderyError naming the file and line. */
export function parseXml(source: string, file: string): XmlElement {
  const parser = new SaxesParser({ xmlns: false, position: true });
  const stack: Building[] = [];
  let root: XmlElement | undefined;
  let failure: BinderyError | undefined;

  parser.on('error', (err) => {
    if (!failure) {
      const msg = err.message.replace(/^(?:[^:]*:)?\d+:\d+: /, '');
      failure = new BinderyError('XML', `malformed XML: ${msg}`, { file, line: parser.line, column: parser.column }, 'fix the XML syntax at that line');
    }
  });
  parser.on('opentag', (tag) => {
    const attrs: Record<string, string> = {};
    for (const [k, v] of Object.entries(tag.attributes)) attrs[k] = String(v);
    stack.push({ name: tag.name, attrs, children: [], text: '', leadingText: '', line: parser.line, column: parser.column });
  });
  const addText = (t: string) => {
    const top = stack[stack.length - 1];
    if (!top) return;
    top.text += t;
    if (top.children.length === 0) top.leadingText += t;
  };
  parser.on('text', addText);
  parser.on('cdata', addText);
  parser.on('closetag', () => {
    const b = stack.pop()!;
    const el: XmlElement = Object.freeze({ ...b, children: Object.freeze(b.children) });
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else root = el;
  });
  try {
    parser.write(source).close();
  } catch (e) {
    if (!failure) {
      failure = new BinderyError('XML', `malformed XML: ${(e as Error).message}`, { file, line: parser.line, column: parser.column }, 'fix the XML syntax at that line');
    }
  }
  if (failure) throw failure;
  if (!root) throw new BinderyError('XML', 'empty XML document', { file, line: 1 }, 'the file must contain one root element');
  return root;
}
