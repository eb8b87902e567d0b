/**
 * Genshi NewTextTemplate, as Bcfg2 configures it: `{% directive %}` blocks closed
 * by `{% end %}`, `$name` / `${expr}` interpolation, `{# comments #}`, and the backslash rules.
 * Parsing follows genshi.template.text and genshi.template.interpolation step by step.
 */
import type { Expr, Stmt } from './python/ast.js';
import { SyntaxFault, unsupported } from './python/errors.js';
import { Parser, parseExpression, parseForHead, parseSignature, parseStatements } from './python/parser.js';
import { LineIndex } from './lines.js';
import type { Branch, ParsedTemplate, Pos, TNode } from './tree.js';

const DIRECTIVE_RE = /(?<!\\)\{%\s*(\w+)\s*([\s\S]*?)\s*%\}|(?<!\\)\{#[\s\S]*?#\}/dg;
const ESCAPE_RE = /\\\r?\n|\\(\\)|\\(\{%)|\\(\{#)/g;
const NAMESTART = /[A-Za-z_]/;
const NAMECHARS = /[A-Za-z_0-9.]/;

const MARKUP_ONLY = new Set(['match', 'replace', 'strip', 'content', 'attrs']);

interface Open {
  readonly kind: string;
  readonly pos: Pos;
  children: TNode[];
  readonly make: (children: TNode[]) => TNode;
}

/** Text with the positions of its characters in the original file (escapes remove characters). */
interface MappedText {
  readonly text: string;
  readonly offsets: readonly number[];
}

function unescape(src: string, start: number, end: number): MappedText {
  const raw = src.slice(start, end);
  let text = '';
  const offsets: number[] = [];
  let last = 0;
  ESCAPE_RE.lastIndex = 0;
  const keep = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      text += raw[i];
      offsets.push(start + i);
    }
  };
  for (let m = ESCAPE_RE.exec(raw); m; m = ESCAPE_RE.exec(raw)) {
    keep(last, m.index);
    const kept = m[1] ?? m[2] ?? m[3] ?? '';
    const at = m.index + m[0].length - kept.length;
    keep(at, at + kept.length);
    last = m.index + m[0].length;
  }
  keep(last, raw.length);
  offsets.push(end);
  return { text, offsets };
}

export function parseGenshi(source: string, file: string): ParsedTemplate {
  const lines = new LineIndex(source);
  const root: TNode[] = [];
  const stack: Open[] = [];
  const current = () => (stack.length ? stack[stack.length - 1]!.children : root);
  const fault = (message: string, offset: number): never => {
    const p = lines.pos(offset);
    throw new SyntaxFault(message, p.line, p.col);
  };

  /** `$name` and `${expr}` in a piece of text (genshi.template.interpolation.lex). */
  const interpolate = (m: MappedText, into: TNode[]): void => {
    const { text, offsets } = m;
    const end = text.length;
    const pushText = (s: string) => {
      if (!s) return;
      const last = into[into.length - 1];
      if (last && last.t === 'text') into[into.length - 1] = { t: 'text', s: last.s + s };
      else into.push({ t: 'text', s });
    };
    const posAt = (i: number) => lines.pos(offsets[i]!);
    let pos = 0;
    let offset = 0;
    let escaped = false;
    for (;;) {
      offset = escaped ? text.indexOf('$', offset + 2) : text.indexOf('$', pos);
      escaped = false;
      if (offset < 0 || offset === end - 1) break;
      const next = text[offset + 1]!;
      if (next === '{') {
        pushText(text.slice(pos, offset));
        const p = posAt(offset + 2);
        const parser = Parser.of(text, { start: offset + 2, line: p.line, col: p.col });
        if (parser.isOp('}')) fault('invalid syntax: empty ${}', offsets[offset]!);
        const e = parser.testlist();
        parser.expectOp('}');
        pos = parser.endOffset;
        const at = posAt(offset);
        into.push({ t: 'out', e, line: at.line, col: at.col });
      } else if (NAMESTART.test(next)) {
        pushText(text.slice(pos, offset));
        pos = offset + 1;
        while (pos < end && NAMECHARS.test(text[pos]!)) pos++;
        const p = posAt(offset + 1);
        if (text[pos - 1] === '.') {
          throw new SyntaxFault(`invalid syntax: "$${text.slice(offset + 1, pos)}" ends with a dot (Genshi reads dots as part of the name; write \${${text.slice(offset + 1, pos - 1)}}.)`, p.line, p.col);
        }
        const e = parseExpression(text, { start: offset + 1, stop: pos, line: p.line, col: p.col });
        const at = posAt(offset);
        into.push({ t: 'out', e, line: at.line, col: at.col });
      } else if (next === '$') {
        pushText(text.slice(pos, offset));
        escaped = true;
        pos = offset + 1;
      } else {
        pushText(text.slice(pos, offset + 1));
        pos = offset + 1;
      }
    }
    if (pos < end) pushText(text.slice(pos));
  };

  const open = (kind: string, at: number, make: (children: TNode[]) => TNode) => {
    stack.push({ kind, pos: lines.pos(at), children: [], make });
  };

  let offset = 0;
  DIRECTIVE_RE.lastIndex = 0;
  for (let m = DIRECTIVE_RE.exec(source); m; m = DIRECTIVE_RE.exec(source)) {
    const start = m.index;
    if (start > offset) interpolate(unescape(source, offset, start), current());
    offset = start + m[0].length;
    const command = m[1];
    if (command === undefined) continue; // {# comment #}
    const [vStart, vEnd] = m.indices![2]!;
    const value = m[2]!;
    const vp = lines.pos(vStart);
    const lex = { start: vStart, stop: vEnd, line: vp.line, col: vp.col };
    const here = lines.pos(start);
    const requireValue = () => {
      if (!value) fault(`{% ${command} %} needs an expression`, start);
    };
    switch (command) {
      case 'if':
        requireValue();
        {
          const test = parseExpression(source, lex);
          open('if', start, (children) => ({ t: 'if', branches: [{ test, body: children, ...here } satisfies Branch], orelse: null, ...here }));
        }
        break;
      case 'for':
        requireValue();
        {
          const { target, iter } = parseForHead(source, lex);
          open('for', start, (children) => ({ t: 'for', target, iter, body: children, ...here }));
        }
        break;
      case 'choose': {
        const test = value ? parseExpression(source, lex) : null;
        open('choose', start, (children) => ({ t: 'choose', test, body: children, ...here }));
        break;
      }
      case 'when':
      case 'otherwise': {
        if (!stack.some((o) => o.kind === 'choose')) fault(`{% ${command} %} must be inside {% choose %}`, start);
        if (command === 'when') {
          const test: Expr | null = value ? parseExpression(source, lex) : null;
          open('when', start, (children) => ({ t: 'when', test, body: children, ...here }));
        } else open('otherwise', start, (children) => ({ t: 'otherwise', body: children, ...here }));
        break;
      }
      case 'with': {
        requireValue();
        const stmts: Stmt[] = parseStatements(source, lex);
        for (const s of stmts) if (s.k !== 'assign') throw new SyntaxFault('only assignments are allowed in {% with %}', s.line, s.col);
        open('with', start, (children) => ({ t: 'with', stmts, body: children, ...here }));
        break;
      }
      case 'def': {
        requireValue();
        const { name, params } = parseSignature(source, lex);
        open('def', start, (children) => ({ t: 'def', name, params, body: children, ...here }));
        break;
      }
      case 'include': {
        requireValue();
        const path: TNode[] = [];
        interpolate({ text: value, offsets: Array.from({ length: value.length + 1 }, (_x, i) => vStart + i) }, path);
        current().push({ t: 'include', path, ...here });
        break;
      }
      case 'python':
        current().push({ t: 'exec', stmts: parsePythonBlock(source, vStart, vEnd, lines), ...here });
        break;
      case 'end': {
        const top = stack.pop();
        if (!top) fault('{% end %} without an open directive', start);
        current().push(top!.make(top!.children));
        break;
      }
      case 'else':
      case 'elif':
        throw unsupported(`{% ${command} %} (Genshi text templates have none; use {% choose %}{% when … %}{% otherwise %})`, here.line, here.col);
      default:
        if (MARKUP_ONLY.has(command)) throw unsupported(`the markup-only directive {% ${command} %}`, here.line, here.col);
        fault(`unknown Genshi directive {% ${command} %}`, start);
    }
  }
  if (offset < source.length) interpolate(unescape(source, offset, source.length), current());
  if (stack.length) {
    const top = stack[stack.length - 1]!;
    throw new SyntaxFault(`{% ${top.kind} %} is never closed by {% end %}`, top.pos.line, top.pos.col);
  }
  return { dialect: 'genshi', file, nodes: root };
}

/**
 * A {% python %} block. Genshi strips the code, keeps the first line as is and dedents the
 * rest (indenting it once if the first line opens a block); the lexer does the same through
 * its indentation adjustment so positions stay those of the file.
 */
function parsePythonBlock(source: string, start: number, end: number, lines: LineIndex): Stmt[] {
  const code = source.slice(start, end);
  const rest = code.split('\n').slice(1);
  const widths = rest.filter((l) => l.trim() !== '').map((l) => indentWidth(l));
  const dedent = widths.length ? Math.min(...widths) : 0;
  const first = code.split('\n')[0]!;
  const firstRest = rest.find((l) => l.trim() !== '');
  const extra = first.trimEnd().endsWith(':') && firstRest !== undefined && indentWidth(firstRest) === dedent ? 4 : 0;
  const p = lines.pos(start);
  return parseStatements(source, { start, stop: end, line: p.line, col: p.col, indentAdjust: extra - dedent });
}

function indentWidth(line: string): number {
  let w = 0;
  for (const c of line) {
    if (c === ' ') w++;
    else if (c === '\t') w = (Math.floor(w / 8) + 1) * 8;
    else break;
  }
  return w;
}
