/**
 * Renders a parsed Genshi or Cheetah template. The two differ in how values print (Genshi
 * flattens iterables, Cheetah prints str()), and in scoping (a Genshi loop body is its own
 * frame; Cheetah loop variables are locals of the template).
 */
import { parseCheetah } from './cheetah.js';
import { PyError, limitError } from './python/errors.js';
import { Env, Interp } from './python/interp.js';
import { MAX_SEQUENCE, PyDict, PyException, PyFunc, PySet, PyTuple, asInt, eq, iterate, str, truthy, type PyValue } from './python/values.js';
import type { Dialect, Handler, Method, ParsedTemplate, TNode } from './tree.js';

/** How an included file is read: parsed in a template dialect, or taken as raw text. */
export type IncludeMode = Dialect | 'raw';

/** Finds, reads and parses an include (relative to the including file, inside the repo). */
export type IncludeResolver = (path: string, from: string, line: number, col: number, mode: IncludeMode) => ParsedTemplate;

const INCLUDE_DEPTH = 20;

/** One render's output may not pass this many characters (a runaway loop fails fast instead of eating memory). */
export const OUTPUT_LIMIT = 4 * MAX_SEQUENCE;

/** Cheetah's #stop, and #return inside a #def. */
class StopSignal {}
class ReturnSignal {
  constructor(readonly value: PyValue) {}
}

/** Python's exception classes above the ones templates raise, for #except. */
const PARENT: Readonly<Record<string, string>> = {
  KeyError: 'LookupError', IndexError: 'LookupError', NotFound: 'LookupError', ZeroDivisionError: 'ArithmeticError', OverflowError: 'ArithmeticError',
};

/** Does an #except naming `names` (null: a bare #except) catch e? */
function catches(e: PyError, names: readonly string[] | null): boolean {
  if (e.limit || e.outside) return false;
  if (names === null) return true;
  for (let t: string | undefined = e.notFound ? 'NotFound' : e.type; t; t = PARENT[t] ?? (t === 'Exception' ? undefined : 'Exception')) {
    if (names.includes(t)) return true;
  }
  return false;
}

/** Genshi prints None as nothing, strings as they are, and an iterable as its items run together. */
function genshiText(v: PyValue): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(str).join('');
  if (v instanceof PyTuple) return v.items.map(str).join('');
  if (v instanceof PySet) return v.items().map(str).join('');
  if (v instanceof PyDict) return v.keys().map(str).join('');
  return str(v);
}

/** Cheetah prints str(value), with None as nothing. */
function cheetahText(v: PyValue): string {
  return v === null ? '' : str(v);
}

interface Choice {
  matched: boolean;
  readonly hasValue: boolean;
  readonly value: PyValue;
}

export class Renderer {
  private readonly choices: Choice[] = [];
  private includeDepth = 0;
  private size = 0;
  /** Templates given as text to Cheetah's #include source=…, parsed once. */
  private readonly sources = new Map<string, ParsedTemplate>();

  constructor(
    private readonly interp: Interp,
    private readonly dialect: Dialect,
    private readonly include: IncludeResolver | null,
  ) {}

  render(tpl: ParsedTemplate, env: Env): string {
    const out: string[] = [];
    this.interp.reset();
    this.size = 0;
    this.renderTemplate(tpl, env, out);
    return out.join('');
  }

  /** A whole template (or an included one): its methods first, then its text up to the end or #stop. */
  private renderTemplate(tpl: ParsedTemplate, env: Env, out: string[]): void {
    this.within(tpl.file, () => {
      for (const m of tpl.methods ?? []) env.root().set(m.name, this.method(m, env.root(), tpl.file));
      try {
        this.nodes(tpl.nodes, env, out, tpl.file);
      } catch (sig) {
        if (!(sig instanceof StopSignal)) throw sig;
      }
    });
  }

  /** A Cheetah #def or #block: a method that sees the search list and globals, not the caller's locals. */
  private method(m: Method, scope: Env, file: string): PyFunc {
    const defaults = this.interp.defaults(m.params, scope);
    return new PyFunc(
      m.name,
      (args, kwargs) => {
        const local = scope.child();
        this.interp.bind(m.name, m.params, defaults, args, kwargs, local);
        const o: string[] = [];
        try {
          this.within(file, () => this.nodes(m.body, local, o, file));
        } catch (sig) {
          if (sig instanceof ReturnSignal) return sig.value;
          if (!(sig instanceof StopSignal)) throw sig;
        }
        return o.join('');
      },
      undefined,
      'function',
    );
  }

  private emit(out: string[], s: string): void {
    this.size += s.length;
    if (this.size > OUTPUT_LIMIT) throw limitError('MemoryError', `the template's output passed ${OUTPUT_LIMIT} characters; it was stopped`);
    out.push(s);
  }

  /** Run a loop body; false when it ran #break. */
  private loopBody(body: readonly TNode[], env: Env, out: string[], file: string): boolean {
    this.interp.tick();
    try {
      this.nodes(body, env, out, file);
    } catch (sig) {
      if (Interp.isBreak(sig)) return false;
      if (Interp.isContinue(sig)) return true;
      throw sig;
    }
    return true;
  }

  /** #try: the body's output so far stays when an #except takes over, as in Cheetah. */
  private tryNode(n: Extract<TNode, { t: 'try' }>, env: Env, out: string[], file: string): void {
    try {
      try {
        this.nodes(n.body, env, out, file);
      } catch (e) {
        if (!(e instanceof PyError)) throw e;
        const handler = n.handlers.find((h) => catches(e, this.exceptNames(h, env)));
        if (!handler) throw e;
        if (handler.name) env.set(handler.name, new PyException(e.notFound ? 'NotFound' : e.type, e.message));
        this.nodes(handler.body, env, out, file);
        return;
      }
      if (n.orelse) this.nodes(n.orelse, env, out, file);
    } finally {
      if (n.final) this.nodes(n.final, env, out, file);
    }
  }

  private exceptNames(h: Handler, env: Env): string[] | null {
    if (!h.types) return null;
    const v = this.interp.eval(h.types, env);
    const list = v instanceof PyTuple ? v.items : [v];
    return list.map((t) => {
      if (!(t instanceof PyFunc) || t.kind !== 'exception') throw at(new PyError('TypeError', '#except needs exception classes (ValueError, KeyError, …)'), h);
      return t.name;
    });
  }

  /** Cheetah's #include: a file beside the template, or template text (source=…); raw prints it unparsed. */
  private cheetahInclude(n: Extract<TNode, { t: 'cinclude' }>, env: Env, out: string[], file: string): void {
    const v = str(this.interp.eval(n.e, env));
    if (n.source && n.raw) return this.emit(out, v);
    let tpl: ParsedTemplate;
    if (n.source) {
      tpl = this.sources.get(v) ?? parseCheetah(v, file);
      this.sources.set(v, tpl);
    } else {
      if (!this.include) throw at(new PyError('TemplateError', '#include is not available here'), n);
      tpl = this.include(v, file, n.line, n.col, n.raw ? 'raw' : 'cheetah');
    }
    this.nested(n, () => this.renderTemplate(tpl, env.root().child(), out));
  }

  private nested(n: { line: number; col: number }, f: () => void): void {
    if (this.includeDepth >= INCLUDE_DEPTH) throw at(new PyError('TemplateError', `includes nest more than ${INCLUDE_DEPTH} deep (does a template include itself?)`), n);
    this.includeDepth++;
    try {
      f();
    } finally {
      this.includeDepth--;
    }
  }

  /** Attribute errors to the file whose nodes are being rendered. */
  private within(file: string, f: () => void): void {
    try {
      f();
    } catch (e) {
      if (e instanceof PyError && e.file === undefined) e.file = file;
      throw e;
    }
  }

  private text(v: PyValue): string {
    return this.dialect === 'genshi' ? genshiText(v) : cheetahText(v);
  }

  /** The innermost {% choose %} being rendered (a {% def %} holding a {% when %} may be called outside one). */
  private choice(n: Extract<TNode, { t: 'when' | 'otherwise' }>): Choice {
    const choice = this.choices[this.choices.length - 1];
    if (!choice) throw at(new PyError('TemplateRuntimeError', `"${n.t}" directives can only be used inside a "choose" directive`), n);
    return choice;
  }

  /** The items a for directive loops over; Genshi loops over None as over nothing. */
  private iterateFor(n: Extract<TNode, { t: 'for' }>, env: Env): PyValue[] {
    const v = this.interp.eval(n.iter, env);
    if (v === null && this.dialect === 'genshi') return [];
    try {
      return iterate(v);
    } catch (e) {
      throw e instanceof PyError ? at(e, n.iter) : e;
    }
  }

  private nodes(nodes: readonly TNode[], env: Env, out: string[], file: string): void {
    for (const n of nodes) this.node(n, env, out, file);
  }

  private node(n: TNode, env: Env, out: string[], file: string): void {
    const interp = this.interp;
    switch (n.t) {
      case 'text':
        this.emit(out, n.s);
        return;
      case 'out': {
        let v: PyValue;
        try {
          v = interp.eval(n.e, env);
        } catch (e) {
          if (n.silent && e instanceof PyError && (e.type === 'NameError' || e.type === 'UndefinedError')) return;
          throw e;
        }
        this.emit(out, this.text(v));
        return;
      }
      case 'if':
        for (const b of n.branches) {
          if (truthy(interp.eval(b.test, env))) {
            this.nodes(b.body, env, out, file);
            return;
          }
        }
        if (n.orelse) this.nodes(n.orelse, env, out, file);
        return;
      case 'for': {
        // Genshi pushes one frame for the loop, reused by every iteration (what the body
        // assigns carries over to the next one, not past the loop); Cheetah loop variables
        // are template locals.
        const scope = this.dialect === 'genshi' ? env.child() : env;
        for (const item of this.iterateFor(n, env)) {
          interp.assign(n.target, item, scope);
          if (!this.loopBody(n.body, scope, out, file)) break;
        }
        return;
      }
      case 'while':
        while (truthy(interp.eval(n.test, env)) && this.loopBody(n.body, env, out, file));
        return;
      case 'repeat': {
        const count = asInt(interp.eval(n.count, env), '#repeat needs an integer');
        for (let i = 0n; i < count && this.loopBody(n.body, env, out, file); i++);
        return;
      }
      case 'try':
        this.tryNode(n, env, out, file);
        return;
      case 'stop':
        throw new StopSignal();
      case 'return':
        throw new ReturnSignal(n.e ? interp.eval(n.e, env) : null);
      case 'cinclude':
        this.cheetahInclude(n, env, out, file);
        return;
      case 'choose': {
        const choice: Choice = n.test ? { matched: false, hasValue: true, value: interp.eval(n.test, env) } : { matched: false, hasValue: false, value: null };
        this.choices.push(choice);
        try {
          this.nodes(n.body, env, out, file);
        } finally {
          this.choices.pop();
        }
        return;
      }
      case 'when': {
        const choice = this.choice(n);
        if (choice.matched) return;
        if (!n.test && !choice.hasValue) throw at(new PyError('TemplateSyntaxError', 'either "choose" or "when" must have a test expression'), n);
        const matched = choice.hasValue ? (n.test ? eq(choice.value, interp.eval(n.test, env)) : truthy(choice.value)) : truthy(interp.eval(n.test!, env));
        choice.matched = matched;
        if (matched) this.nodes(n.body, env, out, file);
        return;
      }
      case 'otherwise': {
        const choice = this.choice(n);
        if (choice.matched) return;
        choice.matched = true;
        this.nodes(n.body, env, out, file);
        return;
      }
      case 'with': {
        const scope = env.child();
        interp.exec(n.stmts, scope);
        this.nodes(n.body, scope, out, file);
        return;
      }
      case 'def': {
        const defaults = interp.defaults(n.params, env);
        const fn = new PyFunc(
          n.name,
          (args, kwargs, ctx) => {
            // Genshi defs see the caller's context (they are pushed onto it when called).
            const local = (ctx.env as Env).child();
            interp.bind(n.name, n.params, defaults, args, kwargs, local);
            const o: string[] = [];
            this.within(file, () => this.nodes(n.body, local, o, file));
            return o.join('');
          },
          undefined,
          'function',
        );
        // Genshi stores a def in the template's bottom frame: it outlives the loop or with that defines it.
        env.root().set(n.name, fn);
        return;
      }
      case 'include': {
        const pathOut: string[] = [];
        this.nodes(n.path, env, pathOut, file);
        if (!this.include) throw at(new PyError('TemplateSyntaxError', 'include is not available here'), n);
        const tpl = this.include(pathOut.join(''), file, n.line, n.col, 'genshi');
        this.nested(n, () => this.within(tpl.file, () => this.nodes(tpl.nodes, env, out, tpl.file)));
        return;
      }
      case 'exec':
        try {
          // Cheetah's #set global declares its names for this one statement only.
          interp.exec(n.stmts, this.dialect === 'cheetah' && n.stmts[0]?.k === 'global' ? env.child() : env);
        } catch (sig) {
          if (sig instanceof PyError) throw sig;
          if (Interp.isBreak(sig) || Interp.isContinue(sig)) throw at(new PyError('SyntaxError', "'break' or 'continue' outside a loop of the same code block"), n);
          throw at(new PyError('SyntaxError', "'return' outside a function"), n);
        }
        return;
      case 'break':
        throw Interp.breakSignal();
      case 'continue':
        throw Interp.continueSignal();
    }
  }
}

function at(e: PyError, pos: { line: number; col: number }): PyError {
  if (e.line === undefined) {
    e.line = pos.line;
    e.col = pos.col;
  }
  return e;
}
