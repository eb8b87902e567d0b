/**
 * A tokenizer for the Python subset that Genshi and Cheetah templates use. It works on a slice
 * of the template source so every token carries its true line and column in the template file.
 */
import { SyntaxFault } from './errors.js';

export type TokenKind = 'name' | 'int' | 'float' | 'str' | 'op' | 'newline' | 'indent' | 'dedent' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** Source text (names, operators); for str the decoded value; for numbers the literal. */
  readonly value: string;
  readonly line: number;
  readonly col: number;
  /** Offset just past the token in the source. */
  readonly end: number;
  /** Cheetah: the name was written `$name`. */
  readonly dollar?: boolean;
}

export interface LexOptions {
  /** Offset where tokenizing starts (default 0) and its line/column. */
  readonly start?: number;
  readonly line?: number;
  readonly col?: number;
  /** Offset where the slice ends (default: end of source). */
  readonly stop?: number;
  /** Produce newline/indent/dedent tokens (a {% python %} block); else newlines are blanks. */
  readonly statements?: boolean;
  /** Statement mode: added to the indentation of every line but the first (Genshi's dedent). */
  readonly indentAdjust?: number;
  /** Cheetah directive: end (eof) at a newline or at a `#` outside strings. */
  readonly cheetahDirective?: boolean;
  /** Cheetah: accept `$name` as a name. */
  readonly dollarNames?: boolean;
}

const OPERATORS = [
  '**=', '//=', '>>=', '<<=', '...',
  '**', '//', '<<', '>>', '<=', '>=', '==', '!=', '<>', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '->',
  '+', '-', '*', '/', '%', '&', '|', '^', '~', '<', '>', '(', ')', '[', ']', '{', '}', ',', ':', '.', ';', '=', '@', '`',
];

const IDENT_CHAR = /[A-Za-z_0-9]/;
const NAME_START = /[A-Za-z_]/;

export class Lexer {
  private pos: number;
  private line: number;
  private col: number;
  private readonly stop: number;
  private readonly pending: Token[] = [];
  private depth = 0;
  private readonly indents: number[] = [0];
  private atLineStart: boolean;
  private firstLine = true;
  private finished = false;

  constructor(
    private readonly src: string,
    private readonly opts: LexOptions = {},
  ) {
    this.pos = opts.start ?? 0;
    this.line = opts.line ?? 1;
    this.col = opts.col ?? 1;
    this.stop = opts.stop ?? src.length;
    this.atLineStart = !!opts.statements;
  }

  /** Offset of the next unread character. */
  get offset(): number {
    return this.pos;
  }

  get position(): { line: number; col: number } {
    return { line: this.line, col: this.col };
  }

  next(): Token {
    if (this.pending.length) return this.pending.shift()!;
    return this.scan();
  }

  private advance(n: number): void {
    for (let i = 0; i < n; i++) {
      if (this.src[this.pos] === '\n') {
        this.line++;
        this.col = 1;
      } else this.col++;
      this.pos++;
    }
  }

  private fault(message: string, line = this.line, col = this.col): never {
    throw new SyntaxFault(message, line, col);
  }

  private tok(kind: TokenKind, value: string, line: number, col: number, extra: Partial<Token> = {}): Token {
    return { kind, value, line, col, end: this.pos, ...extra };
  }

  private scan(): Token {
    const { src } = this;
    if (this.atLineStart) {
      const t = this.lineStart();
      if (t) return t;
    }
    for (;;) {
      if (this.pos >= this.stop) return this.finish();
      const c = src[this.pos]!;
      if (c === ' ' || c === '\t' || c === '\f' || c === '\r') {
        this.advance(1);
        continue;
      }
      if (c === '\\' && (src[this.pos + 1] === '\n' || (src[this.pos + 1] === '\r' && src[this.pos + 2] === '\n'))) {
        // Explicit line joining.
        this.advance(src[this.pos + 1] === '\r' ? 3 : 2);
        continue;
      }
      if (c === '#') {
        if (this.opts.cheetahDirective) return this.finish();
        while (this.pos < this.stop && src[this.pos] !== '\n') this.advance(1);
        continue;
      }
      if (c === '\n') {
        if (this.opts.cheetahDirective) return this.finish();
        if (this.opts.statements && this.depth === 0) {
          const t = this.tok('newline', '\n', this.line, this.col);
          this.advance(1);
          this.atLineStart = true;
          return { ...t, end: this.pos };
        }
        this.advance(1);
        continue;
      }
      break;
    }
    const line = this.line;
    const col = this.col;
    const c = src[this.pos]!;
    if (c === '$' && this.opts.dollarNames && NAME_START.test(src[this.pos + 1] ?? '')) {
      this.advance(1);
      const name = this.readName();
      return this.tok('name', name, line, col, { dollar: true });
    }
    const strPrefix = /^([rRuUbB]{0,2})(['"])/.exec(src.slice(this.pos, this.pos + 3));
    if (strPrefix && /^[rRuUbB]{0,2}$/.test(strPrefix[1]!) && (strPrefix[1]!.length === 0 || NAME_START.test(c))) {
      return this.readString(strPrefix[1]!, line, col);
    }
    if (NAME_START.test(c) || c.charCodeAt(0) > 127) {
      return this.tok('name', this.readName(), line, col);
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[this.pos + 1] ?? ''))) {
      return this.readNumber(line, col);
    }
    for (const op of OPERATORS) {
      if (src.startsWith(op, this.pos) && this.pos + op.length <= this.stop) {
        this.advance(op.length);
        if (op === '(' || op === '[' || op === '{') this.depth++;
        else if (op === ')' || op === ']' || op === '}') this.depth = Math.max(0, this.depth - 1);
        return this.tok('op', op, line, col);
      }
    }
    this.fault(`unexpected character ${JSON.stringify(c)}`);
  }

  /** Handle indentation at the start of a logical line (statement mode only). */
  private lineStart(): Token | null {
    const { src } = this;
    for (;;) {
      let width = 0;
      let p = this.pos;
      while (p < this.stop && (src[p] === ' ' || src[p] === '\t' || src[p] === '\f')) {
        width = src[p] === '\t' ? (Math.floor(width / 8) + 1) * 8 : width + 1;
        p++;
      }
      if (p >= this.stop) {
        this.advance(p - this.pos);
        this.atLineStart = false;
        return null;
      }
      const c = src[p];
      if (c === '\n' || c === '#' || (c === '\r' && src[p + 1] === '\n')) {
        // Blank or comment-only lines do not count for indentation.
        while (p < this.stop && src[p] !== '\n') p++;
        this.advance(Math.min(p + 1, this.stop) - this.pos);
        this.firstLine = false;
        continue;
      }
      this.advance(p - this.pos);
      this.atLineStart = false;
      const indent = this.firstLine ? 0 : width + (this.opts.indentAdjust ?? 0);
      this.firstLine = false;
      const top = this.indents[this.indents.length - 1]!;
      if (indent > top) {
        this.indents.push(indent);
        return this.tok('indent', '', this.line, this.col);
      }
      if (indent < top) {
        while (this.indents[this.indents.length - 1]! > indent) {
          this.indents.pop();
          this.pending.push(this.tok('dedent', '', this.line, this.col));
        }
        if (this.indents[this.indents.length - 1] !== indent) this.fault('unindent does not match any outer indentation level');
        return this.pending.shift()!;
      }
      return null;
    }
  }

  private finish(): Token {
    if (this.opts.statements && !this.finished) {
      this.finished = true;
      this.pending.push(this.tok('newline', '', this.line, this.col));
      while (this.indents.length > 1) {
        this.indents.pop();
        this.pending.push(this.tok('dedent', '', this.line, this.col));
      }
      this.pending.push(this.tok('eof', '', this.line, this.col));
      return this.pending.shift()!;
    }
    return this.tok('eof', '', this.line, this.col);
  }

  private readName(): string {
    const start = this.pos;
    while (this.pos < this.stop && (IDENT_CHAR.test(this.src[this.pos]!) || this.src.charCodeAt(this.pos) > 127)) this.advance(1);
    return this.src.slice(start, this.pos);
  }

  private readNumber(line: number, col: number): Token {
    const rest = this.src.slice(this.pos, this.stop);
    let m = /^0[xX][0-9a-fA-F]+[lL]?|^0[oO][0-7]+[lL]?|^0[bB][01]+[lL]?/.exec(rest);
    if (m) {
      this.advance(m[0].length);
      const lit = m[0].replace(/[lL]$/, '');
      return this.tok('int', BigInt(lit.toLowerCase().startsWith('0o') ? '0o' + lit.slice(2) : lit).toString(), line, col);
    }
    m = /^(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?[jJ]?|^[0-9]+[lL]/.exec(rest);
    if (!m) this.fault('bad number');
    const text = m[0];
    this.advance(text.length);
    if (/[jJ]$/.test(text)) this.fault('complex numbers are not supported', line, col);
    if (/[lL]$/.test(text)) return this.tok('int', BigInt(text.slice(0, -1)).toString(), line, col);
    if (/[.eE]/.test(text)) return this.tok('float', text, line, col);
    // Python 2 reads a leading-zero integer as octal.
    if (/^0[0-7]+$/.test(text)) return this.tok('int', BigInt('0o' + text.slice(1)).toString(), line, col);
    return this.tok('int', BigInt(text).toString(), line, col);
  }

  private readString(prefix: string, line: number, col: number): Token {
    const raw = /r/i.test(prefix);
    this.advance(prefix.length);
    const q = this.src[this.pos]!;
    const triple = this.src.startsWith(q + q + q, this.pos);
    const close = triple ? q + q + q : q;
    this.advance(close.length);
    let out = '';
    for (;;) {
      if (this.pos >= this.stop) this.fault('unterminated string literal', line, col);
      const c = this.src[this.pos]!;
      if (this.src.startsWith(close, this.pos)) {
        this.advance(close.length);
        break;
      }
      if (c === '\n' && !triple) this.fault('unterminated string literal', line, col);
      if (c === '\\') {
        const n = this.src[this.pos + 1] ?? '';
        if (raw) {
          out += c + n;
          this.advance(2);
          continue;
        }
        const esc = this.escape();
        out += esc;
        continue;
      }
      out += c;
      this.advance(1);
    }
    return this.tok('str', out, line, col);
  }

  /** One backslash escape at pos (not raw). */
  private escape(): string {
    const n = this.src[this.pos + 1] ?? '';
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v' };
    if (n === '\n') {
      this.advance(2);
      return '';
    }
    if (n === 'x' || n === 'u' || n === 'U') {
      const len = n === 'x' ? 2 : n === 'u' ? 4 : 8;
      const hex = this.src.slice(this.pos + 2, this.pos + 2 + len);
      if (hex.length !== len || !/^[0-9a-fA-F]+$/.test(hex)) this.fault(`bad \\${n} escape`);
      this.advance(2 + len);
      return String.fromCodePoint(parseInt(hex, 16));
    }
    const oct = /^[0-7]{1,3}/.exec(this.src.slice(this.pos + 1, this.pos + 4));
    if (oct) {
      this.advance(1 + oct[0].length);
      return String.fromCharCode(parseInt(oct[0], 8));
    }
    if (n in simple) {
      this.advance(2);
      return simple[n]!;
    }
    // Python keeps unknown escapes as they are.
    this.advance(1);
    return '\\';
  }
}
