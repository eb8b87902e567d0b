/**
 * Renders a parsed Genshi or Cheetah template. The two differ in how values print (Genshi
 * flattens iterables, Cheetah prints str()), and in scoping (a Genshi loop body is its own
 * frame; Cheetah loop variables are locals of the template).
 */
import { PyError } from './python/errors.js';
import { Env, Interp } from './python/interp.js';
import { PyDict, PyFunc, PySet, PyTuple, eq, iterate, str, truthy, type PyValue } from './python/values.js';
import type { Dialect, ParsedTemplate, TNode } from './tree.js';

/** Finds, reads and parses a Genshi include (relative to the including file, inside the repo). */
export type IncludeResolver = (path: string, from: string, line: number, col: number) => ParsedTemplate;

const INCLUDE_DEPTH = 20;

/** Genshi prints None as nothing, strings as they are, and an iterable as its items run together. */
export function genshiText(v: PyValue): string {
  if (v === null) return '';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(str).join('');
  if (v instanceof PyTuple) return v.items.map(str).join('');
  if (v instanceof PySet) return v.items().map(str).join('');
  if (v instanceof PyDict) return v.keys().map(str).join('');
  return str(v);
}

/** Cheetah prints str(value), with None as nothing. */
export function cheetahText(v: PyValue): string {
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

  constructor(
    private readonly interp: Interp,
    private readonly dialect: Dialect,
    private readonly include: IncludeResolver | null,
  ) {}

  render(tpl: ParsedTemplate, env: Env): string {
    const out: string[] = [];
    this.interp.reset();
    this.within(tpl.file, () => this.nodes(tpl.nodes, env, out, tpl.file));
    return out.join('');
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
        out.push(n.s);
        return;
      case 'out': {
        let v: PyValue;
        try {
          v = interp.eval(n.e, env);
        } catch (e) {
          if (n.silent && e instanceof PyError && (e.type === 'NameError' || e.type === 'UndefinedError')) return;
          throw e;
        }
        out.push(this.text(v));
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
          interp.tick();
          interp.assign(n.target, item, scope);
          try {
            this.nodes(n.body, scope, out, file);
          } catch (sig) {
            if (Interp.isBreak(sig)) break;
            if (Interp.isContinue(sig)) continue;
            throw sig;
          }
        }
        return;
      }
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
        if (this.includeDepth >= INCLUDE_DEPTH) throw at(new PyError('TemplateError', `includes nest more than ${INCLUDE_DEPTH} deep (does a template include itself?)`), n);
        const tpl = this.include(pathOut.join(''), file, n.line, n.col);
        this.includeDepth++;
        try {
          this.within(tpl.file, () => this.nodes(tpl.nodes, env, out, tpl.file));
        } finally {
          this.includeDepth--;
        }
        return;
      }
      case 'exec':
        try {
          interp.exec(n.stmts, env);
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
