/**
 * The evaluator for bindery's Python subset. It walks the syntax tree over bindery's own
 * values (values.ts): no JS object, prototype or host function is reachable from a template,
 * and a step budget stops runaway loops.
 */
import type { Arg, Expr, Param, Stmt } from './ast.js';
import { UNSUPPORTED_BUILTINS } from './builtins.js';
import { PyError, TemplateRaise, limitError, outsideSubset } from './errors.js';
import { SliceValue, call, delItem, extendList, getAttribute, getItem, setItem } from './methods.js';
import { binary, compareOp, unary } from './ops.js';
import {
  PyDict, PyException, PyFunc, PyObject, PySet, PyTuple, iterate, repr, sequence, str, truthy, typeName, type CallContext, type Kwargs, type PyValue,
} from './values.js';

/** How many loop iterations and calls one render may take before it is stopped. */
const STEP_LIMIT = 1_000_000;
const DEPTH_LIMIT = 100;

/** One scope: a Genshi context frame, a Cheetah template's locals, a function call. */
export class Env {
  readonly vars = new Map<string, PyValue>();
  private globalNames?: Set<string>;

  constructor(readonly parent: Env | null) {}

  lookup(name: string): PyValue | undefined {
    for (let e: Env | null = this; e; e = e.parent) {
      const v = e.vars.get(name);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  set(name: string, v: PyValue): void {
    (this.globalNames?.has(name) ? this.root() : this).vars.set(name, v);
  }

  /** The outermost scope: the template's own variables. */
  root(): Env {
    let root: Env = this;
    while (root.parent) root = root.parent;
    return root;
  }

  declareGlobal(name: string): void {
    (this.globalNames ??= new Set()).add(name);
  }

  child(): Env {
    return new Env(this);
  }
}

class BreakSignal {}
class ContinueSignal {}
class ReturnSignal {
  constructor(readonly value: PyValue) {}
}

export interface InterpOptions {
  /** Genshi's lookup rules: `a.b` falls back to `a['b']` and `a['b']` to `a.b`. */
  readonly genshi: boolean;
  readonly builtins: ReadonlyMap<string, PyValue>;
}

/**
 * Attribute names Python's own str, list, dict, set, tuple and number types have: a missing one
 * is a method bindery lacks (outside the subset, never caught by #except); any other name is a
 * plain lookup failure, as in Python.
 */
const PYTHON_ATTRIBUTES = new Set(
  ('capitalize casefold center count decode encode endswith expandtabs find format format_map index isalnum isalpha isascii ' +
    'isdecimal isdigit isidentifier islower isnumeric isprintable isspace istitle isupper join ljust lower lstrip maketrans ' +
    'partition removeprefix removesuffix replace rfind rindex rjust rpartition rsplit rstrip split splitlines startswith strip ' +
    'swapcase title translate upper zfill append clear copy extend insert pop remove reverse sort fromkeys get has_key items ' +
    'iteritems iterkeys itervalues keys popitem setdefault update values viewitems viewkeys viewvalues add difference ' +
    'difference_update discard intersection intersection_update isdisjoint issubset issuperset symmetric_difference ' +
    'symmetric_difference_update union conjugate real imag bit_length numerator denominator as_integer_ratio fromhex hex is_integer').split(' '),
);

/** Cheetah autocalls what a `$placeholder` chain finds, unless the chain is called explicitly. */
function autocallable(v: PyValue): v is PyFunc {
  return v instanceof PyFunc && (v.kind === 'builtin' || v.kind === 'function' || v.kind === 'method');
}

export class Interp {
  private steps = 0;
  private depth = 0;

  constructor(private readonly opts: InterpOptions) {}

  /** Start a new render: reset the budget. */
  reset(): void {
    this.steps = 0;
    this.depth = 0;
  }

  tick(): void {
    if (++this.steps > STEP_LIMIT) throw limitError('RuntimeError', `the template took more than ${STEP_LIMIT} loop iterations and calls; it was stopped`);
  }

  lookupName(name: string, env: Env): PyValue {
    const local = env.lookup(name);
    const v = local !== undefined ? local : this.opts.builtins.get(name);
    if (v === undefined) {
      if (UNSUPPORTED_BUILTINS.has(name)) throw outsideSubset('NameError', `the Python builtin ${name}()`);
      throw new PyError('NameError', `undefined variable "${name}"`);
    }
    return v;
  }

  /** A `$name`: as lookupName, failing as Cheetah's name mapper does (NotFound, a LookupError). */
  private placeholderName(name: string, env: Env): PyValue {
    try {
      return this.lookupName(name, env);
    } catch (err) {
      if (err instanceof PyError) err.notFound = true;
      throw err;
    }
  }

  eval(e: Expr, env: Env, noAutocall = false): PyValue {
    try {
      return this.evalInner(e, env, noAutocall);
    } catch (err) {
      if (err instanceof PyError && err.line === undefined) {
        err.line = e.line;
        err.col = e.col;
      } else if (err instanceof RangeError) {
        // The JS stack ran out, or a string or list grew past what JS allows.
        const pe = /call stack/.test(err.message) ? limitError('RecursionError', 'the template nests too deeply') : limitError('MemoryError', 'result too large');
        pe.line = e.line;
        pe.col = e.col;
        throw pe;
      }
      throw err;
    }
  }

  private attribute(obj: PyValue, name: string, nameMapped: boolean): PyValue {
    if (nameMapped && obj instanceof PyDict && obj.has(name)) return obj.get(name)!;
    const v = getAttribute(obj, name);
    if (v !== undefined) return v;
    if ((this.opts.genshi || nameMapped) && obj instanceof PyDict && obj.has(name)) return obj.get(name)!;
    const type = nameMapped || this.opts.genshi ? 'UndefinedError' : 'AttributeError';
    const unavailable = obj instanceof PyObject ? obj.unavailable?.get(name) : undefined;
    if (unavailable) throw new PyError(type, unavailable);
    const what = obj instanceof PyDict ? 'key or attribute' : 'attribute';
    const e = new PyError(type, `${typeName(obj)} value has no ${what} "${name}"`);
    e.notFound = nameMapped;
    // A str, list, dict, … method Python has but bindery lacks reads like a typo: point at the list.
    if (obj !== null && !(obj instanceof PyObject || obj instanceof PyFunc || obj instanceof PyException) && (PYTHON_ATTRIBUTES.has(name) || name.startsWith('__'))) {
      e.message += ` (bindery evaluates the ${typeName(obj)} methods listed in docs/templates.md)`;
      e.outside = true;
    }
    throw e;
  }

  private evalInner(e: Expr, env: Env, noAutocall: boolean): PyValue {
    switch (e.k) {
      case 'const':
        return e.v;
      case 'name': {
        const v = e.dollar ? this.placeholderName(e.id, env) : this.lookupName(e.id, env);
        return e.dollar && !noAutocall && autocallable(v) ? this.invoke(v, [], new Map(), env) : v;
      }
      case 'attr': {
        const obj = this.eval(e.obj, env);
        const v = this.attribute(obj, e.name, !!e.nm);
        return e.nm && !noAutocall && autocallable(v) ? this.invoke(v, [], new Map(), env) : v;
      }
      case 'sub': {
        const obj = this.eval(e.obj, env);
        const key = e.index.k === 'slice' ? this.slice(e.index, env) : this.eval(e.index, env);
        if (!this.opts.genshi || key instanceof SliceValue) return getItem(obj, key);
        try {
          return getItem(obj, key);
        } catch (err) {
          // Genshi: obj['x'] falls back to obj.x
          if (err instanceof PyError && typeof key === 'string') {
            const v = getAttribute(obj, key);
            if (v !== undefined) return v;
            throw new PyError('UndefinedError', `${typeName(obj)} value has no key or attribute ${repr(key)}`);
          }
          throw err;
        }
      }
      case 'slice':
        throw new PyError('SyntaxError', 'a slice is only allowed inside [ ]');
      case 'call': {
        const fn = this.eval(e.fn, env, true);
        const { args, kwargs } = this.arguments(e.args, env);
        return this.invoke(fn, args, kwargs, env);
      }
      case 'unary': {
        const v = this.eval(e.operand, env);
        return e.op === 'not' ? !truthy(v) : unary(e.op, v);
      }
      case 'bin':
        return binary(e.op, this.eval(e.left, env), this.eval(e.right, env));
      case 'bool': {
        let v: PyValue = null;
        for (const x of e.values) {
          v = this.eval(x, env);
          if (e.op === 'and' ? !truthy(v) : truthy(v)) return v;
        }
        return v;
      }
      case 'compare': {
        let left = this.eval(e.left, env);
        for (let i = 0; i < e.ops.length; i++) {
          const right = this.eval(e.rights[i]!, env);
          if (!compareOp(e.ops[i]!, left, right)) return false;
          left = right;
        }
        return true;
      }
      case 'ifexp':
        return truthy(this.eval(e.test, env)) ? this.eval(e.body, env) : this.eval(e.orelse, env);
      case 'list':
        return e.items.map((i) => this.eval(i, env));
      case 'tuple':
        return new PyTuple(e.items.map((i) => this.eval(i, env)));
      case 'set':
        return new PySet(e.items.map((i) => this.eval(i, env)));
      case 'dict': {
        const d = new PyDict();
        e.keys.forEach((k, i) => d.set(this.eval(k, env), this.eval(e.values[i]!, env)));
        return d;
      }
      case 'comp':
        return this.comprehension(e, env);
      case 'lambda': {
        const defaults = this.defaults(e.params, env);
        const body = e.body;
        return new PyFunc(
          '<lambda>',
          (args, kwargs) => {
            const local = env.child();
            this.bind('<lambda>', e.params, defaults, args, kwargs, local);
            return this.eval(body, local);
          },
          undefined,
          'function',
        );
      }
    }
  }

  private slice(e: Extract<Expr, { k: 'slice' }>, env: Env): SliceValue {
    const v = (x: Expr | null) => (x ? this.eval(x, env) : null);
    return new SliceValue(v(e.lo), v(e.hi), v(e.step));
  }

  private arguments(list: readonly Arg[], env: Env): { args: PyValue[]; kwargs: Map<string, PyValue> } {
    const args: PyValue[] = [];
    const kwargs = new Map<string, PyValue>();
    for (const a of list) {
      const v = this.eval(a.value, env);
      if (a.kind === 'pos') args.push(v);
      else if (a.kind === 'star') args.push(...iterate(v));
      else if (a.kind === 'kw') kwargs.set(a.name!, v);
      else {
        if (!(v instanceof PyDict)) throw new PyError('TypeError', `argument after ** must be a mapping, not ${typeName(v)}`);
        for (const [k, x] of v.entries()) kwargs.set(str(k), x);
      }
    }
    return { args, kwargs };
  }

  invoke(fn: PyValue, args: PyValue[], kwargs: Kwargs, env: Env): PyValue {
    this.tick();
    if (++this.depth > DEPTH_LIMIT) {
      this.depth = 0;
      throw limitError('RecursionError', 'maximum recursion depth exceeded');
    }
    try {
      const ctx: CallContext = { env };
      return call(fn, args, kwargs, ctx);
    } finally {
      this.depth = Math.max(0, this.depth - 1);
    }
  }

  private comprehension(e: Extract<Expr, { k: 'comp' }>, env: Env): PyValue {
    const local = env.child();
    const out: PyValue[] = [];
    const dict = e.kind === 'dict' ? new PyDict() : null;
    const loop = (i: number): void => {
      if (i === e.gens.length) {
        if (dict) dict.set(this.eval(e.elt, local), this.eval(e.value!, local));
        else out.push(this.eval(e.elt, local));
        return;
      }
      const g = e.gens[i]!;
      for (const item of iterate(this.eval(g.iter, local))) {
        this.tick();
        this.assign(g.target, item, local);
        if (g.ifs.every((c) => truthy(this.eval(c, local)))) loop(i + 1);
      }
    };
    loop(0);
    if (dict) return dict;
    return e.kind === 'set' ? new PySet(out) : out;
  }

  // ---- functions ------------------------------------------------------------------------

  defaults(params: readonly Param[], env: Env): Map<string, PyValue> {
    const d = new Map<string, PyValue>();
    for (const p of params) if (p.default) d.set(p.name, this.eval(p.default, env));
    return d;
  }

  bind(name: string, params: readonly Param[], defaults: ReadonlyMap<string, PyValue>, args: PyValue[], kwargs: Kwargs, local: Env): void {
    let i = 0;
    const rest = new Map(kwargs);
    for (const p of params) {
      if (p.star === '*') {
        local.set(p.name, new PyTuple(args.slice(i)));
        i = args.length;
      } else if (p.star === '**') {
        const d = new PyDict();
        for (const [k, v] of rest) d.set(k, v);
        rest.clear();
        local.set(p.name, d);
      } else if (i < args.length) {
        if (rest.has(p.name)) throw new PyError('TypeError', `${name}() got multiple values for argument '${p.name}'`);
        local.set(p.name, args[i++]!);
      } else if (rest.has(p.name)) {
        local.set(p.name, rest.get(p.name)!);
        rest.delete(p.name);
      } else if (defaults.has(p.name)) local.set(p.name, defaults.get(p.name)!);
      else throw new PyError('TypeError', `${name}() is missing the argument '${p.name}'`);
    }
    if (i < args.length) throw new PyError('TypeError', `${name}() takes ${params.length} argument(s) (${args.length} given)`);
    for (const k of rest.keys()) throw new PyError('TypeError', `${name}() got an unexpected keyword argument '${k}'`);
  }

  // ---- statements -----------------------------------------------------------------------

  assign(target: Expr, value: PyValue, env: Env): void {
    switch (target.k) {
      case 'name':
        env.set(target.id, value);
        return;
      case 'tuple':
      case 'list': {
        const items = sequence(value);
        if (items.length !== target.items.length) {
          throw new PyError('ValueError', items.length > target.items.length ? 'too many values to unpack' : `need more than ${items.length} value${items.length === 1 ? '' : 's'} to unpack`);
        }
        target.items.forEach((t, i) => this.assign(t, items[i]!, env));
        return;
      }
      case 'sub': {
        const obj = this.eval(target.obj, env);
        if (target.index.k === 'slice') throw outsideSubset('TypeError', 'slice assignment');
        setItem(obj, this.eval(target.index, env), value);
        return;
      }
      case 'attr':
        throw Object.assign(outsideSubset('TypeError', `assigning to an attribute ("${target.name}")`), { line: target.line, col: target.col });
    }
    throw new PyError('SyntaxError', 'cannot assign to this expression');
  }

  exec(stmts: readonly Stmt[], env: Env): void {
    for (const s of stmts) {
      try {
        this.execOne(s, env);
      } catch (err) {
        if (err instanceof PyError && err.line === undefined) {
          err.line = s.line;
          err.col = s.col;
        }
        throw err;
      }
    }
  }

  private execOne(s: Stmt, env: Env): void {
    switch (s.k) {
      case 'expr':
        this.eval(s.value, env);
        return;
      case 'assign': {
        const v = this.eval(s.value, env);
        for (const t of s.targets) this.assign(t, v, env);
        return;
      }
      case 'augassign': {
        const t = s.target;
        const rhs = this.eval(s.value, env);
        if (t.k === 'name') {
          const cur = this.lookupName(t.id, env);
          if (Array.isArray(cur) && s.op === '+') extendList(cur, iterate(rhs));
          else env.set(t.id, binary(s.op, cur, rhs));
        } else if (t.k === 'sub') {
          const obj = this.eval(t.obj, env);
          const key = this.eval(t.index, env);
          setItem(obj, key, binary(s.op, getItem(obj, key), rhs));
        } else this.assign(t, rhs, env);
        return;
      }
      case 'if':
        for (const branch of s.tests) {
          if (truthy(this.eval(branch.test, env))) {
            this.exec(branch.body, env);
            return;
          }
        }
        if (s.orelse) this.exec(s.orelse, env);
        return;
      case 'for': {
        let broke = false;
        for (const item of iterate(this.eval(s.iter, env))) {
          this.tick();
          this.assign(s.target, item, env);
          try {
            this.exec(s.body, env);
          } catch (sig) {
            if (sig instanceof BreakSignal) {
              broke = true;
              break;
            }
            if (sig instanceof ContinueSignal) continue;
            throw sig;
          }
        }
        if (!broke && s.orelse) this.exec(s.orelse, env);
        return;
      }
      case 'def':
        env.set(s.name, this.makeFunction(s.name, s.params, s.body, env));
        return;
      case 'return':
        throw new ReturnSignal(s.value ? this.eval(s.value, env) : null);
      case 'break':
        throw new BreakSignal();
      case 'continue':
        throw new ContinueSignal();
      case 'pass':
        return;
      case 'raise':
        throw this.raised(s.exc ? this.eval(s.exc, env) : null, s.msg ? this.eval(s.msg, env) : null);
      case 'del':
        for (const t of s.targets) {
          if (t.k === 'name') {
            if (!env.vars.delete(t.id)) throw new PyError('NameError', `undefined variable "${t.id}"`);
          } else if (t.k === 'sub') delItem(this.eval(t.obj, env), this.eval(t.index, env));
          else throw new PyError('TypeError', 'only names and items can be deleted');
        }
        return;
      case 'assert':
        if (!truthy(this.eval(s.test, env))) throw this.raised(new PyException('AssertionError', s.msg ? str(this.eval(s.msg, env)) : ''), null);
        return;
      case 'import':
        for (const n of s.names) env.set(n.as, this.opts.builtins.get(n.name)!);
        return;
      case 'global':
        for (const n of s.names) env.declareGlobal(n);
        return;
    }
  }

  /** The error a raise statement throws: TemplateError keeps the template's own message. */
  private raised(exc: PyValue, msg: PyValue): PyError {
    let e: PyException;
    if (exc instanceof PyException) e = exc;
    else if (exc instanceof PyFunc && exc.kind === 'exception') e = new PyException(exc.name, msg === null ? '' : str(msg));
    else if (exc === null) return new PyError('RuntimeError', 'raise without an exception to re-raise');
    else throw new PyError('TypeError', `exceptions must be TemplateError or another exception, not ${typeName(exc)}`);
    if (e.type === 'TemplateError') return new TemplateRaise(e.message);
    return new PyError(e.type, e.message);
  }

  makeFunction(name: string, params: readonly Param[], body: readonly Stmt[], env: Env): PyFunc {
    const defaults = this.defaults(params, env);
    return new PyFunc(
      name,
      (args, kwargs) => {
        const local = env.child();
        this.bind(name, params, defaults, args, kwargs, local);
        try {
          this.exec(body, local);
        } catch (sig) {
          if (sig instanceof ReturnSignal) return sig.value;
          throw sig;
        }
        return null;
      },
      undefined,
      'function',
    );
  }

  /** Run statements where break/continue belong to an enclosing template loop (Cheetah #break). */
  static isBreak(x: unknown): boolean {
    return x instanceof BreakSignal;
  }
  static isContinue(x: unknown): boolean {
    return x instanceof ContinueSignal;
  }
  static breakSignal(): unknown {
    return new BreakSignal();
  }
  static continueSignal(): unknown {
    return new ContinueSignal();
  }
}
