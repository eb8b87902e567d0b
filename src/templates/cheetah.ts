/**
 * Cheetah templates, parsed the way Cheetah 3 renders them (decision 7 (docs/decisions.md)):
 * `$placeholders` with name-mapper lookup and autocalling, `#directives`, comments, escapes and
 * PSP `<% %>` blocks. A `#` that starts no directive is text. A directive alone on its line
 * takes the whole line (indentation and newline) with it.
 *
 * The parser is a class: one scanner loop (scan), one method per kind of token (placeholder,
 * comment, directive) and a table of directive handlers, each small enough to test alone.
 */
import type { Expr, Param, Stmt } from './python/ast.js';
import { SyntaxFault, serverImport, unsupported } from './python/errors.js';
import { Parser } from './python/parser.js';
import { LineIndex } from './lines.js';
import type { Branch, Method, ParsedTemplate, Pos, TNode } from './tree.js';

/** What each directive bindery does not evaluate is, for the refusal message. */
const REFUSED: Readonly<Record<string, string>> = {
  import: 'imports Python code', from: 'imports Python code', extends: 'inherits from another template class',
  implements: 'renames the template method', 'compiler-settings': 'changes the compiler', compiler: 'changes the compiler',
  call: 'passes a body to Python code', capture: 'captures output into a variable', filter: 'runs output through a Python filter class',
  attr: 'defines a class attribute', del: 'is not a Cheetah directive', errorCatcher: 'installs a Python error handler',
  breakpoint: 'stops the Python compiler', indent: 'runs the Indenter', transform: 'runs output through Python code',
  super: 'calls a parent template class', closure: 'defines a Python closure', with: 'runs a Python context manager',
  yield: 'makes the template a generator', arg: 'declares template arguments', shBang: 'writes a Python module header',
  py: 'runs raw Python', decorator: 'decorates a method with Python code', staticmethod: 'decorates a method with Python code',
  classmethod: 'decorates a method with Python code', defmacro: 'defines a compiler macro', i18n: 'runs a translation macro',
};
/** Directives that open a block closed by `#end <word>`. */
const BLOCKS = new Set(['if', 'unless', 'for', 'while', 'repeat', 'def', 'block', 'try', 'cache']);
const SIMPLE = new Set(['elif', 'else', 'except', 'finally', 'end', 'set', 'silent', 'slurp', 'raw', 'echo', 'break', 'continue', 'pass', 'raise', 'assert', 'return', 'include', 'stop', 'encoding', 'unicode']);
const NAME_START = /[A-Za-z_]/;
const NAME_RE = /[A-Za-z_][A-Za-z0-9_]*/y;
const WORD_RE = /[A-Za-z]+(?:-[A-Za-z]+)?/y;
/** Cheetah's cache token after `$`: `*` or `*<interval>*`; a one-shot render caches nothing. */
const CACHE_RE = /\*(?:[0-9.]+[smhdw]?\*)?/y;
const CLOSERS: Readonly<Record<string, string>> = { '{': '}', '(': ')', '[': ']' };
const UTF8 = /^(utf-?8|ascii|us-ascii)$/i;

function readAt(re: RegExp, src: string, at: number): string | null {
  re.lastIndex = at;
  const m = re.exec(src);
  return m ? m[0] : null;
}

/** Is `word` at a `#` a directive (and so not literal text)? */
function isDirectiveWord(word: string | null): boolean {
  return word !== null && (BLOCKS.has(word) || SIMPLE.has(word) || word in REFUSED);
}

/** What a #elif (test) or #except (types, name) adds to its block. */
interface PartInfo {
  readonly test?: Expr;
  readonly types?: Expr | null;
  readonly name?: string | null;
}

/** An open block: where its text goes now, and how it becomes a node at its `#end`. */
interface Frame {
  readonly kind: string;
  readonly pos: Pos;
  body: TNode[];
  /** The node for the parent's body (null: nothing in place, e.g. a #def). */
  readonly make: () => TNode | null;
  /** #elif / #else / #except / #finally: start the next part, or say it does not belong here. */
  readonly part?: (word: string, at: Pos, extra: PartInfo) => boolean;
}

class CheetahParser {
  private readonly src: string;
  private readonly n: number;
  private readonly lines: LineIndex;
  private readonly stack: Frame[];
  private readonly methods: Method[] = [];
  private readonly root: TNode[] = [];
  private text = '';
  private pos = 0;
  /** The blanks before the directive that began the current line (text until the directive takes its line). */
  private indent = '';

  constructor(
    source: string,
    private readonly file: string,
  ) {
    // As Cheetah: CRLF line ends read as LF.
    this.src = source.replace(/\r\n/g, '\n');
    this.n = this.src.length;
    this.lines = new LineIndex(this.src);
    this.stack = [{ kind: 'root', pos: { line: 1, col: 1 }, body: this.root, make: () => null }];
  }

  parse(): ParsedTemplate {
    this.scan(this.n);
    this.flush();
    if (this.stack.length > 1) {
      const f = this.frame();
      throw new SyntaxFault(`#${f.kind} is never closed by #end ${f.kind}`, f.pos.line, f.pos.col);
    }
    return { dialect: 'cheetah', file: this.file, nodes: this.root, methods: this.methods };
  }

  // ---- plumbing ---------------------------------------------------------------------------

  private frame(): Frame {
    return this.stack[this.stack.length - 1]!;
  }

  private flush(): void {
    if (this.text) this.frame().body.push({ t: 'text', s: this.text });
    this.text = '';
  }

  private push(node: TNode): void {
    this.flush();
    this.frame().body.push(node);
  }

  private at(offset: number): Pos {
    return this.lines.pos(offset);
  }

  private fault(message: string, offset: number): never {
    const p = this.at(offset);
    throw new SyntaxFault(message, p.line, p.col);
  }

  private eol(from: number): number {
    const i = this.src.indexOf('\n', from);
    return i < 0 ? this.n : i;
  }

  private blanksTo(from: number, to: number): boolean {
    return /^[ \t\r]*$/.test(this.src.slice(from, to));
  }

  private parserAt(offset: number, directive = true): Parser {
    return Parser.of(this.src, { start: offset, ...this.at(offset), cheetahDirective: directive, dollarNames: true });
  }

  /** Cheetah's handleWSBeforeDirective: drop the blanks that began the directive's line (only those). */
  private dropIndent(): void {
    if (this.indent && this.text.endsWith(this.indent)) this.text = this.text.slice(0, -this.indent.length);
    this.indent = '';
  }

  /** A directive alone on its line that took the newline (or ended the file) takes the indentation too. */
  private lineDone(next: number, clear: boolean): number {
    if (clear && (next >= this.n || this.src[next - 1] === '\n')) this.dropIndent();
    return next;
  }

  /**
   * Where a directive ends: after a closing `#` (the line stays; `##` before another directive
   * closes this one and opens that), or at the end of its line, a `## comment` included,
   * taking the newline when the directive was alone on its line.
   */
  private finishAt(stop: number, clear: boolean): number {
    const { src } = this;
    if (src[stop] === '#' && (src[stop + 1] !== '#' || isDirectiveWord(readAt(WORD_RE, src, stop + 2)))) return this.lineDone(stop + 1, clear);
    const end = src[stop] === '#' ? this.eol(stop) : stop;
    return this.lineDone(clear && src[end] === '\n' ? end + 1 : end, clear);
  }

  /** End a directive's expression: end of line or `#` (a trailing colon is allowed). */
  private finishExpression(p: Parser, clear: boolean): number {
    p.acceptOp(':');
    p.expectEnd();
    return this.finishAt(p.stopOffset, clear);
  }

  /** A directive without arguments (#else, #end if, #raw): only blanks (and a colon) may follow. */
  private bareEnd(at: number, clear: boolean, what: string): number {
    const { src } = this;
    let q = at;
    while (src[q] === ' ' || src[q] === '\t' || src[q] === '\r') q++;
    if (src[q] === ':') q++;
    while (src[q] === ' ' || src[q] === '\t' || src[q] === '\r') q++;
    if (q < this.n && src[q] !== '\n' && src[q] !== '#') this.fault(`unexpected text after #${what}`, q);
    return this.finishAt(q, clear);
  }

  // ---- the scanner --------------------------------------------------------------------------

  /** Read template text up to `stop`, turning placeholders, comments and directives into nodes. */
  private scan(stop: number): void {
    const { src } = this;
    while (this.pos < stop) {
      let clear = false;
      if (this.pos === 0 || src[this.pos - 1] === '\n') {
        let p = this.pos;
        while (src[p] === ' ' || src[p] === '\t') p++;
        if (src[p] === '#' && this.startsDirective(p)) {
          // The indentation stays text unless the directive takes its whole line (lineDone).
          this.indent = src.slice(this.pos, p);
          this.text += this.indent;
          this.pos = p;
          clear = true;
        }
      }
      const c = src[this.pos]!;
      if (c === '\\' && (src[this.pos + 1] === '$' || src[this.pos + 1] === '#')) {
        this.text += src[this.pos + 1];
        this.pos += 2;
        continue;
      }
      let next = -1;
      if (c === '$') next = this.placeholder(this.pos);
      else if (c === '#') next = this.directive(this.pos, clear);
      else if (c === '<' && src[this.pos + 1] === '%') next = this.psp(this.pos);
      if (next >= 0) {
        this.pos = next;
        continue;
      }
      this.text += c;
      this.pos++;
    }
  }

  /** A `#` that Cheetah does not print: a comment, the end-of-line slurp, or a directive. */
  private startsDirective(p: number): boolean {
    const c = this.src[p + 1];
    if (c === '#' || c === '*') return true;
    if (this.blanksTo(p + 1, this.eol(p))) return true;
    return isDirectiveWord(readAt(WORD_RE, this.src, p + 1));
  }

  // ---- placeholders -------------------------------------------------------------------------

  /** `$name.attr(args)[key]…`, `${expr}`, `$(expr)`, `$[expr]`, `$!name`, `$*name`; -1 when the `$` is text. */
  private placeholder(at: number): number {
    const { src } = this;
    let p = at + 1;
    let silent = false;
    if (src[p] === '!') {
      silent = true;
      p++;
    }
    p += readAt(CACHE_RE, src, p)?.length ?? 0;
    const close = CLOSERS[src[p]!];
    let e: Expr;
    if (close) {
      // Any expression; a bare name first in it is looked up like $name.
      const parser = this.parserAt(p + 1, false);
      e = markPlaceholder(parser.testlist());
      parser.expectOp(close);
      p = parser.endOffset;
    } else {
      // As Cheetah: only a name makes a placeholder; shell's $*, $1, $@, $$ are text.
      if (!NAME_START.test(src[p] ?? '')) return -1;
      const chain = this.chain(p);
      e = chain.e;
      p = chain.end;
    }
    this.push({ t: 'out', e, silent, ...this.at(at) });
    return p;
  }

  /** `name.attr(args)[key]…` after a `$`, read without spaces as Cheetah does. */
  private chain(start: number): { e: Expr; end: number } {
    const { src } = this;
    let p = start;
    const name = readAt(NAME_RE, src, p)!;
    let e: Expr = name === 'True' || name === 'False' || name === 'None' ? { k: 'const', v: name === 'None' ? null : name === 'True', ...this.at(p) } : { k: 'name', id: name, dollar: true, ...this.at(p) };
    p += name.length;
    for (;;) {
      if (src[p] === '.' && NAME_START.test(src[p + 1] ?? '')) {
        const attr = readAt(NAME_RE, src, p + 1)!;
        e = { k: 'attr', obj: e, name: attr, nm: true, ...this.at(p + 1) };
        p += 1 + attr.length;
      } else if (src[p] === '(' || src[p] === '[') {
        const parser = this.parserAt(p + 1, false);
        if (src[p] === '(') {
          const args = parser.arglist();
          parser.expectOp(')');
          e = { k: 'call', fn: e, args, ...this.at(p) };
        } else {
          const index = parser.subscriptList();
          parser.expectOp(']');
          e = { k: 'sub', obj: e, index, ...this.at(p) };
        }
        p = parser.endOffset;
      } else return { e, end: p };
    }
  }

  /** Placeholders and text only, from `from` to `to` (the body of a one-line directive). */
  private inline(from: number, to: number): TNode[] {
    const saved = this.frame().body;
    const body: TNode[] = [];
    this.flush();
    this.frame().body = body;
    const { src } = this;
    for (let p = from; p < to; ) {
      if (src[p] === '\\' && (src[p + 1] === '$' || src[p + 1] === '#')) {
        this.text += src[p + 1];
        p += 2;
        continue;
      }
      const next = src[p] === '$' ? this.placeholder(p) : -1;
      if (next >= 0) {
        if (next > to) this.fault('the placeholder runs past the end of the line', p);
        p = next;
      } else this.text += src[p++];
    }
    this.flush();
    this.frame().body = saved;
    return body;
  }

  // ---- PSP ------------------------------------------------------------------------------------

  /** `<%= expr %>` prints, `<% statements %>` runs. */
  private psp(at: number): number {
    const end = this.src.indexOf('%>', at + 2);
    if (end < 0) this.fault('<% is never closed by %>', at);
    const here = this.at(at);
    const expr = this.src[at + 2] === '=';
    const start = at + (expr ? 3 : 2);
    // PSP holds plain Python: no $placeholders.
    const parser = Parser.of(this.src, { start, stop: end, ...this.at(start), statements: !expr });
    if (expr) {
      const e = parser.testlist();
      parser.expectEnd();
      this.push({ t: 'out', e, ...here });
    } else {
      if (/:\s*$/.test(this.src.slice(start, end))) throw unsupported('a <% … %> block that opens a Python block (Cheetah indents the rest of the template under it)', here.line, here.col);
      this.push({ t: 'exec', stmts: parser.suite(), ...here });
    }
    return end + 2;
  }

  // ---- directives -----------------------------------------------------------------------------

  /** Handle a `#…` at p; returns where to continue, or -1 when the `#` is literal text. */
  private directive(p: number, clear: boolean): number {
    const { src } = this;
    if (src[p + 1] === '#') return this.finishAt(p, clear);
    if (src[p + 1] === '*') return this.blockComment(p, clear);
    const e = this.eol(p);
    if (this.blanksTo(p + 1, e)) {
      // The end-of-line slurp: a `#` and blanks up to the newline vanish with the newline.
      return this.lineDone(e < this.n ? e + 1 : e, clear);
    }
    const word = readAt(WORD_RE, src, p + 1);
    if (!isDirectiveWord(word)) return -1;
    const here = this.at(p);
    if (word! in REFUSED) {
      const module = word === 'import' || word === 'from' ? /^[ \t]+([\w.]+)/.exec(src.slice(p + 1 + word.length, e))?.[1] : undefined;
      if (module) {
        const server = serverImport(module, here.line, here.col);
        if (server) throw server;
      }
      throw unsupported(`the Cheetah directive #${word} (it ${REFUSED[word!]})`, here.line, here.col);
    }
    return this.handler(word!, p, p + 1 + word!.length, clear, here);
  }

  /** `#* … *#`, nesting; blanks after one are eaten up to the newline, which goes too when the comment began its line. */
  private blockComment(p: number, clear: boolean): number {
    const { src } = this;
    let next = p + 2;
    for (let level = 1; level > 0; ) {
      const open = src.indexOf('#*', next);
      const close = src.indexOf('*#', next);
      // As Cheetah: an unclosed comment runs to the end of the file.
      if (close < 0) return this.lineDone(this.n, clear);
      level += open >= 0 && open < close ? 1 : -1;
      next = (open >= 0 && open < close ? open : close) + 2;
    }
    const e = this.eol(next);
    if (this.blanksTo(next, e)) next = clear && e < this.n ? e + 1 : e;
    if (clear && (next >= this.n || next > this.eol(p))) this.dropIndent();
    return next;
  }

  private handler(word: string, p: number, q: number, clear: boolean, here: Pos): number {
    switch (word) {
      case 'slurp': {
        const e = this.eol(p);
        return this.lineDone(e < this.n ? e + 1 : e, clear);
      }
      case 'raw':
        return this.raw(q, clear);
      case 'if':
      case 'unless':
        return this.ifDirective(word, q, clear, here);
      case 'elif':
      case 'else':
        return this.elseDirective(word, p, q, clear, here);
      case 'for':
      case 'while':
      case 'repeat':
        return this.loopDirective(word, q, clear, here);
      case 'def':
      case 'block':
        return this.defDirective(word, q, clear, here);
      case 'try':
      case 'cache': {
        const after = this.bareEnd(q, clear, word);
        if (word === 'cache') this.open('cache', here, (body) => ({ t: 'if', branches: [{ test: { k: 'const', v: true, ...here }, body, ...here }], orelse: null, ...here }));
        else this.openTry(here);
        return after;
      }
      case 'except':
      case 'finally':
        return this.exceptDirective(word, p, q, clear, here);
      case 'end':
        return this.closeBlock(p, q, clear);
      case 'set':
        return this.setDirective(q, clear, here);
      case 'silent':
      case 'echo': {
        const parser = this.parserAt(q);
        const e = parser.testlist();
        const after = this.finishExpression(parser, clear);
        this.push(word === 'echo' ? { t: 'out', e, ...here } : { t: 'exec', stmts: [{ k: 'expr', value: e, ...here }], ...here });
        return after;
      }
      case 'include':
        return this.includeDirective(q, clear, here);
      case 'stop': {
        const after = this.bareEnd(q, clear, 'stop');
        this.push({ t: 'stop', ...here });
        return after;
      }
      case 'return': {
        if (!this.stack.some((f) => f.kind === 'def' || f.kind === 'block')) this.fault('#return outside #def or #block', p);
        const parser = this.parserAt(q);
        const e = parser.peek().kind === 'eof' ? null : parser.testlist();
        const after = this.finishExpression(parser, clear);
        this.push({ t: 'return', e, ...here });
        return after;
      }
      case 'encoding':
      case 'unicode': {
        const e = this.eol(p);
        const m = /^[ \t]+([\w.-]+)[ \t\r]*$/.exec(this.src.slice(q, e));
        if (!m) this.fault(`#${word} needs an encoding name, e.g. #${word} utf-8`, p);
        if (!UTF8.test(m![1]!)) throw unsupported(`#${word} ${m![1]} (bindery reads templates as UTF-8; convert the file and write #${word} utf-8)`, here.line, here.col);
        return this.lineDone(e < this.n ? e + 1 : e, clear);
      }
      default:
        return this.statementDirective(word, p, clear, here);
    }
  }

  /** As Cheetah (whose Python output would not compile): a block part needs at least one thing in it. */
  private notEmpty(at: number): void {
    this.flush();
    const f = this.frame();
    if (f.body.length === 0 && f.kind !== 'def' && f.kind !== 'block' && f.kind !== 'cache') this.fault(`the #${f.kind} at line ${f.pos.line} has an empty part (Cheetah refuses it; write #pass there)`, at);
  }

  private open(kind: string, pos: Pos, make: (body: TNode[]) => TNode | null, part?: Frame['part']): Frame {
    this.flush();
    const body: TNode[] = [];
    const frame: Frame = { kind, pos, body, make: () => make(body), part };
    this.stack.push(frame);
    return frame;
  }

  /** The rest of the line after a one-line directive's colon: [start, end of text, where to continue]. */
  private oneLine(p: Parser): { from: number; to: number } | null {
    if (!p.isOp(':')) return null;
    let from = p.peek().end;
    const to = this.eol(from);
    if (this.blanksTo(from, to) || this.src[from] === '#') return null;
    while (this.src[from] === ' ' || this.src[from] === '\t') from++;
    return { from, to };
  }

  private raw(q: number, clear: boolean): number {
    const start = this.bareEnd(q, clear, 'raw');
    const endAt = this.src.indexOf('#end raw', start);
    // Without #end raw the rest of the file is raw text.
    if (endAt < 0) {
      this.text += this.src.slice(start);
      return this.n;
    }
    const lineStart = this.src.lastIndexOf('\n', endAt - 1) + 1;
    const endClear = this.blanksTo(lineStart, endAt);
    this.text += this.src.slice(start, endClear ? lineStart : endAt);
    return this.bareEnd(endAt + '#end raw'.length, endClear, 'end raw');
  }

  private ifDirective(word: 'if' | 'unless', q: number, clear: boolean, here: Pos): number {
    const parser = this.parserAt(q);
    const raw = parser.test();
    const test: Expr = word === 'unless' ? { k: 'unary', op: 'not', operand: raw, ...here } : raw;
    if (word === 'if' && parser.isKw('then')) {
      // #if c then a else b: prints one of two expressions.
      parser.next();
      const body = parser.test();
      parser.expectKw('else');
      const orelse = parser.test();
      const after = this.finishExpression(parser, clear);
      this.push({ t: 'out', e: { k: 'ifexp', test, body, orelse, ...here }, ...here });
      return after;
    }
    const line = this.oneLine(parser);
    if (line) {
      // The text after the colon, its newline included, is the body.
      const to = line.to < this.n ? line.to + 1 : line.to;
      this.push({ t: 'if', branches: [{ test, body: this.inline(line.from, to), ...here }], orelse: null, ...here });
      return to;
    }
    const after = this.finishExpression(parser, clear);
    const branches: Branch[] = [];
    let orelse: TNode[] | null = null;
    let body: TNode[] = [];
    branches.push({ test, body, ...here });
    const frame = this.open(word, here, () => ({ t: 'if', branches, orelse, ...here }), (w, at, extra) => {
      if (orelse || (w !== 'elif' && w !== 'else')) return false;
      body = [];
      if (w === 'elif') branches.push({ test: extra.test!, body, ...at });
      else orelse = body;
      frame.body = body;
      return true;
    });
    frame.body = body;
    return after;
  }

  private openTry(here: Pos): void {
    const handlers: Extract<TNode, { t: 'try' }>['handlers'][number][] = [];
    let orelse: TNode[] | null = null;
    let final: TNode[] | null = null;
    const body: TNode[] = [];
    const frame = this.open('try', here, () => ({ t: 'try', body, handlers, orelse, final, ...here }), (w, at, extra) => {
      if (final) return false;
      const part: TNode[] = [];
      if (w === 'except' && !orelse) handlers.push({ types: extra.types ?? null, name: extra.name ?? null, body: part, ...at });
      else if (w === 'else' && handlers.length && !orelse) orelse = part;
      else if (w === 'finally') final = part;
      else return false;
      frame.body = part;
      return true;
    });
    frame.body = body;
  }

  /** #elif, #else, #else if: the next part of the innermost #if (or #try's #else). */
  private elseDirective(word: 'elif' | 'else', p: number, q: number, clear: boolean, here: Pos): number {
    const { src } = this;
    let testAt = word === 'elif' ? q : -1;
    if (word === 'else') {
      let r = q;
      while (src[r] === ' ' || src[r] === '\t') r++;
      if (readAt(WORD_RE, src, r) === 'if') testAt = r + 2;
    }
    const f = this.frame();
    if (!f.part || (f.kind !== 'if' && f.kind !== 'unless' && !(f.kind === 'try' && testAt < 0))) return this.fault(`#${word} without an open #if`, p);
    // Finish the directive (which may drop the line's indentation) before closing the branch.
    if (testAt < 0) {
      const after = this.bareEnd(q, clear, 'else');
      this.notEmpty(p);
      if (!f.part('else', here, {})) this.fault(`#else after the #else or #finally of the #${f.kind} at line ${f.pos.line}`, p);
      return after;
    }
    const parser = this.parserAt(testAt);
    const test = parser.test();
    const after = this.finishExpression(parser, clear);
    this.notEmpty(p);
    if (f.kind === 'unless' || !f.part('elif', here, { test })) this.fault(`#${word} after the #else of the #${f.kind} at line ${f.pos.line}`, p);
    return after;
  }

  /** #except [Type[, …] [as name]] and #finally. */
  private exceptDirective(word: 'except' | 'finally', p: number, q: number, clear: boolean, here: Pos): number {
    const f = this.frame();
    if (f.kind !== 'try') this.fault(`#${word} without an open #try`, p);
    let types: Expr | null = null;
    let name: string | null = null;
    let after: number;
    const parser = this.parserAt(q);
    if (word === 'except' && parser.peek().kind !== 'eof' && !parser.isOp(':')) {
      types = parser.test();
      if (parser.acceptKw('as')) name = parser.next().value;
      after = this.finishExpression(parser, clear);
    } else after = this.bareEnd(q, clear, word);
    this.notEmpty(p);
    if (!f.part!(word, here, { types, name })) this.fault(`#${word} in the wrong place in the #try at line ${f.pos.line}`, p);
    return after;
  }

  private loopDirective(word: 'for' | 'while' | 'repeat', q: number, clear: boolean, here: Pos): number {
    const parser = this.parserAt(q);
    let make: (body: TNode[]) => TNode;
    if (word === 'for') {
      const target = parser.exprlist();
      parser.expectKw('in');
      const iter = parser.testlist();
      make = (body) => ({ t: 'for', target, iter, body, ...here });
    } else {
      const e = parser.test();
      make = (body) => (word === 'while' ? { t: 'while', test: e, body, ...here } : { t: 'repeat', count: e, body, ...here });
    }
    const line = this.oneLine(parser);
    if (line) {
      const to = line.to < this.n ? line.to + 1 : line.to;
      this.push(make(this.inline(line.from, to)));
      return to;
    }
    const after = this.finishExpression(parser, clear);
    this.open(word, here, make);
    return after;
  }

  /** #def name[(params)] and #block name: a template method, hoisted; a block is also called in place. */
  private defDirective(word: 'def' | 'block', q: number, clear: boolean, here: Pos): number {
    const parser = this.parserAt(q);
    const t = parser.next();
    if (t.kind !== 'name') parser.fail(`a name after #${word}`, t);
    let params: Param[] = [];
    if (word === 'def' && parser.acceptOp('(')) {
      params = parser.params(')');
      parser.expectOp(')');
    }
    const name = t.value;
    const define = (body: TNode[]) => {
      if (this.methods.some((m) => m.name === name)) throw new SyntaxFault(`#${word} ${name} is defined twice`, here.line, here.col);
      this.methods.push({ name, params, body, ...here });
    };
    const call: TNode = { t: 'out', e: { k: 'call', fn: { k: 'name', id: name, dollar: true, ...here }, args: [], ...here }, ...here };
    const line = this.oneLine(parser);
    if (line) {
      // One-line #def and #block: the text after the colon, without its newline.
      define(this.inline(line.from, line.to));
      if (word === 'block') this.push(call);
      return this.lineDone(line.to < this.n ? line.to + 1 : line.to, clear);
    }
    const after = this.finishExpression(parser, clear);
    this.open(word, here, (body) => {
      define(body);
      return word === 'block' ? call : null;
    });
    return after;
  }

  /** #end <word> [name]. */
  private closeBlock(p: number, q: number, clear: boolean): number {
    const { src } = this;
    let r = q;
    while (src[r] === ' ' || src[r] === '\t') r++;
    const kind = readAt(WORD_RE, src, r);
    if (!kind) this.fault('#end needs the directive it closes (#end if, #end for)', p);
    if (kind === 'raw') this.fault('#end raw without #raw', p);
    r += kind!.length;
    if (kind === 'block' || kind === 'def') {
      // #end block name
      while (src[r] === ' ' || src[r] === '\t') r++;
      r += readAt(NAME_RE, src, r)?.length ?? 0;
    }
    const after = this.bareEnd(r, clear, `end ${kind}`);
    const f = this.frame();
    if (f.kind === 'root') this.fault(`#end ${kind} without an open #${kind}`, p);
    if (f.kind !== kind) this.fault(`#end ${kind} closes #${f.kind} (opened at line ${f.pos.line})`, p);
    this.notEmpty(p);
    this.stack.pop();
    const node = f.make();
    if (node) this.frame().body.push(node);
    return after;
  }

  private setDirective(q: number, clear: boolean, here: Pos): number {
    const parser = this.parserAt(q);
    let global = false;
    if ((parser.isKw('global') || parser.isKw('local')) && parser.peek(1).kind === 'name') global = parser.next().value === 'global';
    const stmt: Stmt = parser.smallStatement();
    if (stmt.k !== 'assign' && stmt.k !== 'augassign') throw new SyntaxFault('#set needs an assignment: #set $name = value', here.line, here.col);
    if (stmt.k === 'assign' && stmt.targets.length > 1) throw new SyntaxFault('#set assigns one target ($a = $b = … is refused by Cheetah too)', here.line, here.col);
    const after = this.finishExpression(parser, clear);
    // #set global: the template's globals, which #def, #block and #include see (locals stay in their method).
    const targets = stmt.k === 'assign' ? stmt.targets : [stmt.target];
    const names = targets.flatMap((t) => (t.k === 'name' ? [t.id] : t.k === 'tuple' || t.k === 'list' ? t.items.flatMap((i) => (i.k === 'name' ? [i.id] : [])) : []));
    this.push({ t: 'exec', stmts: global ? [{ k: 'global', names, ...here }, stmt] : [stmt], ...here });
    return after;
  }

  /** #include [raw] "file" | #include [raw] source=$expr. */
  private includeDirective(q: number, clear: boolean, here: Pos): number {
    const parser = this.parserAt(q);
    const raw = parser.isKw('raw') && parser.peek(1).kind !== 'eof' ? (parser.next(), true) : false;
    let source = false;
    if (parser.isKw('source') && parser.isOp('=', 1)) {
      parser.next();
      parser.next();
      source = true;
    }
    const e = parser.test();
    const after = this.finishExpression(parser, clear);
    this.push({ t: 'cinclude', e, raw, source, ...here });
    return after;
  }

  /** #raise, #pass, #break, #continue, #assert: Python statements of the same name. */
  private statementDirective(word: string, p: number, clear: boolean, here: Pos): number {
    const parser = this.parserAt(p + 1);
    const stmt = parser.smallStatement();
    const after = this.finishExpression(parser, clear);
    if (stmt.k === 'break' || stmt.k === 'continue') {
      if (!this.stack.some((f) => f.kind === 'for' || f.kind === 'while' || f.kind === 'repeat')) this.fault(`#${word} outside #for, #while or #repeat`, p);
      this.push({ t: stmt.k, ...here });
    } else this.push({ t: 'exec', stmts: [stmt], ...here });
    return after;
  }
}

/** In `${…}`, a bare name that starts the expression is a placeholder name (`${name.upper}` autocalls). */
function markPlaceholder(e: Expr): Expr {
  switch (e.k) {
    case 'name':
      return { ...e, dollar: true };
    case 'attr':
      return { ...e, obj: markPlaceholder(e.obj), nm: true };
    case 'call':
      return { ...e, fn: markPlaceholder(e.fn) };
    case 'sub':
      return { ...e, obj: markPlaceholder(e.obj) };
    default:
      return e;
  }
}

export function parseCheetah(source: string, file: string): ParsedTemplate {
  return new CheetahParser(source, file).parse();
}
