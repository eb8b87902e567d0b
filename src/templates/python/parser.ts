/**
 * A recursive-descent parser for bindery's Python subset (expressions, and the statements a
 * Genshi `{% python %}` block uses). Anything outside the subset is rejected here, at compile
 * time, with the construct named: nothing unknown is ever evaluated.
 */
import type { Arg, Comprehension, Expr, Loc, Param, Stmt } from './ast.js';
import { SyntaxFault, serverImport, unsupported } from './errors.js';
import { Lexer, type LexOptions, type Token } from './lexer.js';

const KEYWORDS = new Set([
  'and', 'or', 'not', 'in', 'is', 'if', 'else', 'elif', 'for', 'lambda', 'None', 'True', 'False', 'def', 'return', 'pass',
  'break', 'continue', 'raise', 'import', 'from', 'as', 'global', 'del', 'assert', 'while', 'try', 'except', 'finally',
  'class', 'with', 'yield', 'print', 'exec', 'nonlocal', 'async', 'await',
]);

/** Statements Python has that the subset does not evaluate, with the words used in errors. */
const UNSUPPORTED_STATEMENTS: Record<string, string> = {
  while: 'a while loop',
  try: 'try/except',
  class: 'a class definition',
  with: 'a with statement',
  yield: 'yield',
  print: 'the print statement',
  exec: 'exec',
  nonlocal: 'nonlocal',
  async: 'async',
  await: 'await',
};

/** Imports a template may contain: they only make these names available. */
const ALLOWED_IMPORTS: Record<string, readonly string[]> = {
  'genshi.template': ['TemplateError'],
  'genshi.template.base': ['TemplateError'],
  'genshi.template.eval': ['UndefinedError'],
};

const AUG_OPS = new Set(['+=', '-=', '*=', '/=', '//=', '%=', '**=', '&=', '|=', '^=', '<<=', '>>=']);
const COMPARE_OPS = new Set(['<', '>', '==', '>=', '<=', '!=', '<>']);

export class Parser {
  private buf: Token[] = [];
  private last: Token | null = null;

  constructor(private readonly lexer: Lexer) {}

  static of(src: string, opts: LexOptions = {}): Parser {
    return new Parser(new Lexer(src, opts));
  }

  // ---- token plumbing -------------------------------------------------------------------

  peek(n = 0): Token {
    while (this.buf.length <= n) this.buf.push(this.lexer.next());
    return this.buf[n]!;
  }

  next(): Token {
    const t = this.peek();
    this.buf.shift();
    this.last = t;
    return t;
  }

  /** Where the lexer stopped: after expectEnd(), the offset of what ended the slice. */
  get stopOffset(): number {
    return this.lexer.offset;
  }

  /** Offset just past the last consumed token (for front ends that parse a prefix). */
  get endOffset(): number {
    return this.last ? this.last.end : 0;
  }

  isOp(op: string, n = 0): boolean {
    const t = this.peek(n);
    return t.kind === 'op' && t.value === op;
  }

  isKw(word: string, n = 0): boolean {
    const t = this.peek(n);
    return t.kind === 'name' && t.value === word && !t.dollar;
  }

  acceptOp(op: string): boolean {
    if (this.isOp(op)) {
      this.next();
      return true;
    }
    return false;
  }

  acceptKw(word: string): boolean {
    if (this.isKw(word)) {
      this.next();
      return true;
    }
    return false;
  }

  expectOp(op: string): Token {
    if (!this.isOp(op)) this.fail(`expected "${op}"`);
    return this.next();
  }

  expectKw(word: string): Token {
    if (!this.isKw(word)) this.fail(`expected "${word}"`);
    return this.next();
  }

  fail(message: string, t: Token = this.peek()): never {
    const found = t.kind === 'eof' ? 'end of expression' : t.kind === 'newline' ? 'end of line' : t.kind === 'str' ? 'a string' : `"${t.value}"`;
    throw new SyntaxFault(`invalid syntax: ${message}, found ${found}`, t.line, t.col);
  }

  expectEnd(): void {
    if (this.peek().kind !== 'eof') this.fail('end of expression');
  }

  private loc(t: Token): Loc {
    return { line: t.line, col: t.col };
  }

  private identifier(): Token {
    const t = this.peek();
    if (t.kind !== 'name' || (KEYWORDS.has(t.value) && !t.dollar)) this.fail('a name');
    return this.next();
  }

  // ---- expressions ----------------------------------------------------------------------

  /** test (',' test)* [','] — a bare tuple when there is a comma. */
  testlist(): Expr {
    const first = this.test();
    if (!this.isOp(',')) return first;
    const items = [first];
    while (this.acceptOp(',')) {
      if (this.startsExpr()) items.push(this.test());
      else break;
    }
    return { k: 'tuple', items, line: first.line, col: first.col };
  }

  /** Targets of for and comprehensions: expr (',' expr)* */
  exprlist(): Expr {
    const first = this.orExpr();
    if (!this.isOp(',')) return first;
    const items = [first];
    while (this.acceptOp(',')) {
      if (this.startsExpr() && !this.isKw('in')) items.push(this.orExpr());
      else break;
    }
    return { k: 'tuple', items, line: first.line, col: first.col };
  }

  private startsExpr(): boolean {
    const t = this.peek();
    if (t.kind === 'eof' || t.kind === 'newline' || t.kind === 'indent' || t.kind === 'dedent') return false;
    if (t.kind === 'op') return ['(', '[', '{', '-', '+', '~', '`'].includes(t.value);
    if (t.kind === 'name' && !t.dollar && KEYWORDS.has(t.value)) return ['not', 'lambda', 'None', 'True', 'False'].includes(t.value);
    return true;
  }

  test(): Expr {
    if (this.isKw('lambda')) return this.lambda();
    const body = this.orTest();
    if (this.isKw('if')) {
      this.next();
      const test = this.orTest();
      this.expectKw('else');
      const orelse = this.test();
      return { k: 'ifexp', test, body, orelse, line: body.line, col: body.col };
    }
    return body;
  }

  /** test without a conditional expression (comprehension conditions, lambda bodies inside them). */
  private testNoCond(): Expr {
    if (this.isKw('lambda')) return this.lambda(true);
    return this.orTest();
  }

  private lambda(noCond = false): Expr {
    const t = this.next();
    const params = this.isOp(':') ? [] : this.params(':');
    this.expectOp(':');
    const body = noCond ? this.testNoCond() : this.test();
    return { k: 'lambda', params, body, ...this.loc(t) };
  }

  /** Parameter list up to (not including) the closing token. */
  params(close: string): Param[] {
    const params: Param[] = [];
    while (!this.isOp(close)) {
      let star: '*' | '**' | undefined;
      if (this.acceptOp('**')) star = '**';
      else if (this.acceptOp('*')) star = '*';
      const name = this.identifier().value;
      let def: Expr | undefined;
      if (!star && this.acceptOp('=')) def = this.test();
      params.push({ name, default: def, star });
      if (!this.acceptOp(',')) break;
    }
    return params;
  }

  private orTest(): Expr {
    const first = this.andTest();
    if (!this.isKw('or')) return first;
    const values = [first];
    while (this.acceptKw('or')) values.push(this.andTest());
    return { k: 'bool', op: 'or', values, line: first.line, col: first.col };
  }

  private andTest(): Expr {
    const first = this.notTest();
    if (!this.isKw('and')) return first;
    const values = [first];
    while (this.acceptKw('and')) values.push(this.notTest());
    return { k: 'bool', op: 'and', values, line: first.line, col: first.col };
  }

  private notTest(): Expr {
    if (this.isKw('not')) {
      const t = this.next();
      return { k: 'unary', op: 'not', operand: this.notTest(), ...this.loc(t) };
    }
    return this.comparison();
  }

  private compareOp(): string | null {
    const t = this.peek();
    if (t.kind === 'op' && COMPARE_OPS.has(t.value)) {
      this.next();
      return t.value === '<>' ? '!=' : t.value;
    }
    if (this.isKw('in')) {
      this.next();
      return 'in';
    }
    if (this.isKw('not') && this.isKw('in', 1)) {
      this.next();
      this.next();
      return 'not in';
    }
    if (this.isKw('is')) {
      this.next();
      return this.acceptKw('not') ? 'is not' : 'is';
    }
    return null;
  }

  private comparison(): Expr {
    const left = this.orExpr();
    const ops: string[] = [];
    const rights: Expr[] = [];
    for (let op = this.compareOp(); op; op = this.compareOp()) {
      ops.push(op);
      rights.push(this.orExpr());
    }
    return ops.length ? { k: 'compare', left, ops, rights, line: left.line, col: left.col } : left;
  }

  private static readonly BINARY: readonly (readonly string[])[] = [['|'], ['^'], ['&'], ['<<', '>>'], ['+', '-'], ['*', '/', '//', '%', '@']];

  orExpr(level = 0): Expr {
    if (level === Parser.BINARY.length) return this.factor();
    let left = this.orExpr(level + 1);
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || !Parser.BINARY[level]!.includes(t.value)) return left;
      if (t.value === '@') throw unsupported('the @ operator', t.line, t.col);
      this.next();
      const right = this.orExpr(level + 1);
      left = { k: 'bin', op: t.value, left, right, line: left.line, col: left.col };
    }
  }

  private factor(): Expr {
    const t = this.peek();
    if (t.kind === 'op' && (t.value === '-' || t.value === '+' || t.value === '~')) {
      this.next();
      return { k: 'unary', op: t.value, operand: this.factor(), ...this.loc(t) };
    }
    return this.power();
  }

  private power(): Expr {
    const base = this.atomExpr();
    if (this.isOp('**')) {
      this.next();
      return { k: 'bin', op: '**', left: base, right: this.factor(), line: base.line, col: base.col };
    }
    return base;
  }

  atomExpr(): Expr {
    let e = this.atom();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op') return e;
      if (t.value === '.') {
        this.next();
        const name = this.peek();
        if (name.kind !== 'name') this.fail('an attribute name');
        this.next();
        e = { k: 'attr', obj: e, name: name.value, nm: isNameMapped(e), ...this.loc(name) };
      } else if (t.value === '(') {
        this.next();
        e = { k: 'call', fn: e, args: this.arglist(), ...this.loc(t) };
        this.expectOp(')');
      } else if (t.value === '[') {
        this.next();
        e = { k: 'sub', obj: e, index: this.subscriptList(), ...this.loc(t) };
        this.expectOp(']');
      } else return e;
    }
  }

  arglist(): Arg[] {
    const args: Arg[] = [];
    while (!this.isOp(')')) {
      if (this.acceptOp('**')) args.push({ kind: 'dstar', value: this.test() });
      else if (this.acceptOp('*')) args.push({ kind: 'star', value: this.test() });
      else if (this.peek().kind === 'name' && this.isOp('=', 1)) {
        const name = this.identifier().value;
        this.next();
        args.push({ kind: 'kw', name, value: this.test() });
      } else {
        const value = this.test();
        if (this.isKw('for')) {
          // A generator expression as the only argument: f(x for x in y)
          args.push({ kind: 'pos', value: this.comprehension('gen', value, null, value) });
        } else args.push({ kind: 'pos', value });
      }
      if (!this.acceptOp(',')) break;
    }
    return args;
  }

  subscriptList(): Expr {
    const first = this.subscript();
    if (!this.isOp(',')) return first;
    const items = [first];
    while (this.acceptOp(',')) {
      if (this.isOp(']')) break;
      items.push(this.subscript());
    }
    return { k: 'tuple', items, line: first.line, col: first.col };
  }

  private subscript(): Expr {
    const t = this.peek();
    const lo = this.isOp(':') ? null : this.test();
    if (!this.isOp(':')) return lo!;
    this.next();
    const hi = this.isOp(':') || this.isOp(']') || this.isOp(',') ? null : this.test();
    let step: Expr | null = null;
    if (this.acceptOp(':')) step = this.isOp(']') || this.isOp(',') ? null : this.test();
    return { k: 'slice', lo, hi, step, ...this.loc(t) };
  }

  private comprehension(kind: 'list' | 'set' | 'gen' | 'dict', elt: Expr, value: Expr | null, at: Loc): Expr {
    const gens: Comprehension[] = [];
    while (this.acceptKw('for')) {
      const target = this.exprlist();
      this.expectKw('in');
      const iter = this.orTest();
      const ifs: Expr[] = [];
      while (this.isKw('if')) {
        this.next();
        ifs.push(this.testNoCond());
      }
      gens.push({ target, iter, ifs });
    }
    return { k: 'comp', kind, elt, value, gens, line: at.line, col: at.col };
  }

  private atom(): Expr {
    const t = this.peek();
    const loc = this.loc(t);
    if (t.kind === 'int') {
      this.next();
      return { k: 'const', v: BigInt(t.value), ...loc };
    }
    if (t.kind === 'float') {
      this.next();
      return { k: 'const', v: Number(t.value), ...loc };
    }
    if (t.kind === 'str') {
      let s = '';
      while (this.peek().kind === 'str') s += this.next().value;
      return { k: 'const', v: s, ...loc };
    }
    if (t.kind === 'name') {
      if (!t.dollar) {
        if (t.value === 'None' || t.value === 'True' || t.value === 'False') {
          this.next();
          return { k: 'const', v: t.value === 'None' ? null : t.value === 'True', ...loc };
        }
        if (t.value === 'yield' || t.value === 'await') throw unsupported(t.value, t.line, t.col);
        if (KEYWORDS.has(t.value)) this.fail('an expression');
      }
      this.next();
      return { k: 'name', id: t.value, dollar: t.dollar, ...loc };
    }
    if (t.kind === 'op') {
      if (t.value === '(') {
        this.next();
        if (this.acceptOp(')')) return { k: 'tuple', items: [], ...loc };
        const first = this.test();
        if (this.isKw('for')) {
          const g = this.comprehension('gen', first, null, loc);
          this.expectOp(')');
          return g;
        }
        if (this.acceptOp(')')) return first;
        const items = [first];
        while (this.acceptOp(',')) {
          if (this.isOp(')')) break;
          items.push(this.test());
        }
        this.expectOp(')');
        return { k: 'tuple', items, ...loc };
      }
      if (t.value === '[') {
        this.next();
        if (this.acceptOp(']')) return { k: 'list', items: [], ...loc };
        const first = this.test();
        if (this.isKw('for')) {
          const c = this.comprehension('list', first, null, loc);
          this.expectOp(']');
          return c;
        }
        const items = [first];
        while (this.acceptOp(',')) {
          if (this.isOp(']')) break;
          items.push(this.test());
        }
        this.expectOp(']');
        return { k: 'list', items, ...loc };
      }
      if (t.value === '{') {
        this.next();
        if (this.acceptOp('}')) return { k: 'dict', keys: [], values: [], ...loc };
        const first = this.test();
        if (this.acceptOp(':')) {
          const v = this.test();
          if (this.isKw('for')) {
            const c = this.comprehension('dict', first, v, loc);
            this.expectOp('}');
            return c;
          }
          const keys = [first];
          const values = [v];
          while (this.acceptOp(',')) {
            if (this.isOp('}')) break;
            keys.push(this.test());
            this.expectOp(':');
            values.push(this.test());
          }
          this.expectOp('}');
          return { k: 'dict', keys, values, ...loc };
        }
        if (this.isKw('for')) {
          const c = this.comprehension('set', first, null, loc);
          this.expectOp('}');
          return c;
        }
        const items = [first];
        while (this.acceptOp(',')) {
          if (this.isOp('}')) break;
          items.push(this.test());
        }
        this.expectOp('}');
        return { k: 'set', items, ...loc };
      }
      if (t.value === '`') throw unsupported('backquote repr', t.line, t.col);
    }
    this.fail('an expression');
  }

  // ---- statements -----------------------------------------------------------------------

  /** Statements up to the end of input. */
  suite(): Stmt[] {
    const out: Stmt[] = [];
    for (;;) {
      const t = this.peek();
      if (t.kind === 'eof') return out;
      if (t.kind === 'newline') {
        this.next();
        continue;
      }
      if (t.kind === 'indent') this.fail('a statement (unexpected indent)');
      out.push(...this.statement());
    }
  }

  private block(): Stmt[] {
    this.expectOp(':');
    if (this.peek().kind !== 'newline') return this.simpleStatements();
    this.next();
    while (this.peek().kind === 'newline') this.next();
    if (this.peek().kind !== 'indent') this.fail('an indented block');
    this.next();
    const out: Stmt[] = [];
    while (this.peek().kind !== 'dedent' && this.peek().kind !== 'eof') {
      if (this.peek().kind === 'newline') {
        this.next();
        continue;
      }
      out.push(...this.statement());
    }
    if (this.peek().kind === 'dedent') this.next();
    return out;
  }

  private statement(): Stmt[] {
    const t = this.peek();
    if (t.kind === 'op' && t.value === '@') throw unsupported('a decorator', t.line, t.col);
    if (t.kind === 'name' && !t.dollar) {
      const loc = this.loc(t);
      switch (t.value) {
        case 'if': {
          this.next();
          const tests = [{ test: this.test(), body: this.block() }];
          let orelse: Stmt[] | null = null;
          for (;;) {
            if (this.isKw('elif')) {
              this.next();
              tests.push({ test: this.test(), body: this.block() });
            } else if (this.isKw('else')) {
              this.next();
              orelse = this.block();
              break;
            } else break;
          }
          return [{ k: 'if', tests, orelse, ...loc }];
        }
        case 'for': {
          this.next();
          const target = this.exprlist();
          this.expectKw('in');
          const iter = this.testlist();
          const body = this.block();
          const orelse = this.acceptKw('else') ? this.block() : null;
          return [{ k: 'for', target, iter, body, orelse, ...loc }];
        }
        case 'def': {
          this.next();
          const name = this.identifier().value;
          this.expectOp('(');
          const params = this.params(')');
          this.expectOp(')');
          return [{ k: 'def', name, params, body: this.block(), ...loc }];
        }
        default:
          if (t.value in UNSUPPORTED_STATEMENTS) throw unsupported(UNSUPPORTED_STATEMENTS[t.value]!, t.line, t.col);
      }
    }
    return this.simpleStatements();
  }

  /** small_stmt (';' small_stmt)* NEWLINE */
  private simpleStatements(): Stmt[] {
    const out = [this.smallStatement()];
    while (this.acceptOp(';')) {
      const k = this.peek().kind;
      if (k === 'newline' || k === 'eof') break;
      out.push(this.smallStatement());
    }
    const end = this.peek();
    if (end.kind === 'newline') this.next();
    else if (end.kind !== 'eof' && end.kind !== 'dedent') this.fail('end of statement');
    return out;
  }

  smallStatement(): Stmt {
    const t = this.peek();
    const loc = this.loc(t);
    if (t.kind === 'name' && !t.dollar) {
      switch (t.value) {
        case 'pass':
        case 'break':
        case 'continue':
          this.next();
          return { k: t.value, ...loc };
        case 'return': {
          this.next();
          return { k: 'return', value: this.startsExpr() ? this.testlist() : null, ...loc };
        }
        case 'raise': {
          this.next();
          if (!this.startsExpr()) return { k: 'raise', exc: null, msg: null, ...loc };
          const exc = this.test();
          let msg: Expr | null = null;
          if (this.acceptOp(',')) msg = this.test();
          if (this.isKw('from')) throw unsupported('raise … from', t.line, t.col);
          return { k: 'raise', exc, msg, ...loc };
        }
        case 'del': {
          this.next();
          const target = this.exprlist();
          return { k: 'del', targets: target.k === 'tuple' ? target.items : [target], ...loc };
        }
        case 'assert': {
          this.next();
          const test = this.test();
          return { k: 'assert', test, msg: this.acceptOp(',') ? this.test() : null, ...loc };
        }
        case 'global': {
          this.next();
          const names = [this.identifier().value];
          while (this.acceptOp(',')) names.push(this.identifier().value);
          return { k: 'global', names, ...loc };
        }
        case 'import':
        case 'from':
          return this.importStatement();
        default:
          if (t.value in UNSUPPORTED_STATEMENTS) throw unsupported(UNSUPPORTED_STATEMENTS[t.value]!, t.line, t.col);
      }
    }
    const first = this.testlist();
    const n = this.peek();
    if (n.kind === 'op' && AUG_OPS.has(n.value)) {
      this.next();
      checkTarget(first, false);
      return { k: 'augassign', target: first, op: n.value.slice(0, -1), value: this.testlist(), ...loc };
    }
    if (this.isOp('=')) {
      const targets = [first];
      let value: Expr = first;
      while (this.acceptOp('=')) {
        value = this.testlist();
        targets.push(value);
      }
      targets.pop();
      for (const target of targets) checkTarget(target, true);
      return { k: 'assign', targets, value, ...loc };
    }
    return { k: 'expr', value: first, ...loc };
  }

  private dottedName(): string {
    let name = this.identifier().value;
    while (this.acceptOp('.')) name += '.' + this.identifier().value;
    return name;
  }

  private importStatement(): Stmt {
    const t = this.next();
    const loc = this.loc(t);
    if (t.value === 'import') {
      const module = this.dottedName();
      throw serverImport(module, t.line, t.col) ?? unsupported(`import ${module} (templates may only import TemplateError from genshi.template)`, t.line, t.col);
    }
    const module = this.dottedName();
    const server = serverImport(module, t.line, t.col);
    if (server) throw server;
    this.expectKw('import');
    const allowed = ALLOWED_IMPORTS[module];
    const paren = this.acceptOp('(');
    const names: { name: string; as: string }[] = [];
    do {
      if (paren && this.isOp(')')) break;
      const nt = this.peek();
      const name = nt.kind === 'op' && nt.value === '*' ? (this.next(), '*') : this.identifier().value;
      if (!allowed || !allowed.includes(name)) {
        throw unsupported(`from ${module} import ${name} (templates may only import TemplateError from genshi.template)`, nt.line, nt.col);
      }
      const as = this.acceptKw('as') ? this.identifier().value : name;
      names.push({ name, as });
    } while (this.acceptOp(','));
    if (paren) this.expectOp(')');
    return { k: 'import', names, ...loc };
  }
}

function isNameMapped(e: Expr): boolean {
  return (e.k === 'name' && !!e.dollar) || (e.k === 'attr' && !!e.nm);
}

/** Only names, attributes, subscripts and tuples/lists of them can be assigned to. */
function checkTarget(e: Expr, allowTuple: boolean): void {
  if (e.k === 'name' || e.k === 'attr' || e.k === 'sub') return;
  if (allowTuple && (e.k === 'tuple' || e.k === 'list')) {
    for (const item of e.items) checkTarget(item, true);
    return;
  }
  throw new SyntaxFault(`invalid syntax: cannot assign to ${describe(e)}`, e.line, e.col);
}

function describe(e: Expr): string {
  switch (e.k) {
    case 'call':
      return 'a function call';
    case 'const':
      return 'a literal';
    default:
      return 'an expression';
  }
}

/** Parse a whole expression slice (Genshi `${…}` content, directive arguments). */
export function parseExpression(src: string, opts: LexOptions = {}): Expr {
  const p = Parser.of(src, opts);
  const e = p.testlist();
  p.expectEnd();
  return e;
}

/** Parse `target in iterable` (for directives). */
export function parseForHead(src: string, opts: LexOptions = {}): { target: Expr; iter: Expr } {
  const p = Parser.of(src, opts);
  const target = p.exprlist();
  checkTarget(target, true);
  p.expectKw('in');
  const iter = p.testlist();
  p.expectEnd();
  return { target, iter };
}

/** Parse `name(params)` (Genshi def directive); parentheses are optional. */
export function parseSignature(src: string, opts: LexOptions = {}): { name: string; params: Param[] } {
  const p = Parser.of(src, opts);
  const t = p.next();
  if (t.kind !== 'name' || KEYWORDS.has(t.value)) p.fail('a function name', t);
  let params: Param[] = [];
  if (p.acceptOp('(')) {
    params = p.params(')');
    p.expectOp(')');
  }
  p.expectEnd();
  return { name: t.value, params };
}

/** Parse statements (a Genshi python block, with assignments). */
export function parseStatements(src: string, opts: LexOptions = {}): Stmt[] {
  return Parser.of(src, { ...opts, statements: true }).suite();
}
