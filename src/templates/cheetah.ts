/**
 * Cheetah templates: `$placeholders` with name-mapper lookup and
 * autocalling, `#directives`, comments and escapes. A directive alone on its line takes the
 * whole line (leading blanks and newline) with it, as Cheetah does.
 */
import type { Expr, Stmt } from './python/ast.js';
import { SyntaxFault, unsupported } from './python/errors.js';
import { Parser } from './python/parser.js';
import { LineIndex } from './lines.js';
import type { Branch, ParsedTemplate, Pos, TNode } from './tree.js';

const SUPPORTED = new Set(['if', 'elif', 'else', 'end', 'for', 'set', 'silent', 'slurp', 'raw', 'echo', 'unless', 'break', 'continue', 'pass', 'raise']);
/** Real Cheetah directives bindery does not evaluate: named in the error rather than printed. */
const UNSUPPORTED = new Set([
  'def', 'block', 'include', 'import', 'from', 'extends', 'implements', 'while', 'try', 'except', 'finally', 'call', 'capture', 'cache',
  'filter', 'encoding', 'compiler', 'compiler-settings', 'attr', 'return', 'repeat', 'del', 'assert', 'errorCatcher', 'breakpoint',
  'indent', 'transform', 'super', 'stop', 'closure', 'with', 'yield', 'arg', 'shBang', 'py', 'decorator', 'staticmethod', 'classmethod',
]);
const NAME_START = /[A-Za-z_]/;
const NAME_RE = /[A-Za-z_][A-Za-z0-9_]*/y;
const WORD_RE = /[A-Za-z]+(?:-[A-Za-z]+)?/y;
/** Cheetah's cache token after `$`: `*` or `*<interval>*`. */
const CACHE_RE = /\*(?:[0-9.]+[smhdw]?\*)?/y;

type Frame =
  | { readonly kind: 'root'; readonly body: TNode[] }
  | { readonly kind: 'if' | 'unless'; readonly pos: Pos; readonly branches: { test: Expr; body: TNode[]; line: number; col: number }[]; orelse: TNode[] | null }
  | { readonly kind: 'for'; readonly pos: Pos; readonly target: Expr; readonly iter: Expr; readonly body: TNode[] };

function readAt(re: RegExp, src: string, at: number): string | null {
  re.lastIndex = at;
  const m = re.exec(src);
  return m ? m[0] : null;
}

export function parseCheetah(source: string, file: string): ParsedTemplate {
  const src = source;
  const n = src.length;
  const lines = new LineIndex(src);
  const root: Frame = { kind: 'root', body: [] };
  const stack: Frame[] = [root];
  let text = '';

  const frame = () => stack[stack.length - 1]!;
  const body = (): TNode[] => {
    const f = frame();
    if (f.kind === 'root' || f.kind === 'for') return f.body;
    return f.orelse ?? f.branches[f.branches.length - 1]!.body;
  };
  const flush = () => {
    if (text) body().push({ t: 'text', s: text });
    text = '';
  };
  const push = (node: TNode) => {
    flush();
    body().push(node);
  };
  const fault = (message: string, offset: number): never => {
    const p = lines.pos(offset);
    throw new SyntaxFault(message, p.line, p.col);
  };
  const eol = (from: number) => {
    const i = src.indexOf('\n', from);
    return i < 0 ? n : i;
  };
  const parserAt = (offset: number) => {
    const p = lines.pos(offset);
    return Parser.of(src, { start: offset, line: p.line, col: p.col, cheetahDirective: true, dollarNames: true });
  };
  /** Cheetah's handleWSBeforeDirective: drop the blanks that began the directive's line. */
  const dropIndent = () => {
    text = text.replace(/[ \t]*$/, '');
  };
  /** A directive alone on its line that took the newline (or ended the file) takes the indentation too. */
  const lineDone = (next: number, clear: boolean): number => {
    if (clear && (next >= n || src[next - 1] === '\n')) dropIndent();
    return next;
  };
  /**
   * Where a directive ends: after a closing `#` (the line stays), or at the end of its line,
   * a `## comment` included, taking the newline when the directive was alone on its line.
   */
  const finishAt = (stop: number, clear: boolean): number => {
    if (src[stop] === '#' && src[stop + 1] !== '#') return lineDone(stop + 1, clear);
    const end = src[stop] === '#' ? eol(stop) : stop;
    return lineDone(clear && src[end] === '\n' ? end + 1 : end, clear);
  };
  /** End the directive expression: an optional trailing colon, then end of line or `#`. */
  const endDirective = (p: Parser, clear: boolean, what: string): number => {
    if (p.acceptOp(':') && p.peek().kind !== 'eof') throw unsupported(`the one-line form "#${what} …: text"`, p.peek().line, p.peek().col);
    p.expectEnd();
    return finishAt(p.stopOffset, clear);
  };
  /** A directive without arguments (#else, #end if, #raw): only blanks may follow. */
  const bareEnd = (at: number, clear: boolean, what: string): number => {
    let q = at;
    while (src[q] === ' ' || src[q] === '\t' || src[q] === '\r') q++;
    if (src[q] === ':') q++;
    while (src[q] === ' ' || src[q] === '\t' || src[q] === '\r') q++;
    if (q < n && src[q] !== '\n' && src[q] !== '#') fault(`unexpected text after #${what}`, q);
    return finishAt(q, clear);
  };

  const isDirectiveAt = (p: number): boolean => {
    const c = src[p + 1];
    if (c === '#' || c === '*') return true;
    const w = readAt(WORD_RE, src, p + 1);
    return w !== null && (SUPPORTED.has(w) || UNSUPPORTED.has(w));
  };

  /** `$name.attr(args)[key]…`, `${…}`, `$(…)`, `$!name`; null when the `$` is literal. */
  const placeholder = (at: number): { node: TNode; end: number } | null => {
    let p = at + 1;
    let silent = false;
    if (src[p] === '!') {
      silent = true;
      p++;
    }
    const cached = readAt(CACHE_RE, src, p);
    if (cached) p += cached.length;
    const closers: Record<string, string> = { '{': '}', '(': ')', '[': ']' };
    const close = closers[src[p]!] ?? null;
    if (close) {
      p++;
      while (src[p] === ' ' || src[p] === '\t') p++;
      if (src[p] === '$') p++;
    }
    // As Cheetah: only a name makes a placeholder; shell's $*, ${1}, $((1 + 2)) are text.
    if (!NAME_START.test(src[p] ?? '')) return null;
    if (cached) throw unsupported('a cached placeholder ($*name)', lines.pos(at).line, lines.pos(at).col);
    const name = readAt(NAME_RE, src, p)!;
    let e: Expr = { k: 'name', id: name, dollar: true, ...lines.pos(p) };
    p += name.length;
    for (;;) {
      if (src[p] === '.' && NAME_START.test(src[p + 1] ?? '')) {
        const attr = readAt(NAME_RE, src, p + 1)!;
        e = { k: 'attr', obj: e, name: attr, nm: true, ...lines.pos(p + 1) };
        p += 1 + attr.length;
      } else if (src[p] === '(') {
        const parser = Parser.of(src, { start: p + 1, ...lines.pos(p + 1), dollarNames: true });
        const args = parser.arglist();
        parser.expectOp(')');
        e = { k: 'call', fn: e, args, ...lines.pos(p) };
        p = parser.endOffset;
      } else if (src[p] === '[') {
        const parser = Parser.of(src, { start: p + 1, ...lines.pos(p + 1), dollarNames: true });
        const index = parser.subscriptList();
        parser.expectOp(']');
        e = { k: 'sub', obj: e, index, ...lines.pos(p) };
        p = parser.endOffset;
      } else break;
    }
    if (close) {
      while (src[p] === ' ' || src[p] === '\t') p++;
      if (src[p] !== close) fault(`expected "${close}" to close the placeholder`, p);
      p++;
    }
    return { node: { t: 'out', e, silent, ...lines.pos(at) }, end: p };
  };

  const closeFrame = (kind: string, at: number) => {
    const f = frame();
    if (f.kind === 'root') fault(`#end ${kind} without an open #${kind}`, at);
    if (f.kind !== kind) fault(`#end ${kind} closes #${f.kind} (opened at line ${(f as { pos: Pos }).pos.line})`, at);
    flush();
    stack.pop();
    let node: TNode;
    if (f.kind === 'for') node = { t: 'for', target: f.target, iter: f.iter, body: f.body, ...f.pos };
    else if (f.kind === 'unless' || f.kind === 'if') node = { t: 'if', branches: f.branches.map((b) => b satisfies Branch), orelse: f.orelse, ...f.pos };
    else throw new Error('unreachable');
    body().push(node);
  };

  /** Handle a `#…` at p; returns where to continue, or -1 when the `#` is literal text. */
  const directive = (p: number, clear: boolean): number => {
    const here = lines.pos(p);
    if (src[p + 1] === '#') return finishAt(p, clear);
    if (src[p + 1] === '*') {
      // Block comments nest; blanks after one are eaten up to the newline, which goes too
      // when the comment began its line.
      let next = p + 2;
      for (let level = 1; level > 0; ) {
        const open = src.indexOf('#*', next);
        const close = src.indexOf('*#', next);
        if (close < 0) fault('#* comment is never closed by *#', p);
        level += open >= 0 && open < close ? 1 : -1;
        next = (open >= 0 && open < close ? open : close) + 2;
      }
      const e = eol(next);
      if (src.slice(next, e).trim() === '') next = clear && e < n ? e + 1 : e;
      if (clear && (next >= n || next > eol(p))) dropIndent();
      return next;
    }
    const word = readAt(WORD_RE, src, p + 1);
    if (word === null) return -1;
    if (UNSUPPORTED.has(word)) throw unsupported(`the Cheetah directive #${word}`, here.line, here.col);
    if (!SUPPORTED.has(word)) return -1;
    const q = p + 1 + word.length;
    switch (word) {
      case 'slurp': {
        // Cheetah drops the rest of the line with the newline.
        const e = eol(p);
        return lineDone(e < n ? e + 1 : e, clear);
      }
      case 'raw': {
        const start = bareEnd(q, clear, 'raw');
        const endAt = src.indexOf('#end raw', start);
        if (endAt < 0) fault('#raw is never closed by #end raw', p);
        const lineStart = src.lastIndexOf('\n', endAt - 1) + 1;
        const endClear = src.slice(lineStart, endAt).trim() === '';
        text += src.slice(start, endClear ? lineStart : endAt);
        return bareEnd(endAt + '#end raw'.length, endClear, 'end raw');
      }
      case 'if':
      case 'unless': {
        const parser = parserAt(q);
        const test = parser.test();
        const after = endDirective(parser, clear, word);
        flush();
        const t: Expr = word === 'unless' ? { k: 'unary', op: 'not', operand: test, ...here } : test;
        stack.push({ kind: word, pos: here, branches: [{ test: t, body: [], ...here }], orelse: null });
        return after;
      }
      case 'elif':
      case 'else': {
        const f = frame();
        let testAt = word === 'elif' ? q : -1;
        if (word === 'else') {
          let r = q;
          while (src[r] === ' ' || src[r] === '\t') r++;
          if (readAt(WORD_RE, src, r) === 'if') testAt = r + 2;
        }
        if (f.kind !== 'if' || f.orelse) return fault(`#${word} without an open #if`, p);
        // Finish the directive (which may drop the line's indentation) before closing the branch.
        if (testAt < 0) {
          const after = bareEnd(q, clear, 'else');
          flush();
          f.orelse = [];
          return after;
        }
        const parser = parserAt(testAt);
        const test = parser.test();
        const after = endDirective(parser, clear, 'elif');
        flush();
        f.branches.push({ test, body: [], ...here });
        return after;
      }
      case 'end': {
        let r = q;
        while (src[r] === ' ' || src[r] === '\t') r++;
        const kind = readAt(WORD_RE, src, r);
        if (!kind) fault('#end needs the directive it closes (#end if, #end for)', p);
        if (kind === 'raw') fault('#end raw without #raw', p);
        const after = bareEnd(r + kind!.length, clear, `end ${kind}`);
        closeFrame(kind!, p);
        return after;
      }
      case 'for': {
        const parser = parserAt(q);
        const target = parser.exprlist();
        parser.expectKw('in');
        const iter = parser.testlist();
        const after = endDirective(parser, clear, 'for');
        flush();
        stack.push({ kind: 'for', pos: here, target, iter, body: [] });
        return after;
      }
      case 'set': {
        const parser = parserAt(q);
        if ((parser.isKw('global') || parser.isKw('local')) && parser.peek(1).kind === 'name') parser.next();
        const stmt: Stmt = parser.smallStatement();
        if (stmt.k !== 'assign' && stmt.k !== 'augassign') throw new SyntaxFault('#set needs an assignment: #set $name = value', here.line, here.col);
        const after = endDirective(parser, clear, 'set');
        push({ t: 'exec', stmts: [stmt], ...here });
        return after;
      }
      case 'silent':
      case 'echo': {
        const parser = parserAt(q);
        const e = parser.testlist();
        const after = endDirective(parser, clear, word);
        push(word === 'echo' ? { t: 'out', e, ...here } : { t: 'exec', stmts: [{ k: 'expr', value: e, ...here }], ...here });
        return after;
      }
      default: {
        // raise, pass, break, continue: Python statements of the same name.
        const parser = parserAt(p + 1);
        const stmt = parser.smallStatement();
        const after = endDirective(parser, clear, word);
        if (stmt.k === 'break' || stmt.k === 'continue') {
          if (!stack.some((f) => f.kind === 'for')) fault(`#${word} outside #for`, p);
          push({ t: stmt.k, ...here });
        } else if (stmt.k === 'raise') push({ t: 'exec', stmts: [stmt], ...here });
        return after;
      }
    }
  };

  let pos = 0;
  while (pos < n) {
    let clear = false;
    if (pos === 0 || src[pos - 1] === '\n') {
      let p = pos;
      while (src[p] === ' ' || src[p] === '\t') p++;
      if (src[p] === '#') {
        if (src[p + 1] === ' ') {
          // decision 7 (docs/decisions.md): a `# comment` line disappears with its newline.
          const e = eol(p);
          pos = e < n ? e + 1 : e;
          continue;
        }
        if (isDirectiveAt(p)) {
          // The indentation stays text unless the directive takes its whole line (lineDone).
          text += src.slice(pos, p);
          pos = p;
          clear = true;
        }
      }
    }
    const c = src[pos]!;
    if (c === '\\' && (src[pos + 1] === '$' || src[pos + 1] === '#')) {
      text += src[pos + 1];
      pos += 2;
      continue;
    }
    if (c === '$') {
      const ph = placeholder(pos);
      if (ph) {
        push(ph.node);
        pos = ph.end;
        continue;
      }
    } else if (c === '#') {
      const next = directive(pos, clear);
      if (next >= 0) {
        pos = next;
        continue;
      }
    }
    text += c;
    pos++;
  }
  flush();
  if (stack.length > 1) {
    const f = frame() as Exclude<Frame, { kind: 'root' }>;
    throw new SyntaxFault(`#${f.kind} is never closed by #end ${f.kind}`, f.pos.line, f.pos.col);
  }
  return { dialect: 'cheetah', file, nodes: root.body };
}
