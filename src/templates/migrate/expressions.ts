/**
 * Python expressions → Liquid: pipelines for values, flat conditions for tests, temporaries
 * (through the writer) for whatever Liquid cannot nest.
 */
import type { Expr } from '../python/ast.js';
import type { Dialect } from '../tree.js';
import { literal, refuse, type LiquidWriter } from './writer.js';

/** str methods without arguments and the Liquid filters that do the same. */
const STR_FILTERS: Record<string, string> = {
  upper: 'upcase',
  lower: 'downcase',
  strip: 'strip',
  lstrip: 'lstrip',
  rstrip: 'rstrip',
  capitalize: 'downcase | capitalize',
};

const COMPARE: Record<string, string> = { '==': '==', '!=': '!=', '<': '<', '>': '>', '<=': '<=', '>=': '>=' };

/** Expressions of one template, written through its LiquidWriter. */
export class LiquidExpressions {
  private readonly dialect: Dialect;

  constructor(private readonly w: LiquidWriter) {
    this.dialect = w.dialect;
  }

  assign(name: string, value: Expr): void {
    if (isBoolean(value)) {
      const c = this.cond(value);
      this.w.emit(`{% assign ${name} = false %}{% if ${c} %}{% assign ${name} = true %}{% endif %}`);
      return;
    }
    if (value.k === 'ifexp') {
      const c = this.cond(value.test);
      this.w.emit(`{% if ${c} %}`);
      this.assign(name, value.body);
      this.w.emit('{% else %}');
      this.assign(name, value.orelse);
      this.w.emit('{% endif %}');
      return;
    }
    this.w.emit(`{% assign ${name} = ${this.value(value)} %}`);
  }


  name(id: string): string {
    if (this.dialect === 'genshi' && id === 'path') return 'source_path';
    if (!/^[A-Za-z_][\w-]*$/.test(id)) refuse(`the name "${id}"`);
    return id;
  }

  /** Assign a pipeline to a fresh variable (conditions and filter arguments take no filters). */
  hoist(pipeline: string): string {
    const t = this.w.temp();
    this.w.emit(`{% assign ${t} = ${pipeline} %}`);
    return t;
  }

  /** A variable path (a.b[0]["k"]) when e is one, else null. */
  path(e: Expr): string | null {
    switch (e.k) {
      case 'name':
        return e.id === 'self' && this.dialect === 'cheetah' ? null : this.name(e.id);
      case 'attr': {
        if (e.obj.k === 'name' && e.obj.id === 'self' && this.dialect === 'cheetah') return this.name(e.name);
        if (e.nm && e.name in STR_FILTERS) return null;
        const base = this.path(e.obj);
        return base === null ? null : `${base}.${e.name}`;
      }
      case 'sub': {
        const base = this.path(e.obj);
        if (base === null || e.index.k === 'slice') return null;
        const idx = e.index;
        if (idx.k === 'const' && (typeof idx.v === 'string' || typeof idx.v === 'bigint')) return `${base}[${literal(idx.v)}]`;
        const p = this.path(idx);
        return p === null ? null : `${base}[${p}]`;
      }
      default:
        return null;
    }
  }

  /** Something usable as an operand: a literal, a variable path, or a hoisted temporary. */
  primary(e: Expr): string {
    if (e.k === 'const') return literal(e.v);
    const p = this.path(e);
    if (p !== null) return p;
    if (isBoolean(e)) {
      const t = this.w.temp();
      const c = this.cond(e);
      this.w.emit(`{% assign ${t} = false %}{% if ${c} %}{% assign ${t} = true %}{% endif %}`);
      return t;
    }
    return this.hoist(this.value(e));
  }

  /** A Liquid pipeline with the value of e. */
  value(e: Expr): string {
    if (e.k === 'const') return literal(e.v);
    const p = this.path(e);
    if (p !== null) return p;
    switch (e.k) {
      case 'attr':
        if (e.nm && e.name in STR_FILTERS) return `${this.value(e.obj)} | ${STR_FILTERS[e.name]}`;
        return `${this.primary(e.obj)}.${e.name}`;
      case 'sub': {
        if (e.index.k === 'slice') return this.slice(e.obj, e.index, e);
        return `${this.primary(e.obj)}[${this.primary(e.index)}]`;
      }
      case 'call':
        return this.call(e);
      case 'bin':
        return this.binary(e.op, e.left, e.right, e);
      case 'unary':
        if (e.op === '-') {
          const v = e.operand.k === 'const' ? e.operand.v : null;
          if (typeof v === 'bigint' || typeof v === 'number') return literal(-v);
          return `${this.value(e.operand)} | times: -1`;
        }
        if (e.op === 'not') return this.primary(e);
        return refuse(`the unary operator ${e.op}`, e);
      case 'bool': {
        if (e.op === 'or') return e.values.map((v, i) => (i === 0 ? this.value(v) : `default: ${this.primary(v)}`)).join(' | ');
        if (isBoolean(e)) return this.primary(e);
        // a and b: the first false value, else the last.
        const t = this.w.temp();
        this.assign(t, e.values[0]!);
        for (const v of e.values.slice(1)) {
          this.w.emit(`{% if ${this.truthy(t)} %}`);
          this.assign(t, v);
        }
        this.w.emit('{% endif %}'.repeat(e.values.length - 1));
        return t;
      }
      case 'compare':
        return this.primary(e);
      case 'ifexp': {
        const t = this.w.temp();
        this.assign(t, e);
        return t;
      }
      case 'list': {
        if (e.items.length === 0) return '"" | split: ","';
        if (e.items.every((i) => i.k === 'const' && typeof i.v === 'string')) {
          const items = e.items.map((i) => (i as { v: string }).v);
          const sep = [',', ';', '|', ':', '\u0001'].find((s) => items.every((i) => !i.includes(s)))!;
          return `${literal(items.join(sep))} | split: ${literal(sep)}`;
        }
        return ['"" | split: ","', ...e.items.map((i) => `push: ${this.primary(i)}`)].join(' | ');
      }
      default:
        return refuse(describe(e), e);
    }
  }

  slice(obj: Expr, s: Extract<Expr, { k: 'slice' }>, at: Expr): string {
    const int = (x: Expr | null): bigint | null | undefined => (x === null ? null : constInt(x));
    const lo = int(s.lo);
    const hi = int(s.hi);
    if (s.step !== null || lo === undefined || hi === undefined) return refuse('a slice with a step or non-constant bounds', at);
    const base = this.value(obj);
    const start = lo ?? 0n;
    if (hi === null) return start < 0n ? `${base} | slice: ${start}, ${-start}` : `${base} | slice: ${start}, 1000000`;
    if ((start < 0n) !== (hi < 0n) && hi !== 0n) return refuse('a slice mixing negative and positive bounds', at);
    return `${base} | slice: ${start}, ${hi - start > 0n ? hi - start : 0n}`;
  }

  call(e: Extract<Expr, { k: 'call' }>): string {
    const args = e.args;
    if (args.some((a) => a.kind !== 'pos' && !(a.kind === 'kw' && a.name === 'reverse'))) return refuse('keyword or star arguments', e);
    const pos = args.filter((a) => a.kind === 'pos').map((a) => a.value);
    const reverse = args.find((a) => a.kind === 'kw');
    if (e.fn.k === 'name') {
      const one = () => {
        if (pos.length !== 1) refuse(`${e.fn.k === 'name' ? e.fn.id : ''}() with ${pos.length} arguments`, e);
        return pos[0]!;
      };
      switch (e.fn.id) {
        case 'len':
          return `${this.value(one())} | size`;
        case 'str':
        case 'unicode':
          return this.value(one());
        case 'int':
          return `${this.value(one())} | to_integer`;
        case 'sorted': {
          const base = `${this.value(one())} | sort`;
          if (!reverse) return base;
          if (reverse.value.k !== 'const' || typeof reverse.value.v !== 'boolean') return refuse('sorted(reverse=…) with a non-constant flag', e);
          return reverse.value.v ? `${base} | reverse` : base;
        }
        case 'list':
          return this.value(one());
      }
      return refuse(`the function ${e.fn.id}()`, e);
    }
    if (e.fn.k === 'attr') {
      const obj = e.fn.obj;
      const name = e.fn.name;
      if (reverse) return refuse('keyword arguments', e);
      if (name in STR_FILTERS && pos.length === 0) return `${this.value(obj)} | ${STR_FILTERS[name]}`;
      switch (name) {
        case 'join':
          if (pos.length === 1) return `${this.value(pos[0]!)} | join: ${this.primary(obj)}`;
          break;
        case 'split':
          if (pos.length === 1) return `${this.value(obj)} | split: ${this.primary(pos[0]!)}`;
          break;
        case 'replace':
          if (pos.length === 2) return `${this.value(obj)} | replace: ${this.primary(pos[0]!)}, ${this.primary(pos[1]!)}`;
          break;
        case 'get':
          // Only checked, not exact: a missing key fails in Liquid where Python gives None.
          if (pos.length === 1) return `${this.primary(obj)}[${this.primary(pos[0]!)}]`;
          if (pos.length === 2) return `${this.primary(obj)}[${this.primary(pos[0]!)}] | default: ${this.primary(pos[1]!)}`;
          break;
        case 'group_in_category':
          if (pos.length === 1 && this.isMetadata(obj)) return `${this.primary(obj)}.categories[${this.primary(pos[0]!)}]`;
          break;
        case 'inGroup':
        case 'startswith':
        case 'endswith':
          return this.primary(e);
      }
      return refuse(`the method .${name}()`, e);
    }
    return refuse('this call', e);
  }

  isMetadata(e: Expr): boolean {
    const p = this.path(e);
    return p === 'metadata';
  }

  binary(op: string, left: Expr, right: Expr, at: { line: number; col: number }): string {
    const isStr = (x: Expr) => (x.k === 'const' && typeof x.v === 'string') || (x.k === 'call' && x.fn.k === 'name' && x.fn.id === 'str');
    const isNum = (x: Expr) => (x.k === 'const' && (typeof x.v === 'bigint' || typeof x.v === 'number')) || (x.k === 'call' && x.fn.k === 'name' && (x.fn.id === 'len' || x.fn.id === 'int'));
    switch (op) {
      case '+':
        if (isStr(left) || isStr(right)) return `${this.value(left)} | append: ${this.primary(right)}`;
        if (isNum(left) || isNum(right)) return `${this.value(left)} | plus: ${this.primary(right)}`;
        return refuse('"+" between values whose type (number or string) cannot be told', at);
      case '-':
        return `${this.value(left)} | minus: ${this.primary(right)}`;
      case '*':
        if (isStr(left) || isStr(right)) return refuse('repeating a string with *', at);
        return `${this.value(left)} | times: ${this.primary(right)}`;
      case '//':
        return `${this.value(left)} | divided_by: ${this.primary(right)} | floor`;
      case '%':
        if (left.k === 'const' && typeof left.v === 'string') return this.percent(left.v, right, at);
        return `${this.value(left)} | modulo: ${this.primary(right)}`;
    }
    return refuse(`the operator ${op}`, at);
  }

  /** "a %s b %d" % (x, y) with plain %s/%d only → concatenation. */
  percent(fmt: string, args: Expr, at: { line: number; col: number }): string {
    const values = args.k === 'tuple' ? args.items : [args];
    const parts = fmt.split(/(%%|%[sd])/);
    let i = 0;
    const pieces: string[] = [];
    let pendingText = '';
    for (const part of parts) {
      if (part === '%%') pendingText += '%';
      else if (part === '%s' || part === '%d') {
        if (pendingText) pieces.push(literal(pendingText));
        pendingText = '';
        const v = values[i++];
        if (!v) return refuse('a % format with too few arguments', at);
        pieces.push(this.primary(v));
      } else {
        if (part.includes('%')) return refuse('% formatting other than plain %s and %d', at);
        pendingText += part;
      }
    }
    if (pendingText) pieces.push(literal(pendingText));
    if (i !== values.length) return refuse('a % format with too many arguments', at);
    if (!pieces.length) return '""';
    const [first, ...rest] = pieces;
    return [first, ...rest.map((p) => `append: ${p}`)].join(' | ');
  }

  /** Python truthiness of a Liquid operand (empty strings and lists are false, as in Python). */
  truthy(operand: string): string {
    return `${operand} != blank`;
  }

  /** A flat Liquid condition equivalent to Python truthiness of e. */
  cond(e: Expr): string {
    switch (e.k) {
      case 'const':
        return e.v === true ? 'true' : e.v === false || e.v === null ? 'false' : this.truthy(literal(e.v));
      case 'compare': {
        const parts: string[] = [];
        let left = e.left;
        e.ops.forEach((op, i) => {
          const right = e.rights[i]!;
          parts.push(this.comparison(op, left, right, e));
          left = right;
        });
        return parts.join(' and ');
      }
      case 'bool': {
        // A nested and/or cannot sit in Liquid's flat chain: its value goes to a temporary first.
        const parts = e.values.map((v) => (!isCompound(v, e.op) ? this.cond(v) : isBoolean(v) ? this.primary(v) : this.truthy(this.primary(v))));
        return parts.join(` ${e.op} `);
      }
      case 'unary':
        // not x: false for a bool, Python-empty for a value.
        if (e.op === 'not') return `${this.primary(e.operand)} == ${isBoolean(e.operand) ? 'false' : 'blank'}`;
        break;
      case 'call':
        if (e.fn.k === 'attr' && e.args.length === 1 && e.args[0]!.kind === 'pos') {
          const arg = e.args[0]!.value;
          if (e.fn.name === 'inGroup' && this.isMetadata(e.fn.obj)) return `${this.primary(e.fn.obj)}.groups contains ${this.primary(arg)}`;
          if ((e.fn.name === 'startswith' || e.fn.name === 'endswith') && arg.k === 'const' && typeof arg.v === 'string') {
            const n = [...arg.v].length;
            const head = this.hoist(`${this.value(e.fn.obj)} | slice: ${e.fn.name === 'startswith' ? 0 : -n}, ${n}`);
            return `${head} == ${literal(arg.v)}`;
          }
        }
        break;
    }
    return this.truthy(this.primary(e));
  }

  comparison(op: string, left: Expr, right: Expr, at: { line: number; col: number }): string {
    if (op in COMPARE) return `${this.primary(left)} ${COMPARE[op]} ${this.primary(right)}`;
    if (op === 'in') return `${this.primary(right)} contains ${this.primary(left)}`;
    if (op === 'not in') {
      const t = this.w.temp();
      this.w.emit(`{% assign ${t} = true %}{% if ${this.primary(right)} contains ${this.primary(left)} %}{% assign ${t} = false %}{% endif %}`);
      return t;
    }
    if ((op === 'is' || op === 'is not') && right.k === 'const' && (right.v === null || typeof right.v === 'boolean')) {
      return `${this.primary(left)} ${op === 'is' ? '==' : '!='} ${literal(right.v)}`;
    }
    return refuse(`the comparison "${op}"`, at);
  }
}

/** The value of a constant integer expression (literals, -n, len("…")), else undefined. */
function constInt(x: Expr): bigint | undefined {
  if (x.k === 'const' && typeof x.v === 'bigint') return x.v;
  if (x.k === 'unary' && x.op === '-') {
    const v = constInt(x.operand);
    return v === undefined ? undefined : -v;
  }
  if (x.k === 'call' && x.fn.k === 'name' && x.fn.id === 'len' && x.args.length === 1 && x.args[0]!.value.k === 'const' && typeof x.args[0]!.value.v === 'string') {
    return BigInt([...x.args[0]!.value.v].length);
  }
  return undefined;
}

/** Expressions whose value is a bool (converted with the condition machinery). */
function isBoolean(e: Expr): boolean {
  if (e.k === 'compare') return true;
  if (e.k === 'unary' && e.op === 'not') return true;
  if (e.k === 'bool') return e.values.every(isBoolean);
  if (e.k === 'const') return typeof e.v === 'boolean';
  if (e.k === 'call' && e.fn.k === 'attr') return ['inGroup', 'startswith', 'endswith'].includes(e.fn.name);
  return false;
}

/** A sub-condition that cannot sit in a flat Liquid chain of `op`. */
function isCompound(e: Expr, op: string): boolean {
  return (e.k === 'bool' && e.op !== op) || (e.k === 'compare' && e.ops.length > 1 && op === 'or');
}

function describe(e: Expr): string {
  switch (e.k) {
    case 'dict':
      return 'a dict literal';
    case 'comp':
      return 'a comprehension';
    case 'lambda':
      return 'a lambda';
    case 'tuple':
      return 'a tuple';
    case 'set':
      return 'a set literal';
    default:
      return `the expression (${e.k})`;
  }
}
