/**
 * Genshi/Cheetah → Liquid. The converter writes Liquid for the constructs it can express and
 * refuses, naming the construct and its line, for the rest; migrateTemplate() then renders the
 * old and the new template for every client and accepts the result only if they agree.
 */
import { dirname, resolve } from 'node:path';
import { BinderyError } from '../errors.js';
import type { ClientMetadata } from '../types.js';
import { compileParsed, liquidName, parseTemplate, templateError } from './compile.js';
import { compileLiquid } from './liquid.js';
import type { CompiledTemplate } from './types.js';
import type { Expr, Stmt } from './python/ast.js';
import type { Dialect, ParsedTemplate, Pos, TNode } from './tree.js';

class Refusal extends Error {
  constructor(
    message: string,
    readonly line?: number,
    readonly col?: number,
  ) {
    super(message);
  }
}

function refuse(what: string, at?: { line: number; col: number }): never {
  throw new Refusal(`${what} has no Liquid translation`, at?.line, at?.col);
}

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

function literal(v: string | bigint | number | boolean | null): string {
  if (v === null) return 'nil';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) refuse('an infinite or NaN number');
    return Number.isInteger(v) ? v.toFixed(1) : String(v);
  }
  return '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t') + '"';
}

/** How often each name occurs in a piece of the parsed template. */
function nameCounts(tree: unknown): Map<string, number> {
  const counts = new Map<string, number>();
  const text = JSON.stringify(tree, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  for (const m of text.matchAll(/"(?:id|name)":"([A-Za-z_]\w*)"/g)) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  return counts;
}

interface Loop {
  broke: string | null;
}

interface Choice {
  readonly flag: string;
  readonly value: string | null;
}

class ToLiquid {
  private readonly out: string[] = [];
  private temps = 0;
  private readonly prefix: string;
  private readonly loops: Loop[] = [];
  private readonly choices: Choice[] = [];

  constructor(
    private readonly dialect: Dialect,
    /** Names in the whole template (temporaries avoid them; loops look for uses after them). */
    private readonly names: ReadonlyMap<string, number>,
  ) {
    let prefix = '_t';
    while ([...names.keys()].some((n) => n.startsWith(prefix))) prefix += 't';
    this.prefix = prefix;
  }

  convert(nodes: readonly TNode[]): string {
    this.nodes(nodes);
    return this.out.join('');
  }

  private emit(s: string): void {
    this.out.push(s);
  }

  private temp(): string {
    return `${this.prefix}${++this.temps}`;
  }

  // ---- template nodes -----------------------------------------------------------------

  private nodes(nodes: readonly TNode[]): void {
    for (const n of nodes) this.node(n);
  }

  private node(n: TNode): void {
    switch (n.t) {
      case 'text':
        if (n.s.includes('{{') || n.s.includes('{%')) {
          if (n.s.includes('{% endraw') || n.s.includes('{%endraw')) refuse('text containing "{% endraw"');
          this.emit(`{% raw %}${n.s}{% endraw %}`);
        } else if (n.s.endsWith('{')) {
          // A '{' right before the next {{ or {% would open a tag of its own.
          this.emit(`${n.s.slice(0, -1)}{{ "{" }}`);
        } else this.emit(n.s);
        return;
      case 'out':
        if (n.silent) refuse('a silent placeholder ($!name)', n);
        if (n.e.k === 'ifexp') {
          const c = this.cond(n.e.test);
          this.emit(`{% if ${c} %}`);
          this.node({ t: 'out', e: n.e.body, line: n.line, col: n.col });
          this.emit('{% else %}');
          this.node({ t: 'out', e: n.e.orelse, line: n.line, col: n.col });
          this.emit('{% endif %}');
          return;
        }
        {
          const v = this.value(n.e);
          this.emit(`{{ ${v} }}`);
        }
        return;
      case 'if': {
        const conds = n.branches.map((b) => this.cond(b.test));
        n.branches.forEach((b, i) => {
          this.emit(i === 0 ? `{% if ${conds[i]} %}` : `{% elsif ${conds[i]} %}`);
          this.nodes(b.body);
        });
        if (n.orelse) {
          this.emit('{% else %}');
          this.nodes(n.orelse);
        }
        this.emit('{% endif %}');
        return;
      }
      case 'for':
        // A Cheetah loop variable is a template local, still set after the loop; a Genshi one is not.
        this.forLoop(n, () => this.nodes(n.body), null, this.dialect === 'cheetah');
        return;
      case 'choose': {
        if (n.body.length && n.body[0]!.t === 'when' && n.body.every((c, i) => c.t === 'when' || (c.t === 'otherwise' && i === n.body.length - 1))) {
          // Nothing but branches: an if/elsif/else chain reads best.
          const value = n.test ? this.primary(n.test) : null;
          const branches = n.body as readonly Extract<TNode, { t: 'when' | 'otherwise' }>[];
          const conds = branches.map((b) => (b.t === 'otherwise' ? null : this.whenCondition(value, b)));
          branches.forEach((b, i) => {
            this.emit(conds[i] === null ? '{% else %}' : i === 0 ? `{% if ${conds[i]} %}` : `{% elsif ${conds[i]} %}`);
            this.nodes(b.body);
          });
          this.emit('{% endif %}');
          return;
        }
        const flag = this.temp();
        const value = n.test ? this.primary(n.test) : null;
        this.emit(`{% assign ${flag} = false %}`);
        this.choices.push({ flag, value });
        this.nodes(n.body);
        this.choices.pop();
        return;
      }
      case 'when': {
        const choice = this.choices[this.choices.length - 1]!;
        this.emit(`{% if ${choice.flag} == false %}`);
        const c = this.whenCondition(choice.value, n);
        this.emit(`{% if ${c} %}{% assign ${choice.flag} = true %}`);
        this.nodes(n.body);
        this.emit('{% endif %}{% endif %}');
        return;
      }
      case 'otherwise': {
        const choice = this.choices[this.choices.length - 1]!;
        this.emit(`{% if ${choice.flag} == false %}{% assign ${choice.flag} = true %}`);
        this.nodes(n.body);
        this.emit('{% endif %}');
        return;
      }
      case 'with':
        this.stmts(n.stmts);
        this.nodes(n.body);
        return;
      case 'def':
        return refuse(`{% def ${n.name} %} (Liquid has no macros; put the text in a partial and use {% render %})`, n);
      case 'include':
        return refuse('{% include %} of a Genshi file (migrate the included file and use {% render %})', n);
      case 'exec':
        this.stmts(n.stmts);
        return;
      case 'break':
      case 'continue':
        this.loopControl(n.t, n);
        return;
      case 'repeat': {
        // #repeat n: a loop over 1..n (an empty range when n < 1, as Python's range).
        const t = this.temp();
        this.forLoop({ target: { k: 'name', id: t, line: n.line, col: n.col }, iter: { k: 'call', fn: { k: 'name', id: 'range', line: n.line, col: n.col }, args: [{ kind: 'pos', value: n.count }], line: n.line, col: n.col }, line: n.line, col: n.col }, () => this.nodes(n.body), null, false);
        return;
      }
      case 'while':
        return refuse('#while (Liquid has no while loop; loop over a list or a range instead)', n);
      case 'try':
        return refuse('#try/#except (Liquid cannot catch errors)', n);
      case 'stop':
        return refuse('#stop', n);
      case 'return':
        return refuse('#return', n);
      case 'cinclude':
        return refuse('#include (migrate the included file and use {% render %})', n);
    }
  }

  /** The condition of a {% when %}: equal to the choose value, or its own test. */
  private whenCondition(value: string | null, n: Extract<TNode, { t: 'when' }>): string {
    if (value !== null) return n.test ? `${value} == ${this.primary(n.test)}` : this.truthy(value);
    if (n.test) return this.cond(n.test);
    return refuse('{% when %} without a test in a {% choose %} without one', n);
  }

  private loopControl(kind: 'break' | 'continue', at: { line: number; col: number }): void {
    const loop = this.loops[this.loops.length - 1];
    if (!loop) refuse(`${kind} outside a loop`, at);
    if (kind === 'break' && loop!.broke) this.emit(`{% assign ${loop!.broke} = true %}`);
    this.emit(`{% ${kind} %}`);
  }

  /**
   * `keeps`: the loop variable outlives the loop (Python, Cheetah); when the template reads it
   * after the loop, {% assign %} copies it out of the loop's scope.
   */
  private forLoop(loopNode: Pos & { readonly target: Expr; readonly iter: Expr }, body: () => void, orelse: (() => void) | null, keeps: boolean): void {
    const { target, iter } = loopNode;
    const at = loopNode;
    let head: string;
    let unpack = '';
    if (target.k === 'name') {
      const name = this.name(target.id);
      // A dict loops over its keys (d.values() over its values); Liquid gives [key, value] pairs.
      const method = iter.k === 'call' && iter.fn.k === 'attr' && iter.args.length === 0 && /^(iter)?(keys|values)$/.test(iter.fn.name) ? iter.fn : null;
      const dict = method ? method.obj : this.path(iter) === 'metadata.categories' ? iter : null;
      if (dict) {
        const pair = this.temp();
        head = `${pair} in ${this.primary(dict)}`;
        unpack = `{% assign ${name} = ${pair}[${method?.name.endsWith('values') ? 1 : 0}] %}`;
      } else {
        head = `${name} in ${this.iterable(iter)}`;
        const usedAfter = (this.names.get(target.id) ?? 0) > (nameCounts(loopNode).get(target.id) ?? 0);
        if (keeps && usedAfter) unpack = `{% assign ${name} = ${name} %}`;
      }
    } else if (target.k === 'tuple' && target.items.length === 2 && target.items.every((t) => t.k === 'name')) {
      const [a, b] = target.items.map((t) => this.name((t as Extract<Expr, { k: 'name' }>).id)) as [string, string];
      if (iter.k === 'call' && iter.fn.k === 'attr' && ['items', 'iteritems'].includes(iter.fn.name) && iter.args.length === 0) {
        const pair = this.temp();
        head = `${pair} in ${this.primary(iter.fn.obj)}`;
        unpack = `{% assign ${a} = ${pair}[0] %}{% assign ${b} = ${pair}[1] %}`;
      } else if (iter.k === 'call' && iter.fn.k === 'name' && iter.fn.id === 'enumerate' && iter.args.length === 1 && iter.args[0]!.kind === 'pos') {
        head = `${b} in ${this.iterable(iter.args[0]!.value)}`;
        unpack = `{% assign ${a} = forloop.index0 %}`;
      } else return refuse('unpacking two loop variables from anything but d.items() or enumerate(x)', at);
    } else return refuse('this loop target', at);
    const loop: Loop = { broke: orelse ? this.temp() : null };
    if (loop.broke) this.emit(`{% assign ${loop.broke} = false %}`);
    this.emit(`{% for ${head} %}${unpack}`);
    this.loops.push(loop);
    body();
    this.loops.pop();
    this.emit('{% endfor %}');
    if (orelse) {
      this.emit(`{% if ${loop.broke} == false %}`);
      orelse();
      this.emit('{% endif %}');
    }
  }

  /** What a Liquid for can iterate: a variable or a range. */
  private iterable(e: Expr): string {
    if (e.k === 'call' && e.fn.k === 'name' && (e.fn.id === 'range' || e.fn.id === 'xrange') && e.args.every((a) => a.kind === 'pos') && e.args.length <= 2) {
      const [lo, hi] = e.args.length === 1 ? [null, e.args[0]!.value] : [e.args[0]!.value, e.args[1]!.value];
      const start = lo ? this.primary(lo) : '0';
      const end = hi.k === 'const' && typeof hi.v === 'bigint' ? (hi.v - 1n).toString() : this.hoist(`${this.primary(hi)} | minus: 1`);
      return `(${start}..${end})`;
    }
    return this.primary(e);
  }

  // ---- statements ---------------------------------------------------------------------

  private stmts(stmts: readonly Stmt[]): void {
    for (const s of stmts) this.stmt(s);
  }

  private stmt(s: Stmt): void {
    switch (s.k) {
      case 'import':
      case 'pass':
        return;
      case 'assign': {
        if (s.targets.length !== 1 || s.targets[0]!.k !== 'name') return refuse('assigning to anything but one plain name', s);
        this.assign(this.name(s.targets[0]!.id), s.value);
        return;
      }
      case 'augassign': {
        if (s.target.k !== 'name') return refuse('augmented assignment to anything but a plain name', s);
        const name = this.name(s.target.id);
        this.emit(`{% assign ${name} = ${this.binary(s.op, s.target, s.value, s)} %}`);
        return;
      }
      case 'if': {
        const conds = s.tests.map((b) => this.cond(b.test));
        s.tests.forEach((b, i) => {
          this.emit(i === 0 ? `{% if ${conds[i]} %}` : `{% elsif ${conds[i]} %}`);
          this.stmts(b.body);
        });
        if (s.orelse) {
          this.emit('{% else %}');
          this.stmts(s.orelse);
        }
        this.emit('{% endif %}');
        return;
      }
      case 'for':
        this.forLoop(s, () => this.stmts(s.body), s.orelse ? () => this.stmts(s.orelse!) : null, true);
        return;
      case 'break':
      case 'continue':
        this.loopControl(s.k, s);
        return;
      case 'raise': {
        const exc = s.exc;
        const isTemplateError = (e: Expr | null) => e !== null && e.k === 'name' && e.id === 'TemplateError';
        let msg: Expr | null = null;
        if (isTemplateError(exc)) msg = s.msg;
        else if (exc && exc.k === 'call' && isTemplateError(exc.fn) && exc.args.length <= 1 && !s.msg) msg = exc.args[0]?.value ?? null;
        else return refuse('raising anything but TemplateError', s);
        this.emit(`{% raise ${msg ? this.value(msg) : '""'} %}`);
        return;
      }
      case 'expr': {
        const e = s.value;
        if (e.k === 'call' && e.fn.k === 'attr' && e.fn.name === 'append' && e.fn.obj.k === 'name' && e.args.length === 1) {
          const list = this.name(e.fn.obj.id);
          this.emit(`{% assign ${list} = ${list} | push: ${this.primary(e.args[0]!.value)} %}`);
          return;
        }
        return refuse('an expression statement other than list.append(x)', s);
      }
      default:
        return refuse(`the Python statement "${s.k}"`, s);
    }
  }

  private assign(name: string, value: Expr): void {
    if (isBoolean(value)) {
      const c = this.cond(value);
      this.emit(`{% assign ${name} = false %}{% if ${c} %}{% assign ${name} = true %}{% endif %}`);
      return;
    }
    if (value.k === 'ifexp') {
      const c = this.cond(value.test);
      this.emit(`{% if ${c} %}`);
      this.assign(name, value.body);
      this.emit('{% else %}');
      this.assign(name, value.orelse);
      this.emit('{% endif %}');
      return;
    }
    this.emit(`{% assign ${name} = ${this.value(value)} %}`);
  }

  // ---- expressions --------------------------------------------------------------------

  private name(id: string): string {
    if (this.dialect === 'genshi' && id === 'path') return 'source_path';
    if (!/^[A-Za-z_][\w-]*$/.test(id)) refuse(`the name "${id}"`);
    return id;
  }

  /** Assign a pipeline to a fresh variable (conditions and filter arguments take no filters). */
  private hoist(pipeline: string): string {
    const t = this.temp();
    this.emit(`{% assign ${t} = ${pipeline} %}`);
    return t;
  }

  /** A variable path (a.b[0]["k"]) when e is one, else null. */
  private path(e: Expr): string | null {
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
  private primary(e: Expr): string {
    if (e.k === 'const') return literal(e.v);
    const p = this.path(e);
    if (p !== null) return p;
    if (isBoolean(e)) {
      const t = this.temp();
      const c = this.cond(e);
      this.emit(`{% assign ${t} = false %}{% if ${c} %}{% assign ${t} = true %}{% endif %}`);
      return t;
    }
    return this.hoist(this.value(e));
  }

  /** A Liquid pipeline with the value of e. */
  private value(e: Expr): string {
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
        const t = this.temp();
        this.assign(t, e.values[0]!);
        for (const v of e.values.slice(1)) {
          this.emit(`{% if ${this.truthy(t)} %}`);
          this.assign(t, v);
        }
        this.emit('{% endif %}'.repeat(e.values.length - 1));
        return t;
      }
      case 'compare':
        return this.primary(e);
      case 'ifexp': {
        const t = this.temp();
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

  private slice(obj: Expr, s: Extract<Expr, { k: 'slice' }>, at: Expr): string {
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

  private call(e: Extract<Expr, { k: 'call' }>): string {
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

  private isMetadata(e: Expr): boolean {
    const p = this.path(e);
    return p === 'metadata';
  }

  private binary(op: string, left: Expr, right: Expr, at: { line: number; col: number }): string {
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
  private percent(fmt: string, args: Expr, at: { line: number; col: number }): string {
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
  private truthy(operand: string): string {
    return `${operand} != blank`;
  }

  /** A flat Liquid condition equivalent to Python truthiness of e. */
  private cond(e: Expr): string {
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

  private comparison(op: string, left: Expr, right: Expr, at: { line: number; col: number }): string {
    if (op in COMPARE) return `${this.primary(left)} ${COMPARE[op]} ${this.primary(right)}`;
    if (op === 'in') return `${this.primary(right)} contains ${this.primary(left)}`;
    if (op === 'not in') {
      const t = this.temp();
      this.emit(`{% assign ${t} = true %}{% if ${this.primary(right)} contains ${this.primary(left)} %}{% assign ${t} = false %}{% endif %}`);
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

/** Translate a parsed Genshi or Cheetah template into Liquid source (throws Refusal). */
function toLiquid(parsed: ParsedTemplate): string {
  const method = parsed.methods?.[0];
  if (method) refuse(`#def ${method.name} / #block ${method.name} (Liquid has no macros; put the text in a partial and use {% render %})`, method);
  return new ToLiquid(parsed.dialect, nameCounts(parsed.nodes)).convert(parsed.nodes);
}

/** The client-side path of a Cfg file (Cfg/etc/motd/motd.genshi → /etc/motd). */
export function entryName(file: string): string {
  const dir = dirname(file);
  return '/' + (dir.startsWith('Cfg/') ? dir.slice(4) : dir);
}

export interface RenderOutcome {
  readonly ok: boolean;
  /** The text, or the error message. */
  readonly text: string;
}

export interface Comparison {
  /** The first client the two templates render differently for, or null. */
  readonly difference: { readonly host: string; readonly before: RenderOutcome; readonly after: RenderOutcome } | null;
  /** Clients both templates fail for (a bind failure either way). */
  readonly failing: readonly string[];
}

/** Render both templates for every client and compare. */
export function compareRenders(
  before: { readonly tpl: CompiledTemplate; readonly file: string },
  after: { readonly tpl: CompiledTemplate; readonly file: string },
  clients: readonly ClientMetadata[],
  repoRoot: string,
): Comparison {
  const outcome = (t: CompiledTemplate, file: string, m: ClientMetadata): RenderOutcome => {
    try {
      return { ok: true, text: t.render({ metadata: m, allClients: clients, name: entryName(before.file), sourcePath: resolve(repoRoot, file), repo: repoRoot }) };
    } catch (e) {
      if (e instanceof BinderyError) return { ok: false, text: e.message };
      throw e;
    }
  };
  const failing: string[] = [];
  for (const m of clients) {
    const a = outcome(before.tpl, before.file, m);
    const b = outcome(after.tpl, after.file, m);
    // A bind failure either way is the same for the client: the entry is not sent.
    if (a.ok !== b.ok || (a.ok && a.text !== b.text)) return { difference: { host: m.hostname, before: a, after: b }, failing };
    if (!a.ok) failing.push(m.hostname);
  }
  return { difference: null, failing };
}

export interface Migration {
  /** The Liquid source. */
  readonly liquid: string;
  /** Repo-relative name of the .liquid file beside the original. */
  readonly file: string;
  /** How many clients both templates were rendered for. */
  readonly clients: number;
  /** Clients both templates fail to bind for (the same outcome, but nothing to compare). */
  readonly failing: readonly string[];
}

/** First line where two texts differ, for refusal messages. */
function describeDifference(a: RenderOutcome, b: RenderOutcome): string {
  if (!a.ok) return `the original fails (${a.text}) but the Liquid renders`;
  if (!b.ok) return `the Liquid fails (${b.text}) but the original renders`;
  const la = a.text.split('\n');
  const lb = b.text.split('\n');
  let i = 0;
  while (i < Math.max(la.length, lb.length) && la[i] === lb[i]) i++;
  const show = (l: string | undefined) => (l === undefined ? 'nothing' : JSON.stringify(l));
  return `output line ${i + 1} is ${show(la[i])} in the original and ${show(lb[i])} in the Liquid`;
}

/**
 * Convert a Genshi or Cheetah template to Liquid and check that both render the same for
 * every client (a bind failure on both sides counts as the same). Refuses with
 * BinderyError('TEMPLATE') naming the construct and line, or the client that differs.
 */
export function migrateTemplate(kind: 'genshi' | 'cheetah', source: string, file: string, opts: { repoRoot: string; clients: readonly ClientMetadata[] }): Migration {
  const parsed = parseTemplate(kind, source, file);
  const target = liquidName(file);
  let liquid: string;
  try {
    liquid = toLiquid(parsed);
  } catch (e) {
    if (e instanceof Refusal) {
      throw new BinderyError('TEMPLATE', `cannot migrate: ${e.message}`, { file, line: e.line, column: e.col }, 'keep the template as it is (it still compiles), or rewrite that part by hand in Liquid');
    }
    throw templateError(e, file);
  }
  if (!opts.clients.length) {
    throw new BinderyError('TEMPLATE', 'cannot migrate: Metadata/clients.xml lists no clients to compare the two templates on', { file }, 'add the clients first');
  }
  const before = compileParsed(parsed, opts.repoRoot);
  let after: CompiledTemplate;
  try {
    after = compileLiquid(liquid, target, opts.repoRoot);
  } catch (e) {
    throw new BinderyError('INTERNAL', `the Liquid bindery wrote does not compile: ${(e as Error).message}`, { file: target });
  }
  const { difference: diff, failing } = compareRenders({ tpl: before, file }, { tpl: after, file: target }, opts.clients, opts.repoRoot);
  if (diff) {
    throw new BinderyError('TEMPLATE', `cannot migrate: for client ${diff.host} ${describeDifference(diff.before, diff.after)}`, { file, host: diff.host }, 'keep the template as it is (it still compiles), or write the Liquid by hand');
  }
  return { liquid, file: target, clients: opts.clients.length, failing };
}
