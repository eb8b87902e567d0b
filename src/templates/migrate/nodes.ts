/**
 * Template nodes and Python statements → Liquid tags; expressions go to LiquidExpressions.
 */
import type { Expr, Stmt } from '../python/ast.js';
import type { Dialect, ParsedTemplate, Pos, TNode } from '../tree.js';
import { LiquidExpressions } from './expressions.js';
import { LiquidWriter, nameCounts, refuse } from './writer.js';

interface Loop {
  broke: string | null;
}

interface Choice {
  readonly flag: string;
  readonly value: string | null;
}

class ToLiquid {
  private readonly loops: Loop[] = [];
  private readonly choices: Choice[] = [];
  private readonly x: LiquidExpressions;
  private readonly dialect: Dialect;
  private readonly names: ReadonlyMap<string, number>;

  constructor(private readonly w: LiquidWriter) {
    this.x = new LiquidExpressions(w);
    this.dialect = w.dialect;
    this.names = w.names;
  }

  convert(nodes: readonly TNode[]): string {
    this.nodes(nodes);
    return this.w.text();
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
          this.w.emit(`{% raw %}${n.s}{% endraw %}`);
        } else if (n.s.endsWith('{')) {
          // A '{' right before the next {{ or {% would open a tag of its own.
          this.w.emit(`${n.s.slice(0, -1)}{{ "{" }}`);
        } else this.w.emit(n.s);
        return;
      case 'out':
        if (n.silent) refuse('a silent placeholder ($!name)', n);
        if (n.e.k === 'ifexp') {
          const c = this.x.cond(n.e.test);
          this.w.emit(`{% if ${c} %}`);
          this.node({ t: 'out', e: n.e.body, line: n.line, col: n.col });
          this.w.emit('{% else %}');
          this.node({ t: 'out', e: n.e.orelse, line: n.line, col: n.col });
          this.w.emit('{% endif %}');
          return;
        }
        {
          const v = this.x.value(n.e);
          this.w.emit(`{{ ${v} }}`);
        }
        return;
      case 'if': {
        const conds = n.branches.map((b) => this.x.cond(b.test));
        n.branches.forEach((b, i) => {
          this.w.emit(i === 0 ? `{% if ${conds[i]} %}` : `{% elsif ${conds[i]} %}`);
          this.nodes(b.body);
        });
        if (n.orelse) {
          this.w.emit('{% else %}');
          this.nodes(n.orelse);
        }
        this.w.emit('{% endif %}');
        return;
      }
      case 'for':
        // A Cheetah loop variable is a template local, still set after the loop; a Genshi one is not.
        this.forLoop(n, () => this.nodes(n.body), null, this.dialect === 'cheetah');
        return;
      case 'choose': {
        if (n.body.length && n.body[0]!.t === 'when' && n.body.every((c, i) => c.t === 'when' || (c.t === 'otherwise' && i === n.body.length - 1))) {
          // Nothing but branches: an if/elsif/else chain reads best.
          const value = n.test ? this.x.primary(n.test) : null;
          const branches = n.body as readonly Extract<TNode, { t: 'when' | 'otherwise' }>[];
          const conds = branches.map((b) => (b.t === 'otherwise' ? null : this.whenCondition(value, b)));
          branches.forEach((b, i) => {
            this.w.emit(conds[i] === null ? '{% else %}' : i === 0 ? `{% if ${conds[i]} %}` : `{% elsif ${conds[i]} %}`);
            this.nodes(b.body);
          });
          this.w.emit('{% endif %}');
          return;
        }
        const flag = this.w.temp();
        const value = n.test ? this.x.primary(n.test) : null;
        this.w.emit(`{% assign ${flag} = false %}`);
        this.choices.push({ flag, value });
        this.nodes(n.body);
        this.choices.pop();
        return;
      }
      case 'when': {
        const choice = this.choices[this.choices.length - 1]!;
        this.w.emit(`{% if ${choice.flag} == false %}`);
        const c = this.whenCondition(choice.value, n);
        this.w.emit(`{% if ${c} %}{% assign ${choice.flag} = true %}`);
        this.nodes(n.body);
        this.w.emit('{% endif %}{% endif %}');
        return;
      }
      case 'otherwise': {
        const choice = this.choices[this.choices.length - 1]!;
        this.w.emit(`{% if ${choice.flag} == false %}{% assign ${choice.flag} = true %}`);
        this.nodes(n.body);
        this.w.emit('{% endif %}');
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
        const t = this.w.temp();
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
    if (value !== null) return n.test ? `${value} == ${this.x.primary(n.test)}` : this.x.truthy(value);
    if (n.test) return this.x.cond(n.test);
    return refuse('{% when %} without a test in a {% choose %} without one', n);
  }

  private loopControl(kind: 'break' | 'continue', at: { line: number; col: number }): void {
    const loop = this.loops[this.loops.length - 1];
    if (!loop) refuse(`${kind} outside a loop`, at);
    if (kind === 'break' && loop!.broke) this.w.emit(`{% assign ${loop!.broke} = true %}`);
    this.w.emit(`{% ${kind} %}`);
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
      const name = this.x.name(target.id);
      // A dict loops over its keys (d.values() over its values); Liquid gives [key, value] pairs.
      const method = iter.k === 'call' && iter.fn.k === 'attr' && iter.args.length === 0 && /^(iter)?(keys|values)$/.test(iter.fn.name) ? iter.fn : null;
      const dict = method ? method.obj : this.x.path(iter) === 'metadata.categories' ? iter : null;
      if (dict) {
        const pair = this.w.temp();
        head = `${pair} in ${this.x.primary(dict)}`;
        unpack = `{% assign ${name} = ${pair}[${method?.name.endsWith('values') ? 1 : 0}] %}`;
      } else {
        head = `${name} in ${this.iterable(iter)}`;
        const usedAfter = (this.names.get(target.id) ?? 0) > (nameCounts(loopNode).get(target.id) ?? 0);
        if (keeps && usedAfter) unpack = `{% assign ${name} = ${name} %}`;
      }
    } else if (target.k === 'tuple' && target.items.length === 2 && target.items.every((t) => t.k === 'name')) {
      const [a, b] = target.items.map((t) => this.x.name((t as Extract<Expr, { k: 'name' }>).id)) as [string, string];
      if (iter.k === 'call' && iter.fn.k === 'attr' && ['items', 'iteritems'].includes(iter.fn.name) && iter.args.length === 0) {
        const pair = this.w.temp();
        head = `${pair} in ${this.x.primary(iter.fn.obj)}`;
        unpack = `{% assign ${a} = ${pair}[0] %}{% assign ${b} = ${pair}[1] %}`;
      } else if (iter.k === 'call' && iter.fn.k === 'name' && iter.fn.id === 'enumerate' && iter.args.length === 1 && iter.args[0]!.kind === 'pos') {
        head = `${b} in ${this.iterable(iter.args[0]!.value)}`;
        unpack = `{% assign ${a} = forloop.index0 %}`;
      } else return refuse('unpacking two loop variables from anything but d.items() or enumerate(x)', at);
    } else return refuse('this loop target', at);
    const loop: Loop = { broke: orelse ? this.w.temp() : null };
    if (loop.broke) this.w.emit(`{% assign ${loop.broke} = false %}`);
    this.w.emit(`{% for ${head} %}${unpack}`);
    this.loops.push(loop);
    body();
    this.loops.pop();
    this.w.emit('{% endfor %}');
    if (orelse) {
      this.w.emit(`{% if ${loop.broke} == false %}`);
      orelse();
      this.w.emit('{% endif %}');
    }
  }

  /** What a Liquid for can iterate: a variable or a range. */
  private iterable(e: Expr): string {
    if (e.k === 'call' && e.fn.k === 'name' && (e.fn.id === 'range' || e.fn.id === 'xrange') && e.args.every((a) => a.kind === 'pos') && e.args.length <= 2) {
      const [lo, hi] = e.args.length === 1 ? [null, e.args[0]!.value] : [e.args[0]!.value, e.args[1]!.value];
      const start = lo ? this.x.primary(lo) : '0';
      const end = hi.k === 'const' && typeof hi.v === 'bigint' ? (hi.v - 1n).toString() : this.x.hoist(`${this.x.primary(hi)} | minus: 1`);
      return `(${start}..${end})`;
    }
    return this.x.primary(e);
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
        this.x.assign(this.x.name(s.targets[0]!.id), s.value);
        return;
      }
      case 'augassign': {
        if (s.target.k !== 'name') return refuse('augmented assignment to anything but a plain name', s);
        const name = this.x.name(s.target.id);
        this.w.emit(`{% assign ${name} = ${this.x.binary(s.op, s.target, s.value, s)} %}`);
        return;
      }
      case 'if': {
        const conds = s.tests.map((b) => this.x.cond(b.test));
        s.tests.forEach((b, i) => {
          this.w.emit(i === 0 ? `{% if ${conds[i]} %}` : `{% elsif ${conds[i]} %}`);
          this.stmts(b.body);
        });
        if (s.orelse) {
          this.w.emit('{% else %}');
          this.stmts(s.orelse);
        }
        this.w.emit('{% endif %}');
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
        this.w.emit(`{% raise ${msg ? this.x.value(msg) : '""'} %}`);
        return;
      }
      case 'expr': {
        const e = s.value;
        if (e.k === 'call' && e.fn.k === 'attr' && e.fn.name === 'append' && e.fn.obj.k === 'name' && e.args.length === 1) {
          const list = this.x.name(e.fn.obj.id);
          this.w.emit(`{% assign ${list} = ${list} | push: ${this.x.primary(e.args[0]!.value)} %}`);
          return;
        }
        return refuse('an expression statement other than list.append(x)', s);
      }
      default:
        return refuse(`the Python statement "${s.k}"`, s);
    }
  }

}

/** Translate a parsed Genshi or Cheetah template into Liquid source (throws Refusal). */
export function toLiquid(parsed: ParsedTemplate): string {
  const method = parsed.methods?.[0];
  if (method) refuse(`#def ${method.name} / #block ${method.name} (Liquid has no macros; put the text in a partial and use {% render %})`, method);
  return new ToLiquid(new LiquidWriter(parsed.dialect, nameCounts(parsed.nodes))).convert(parsed.nodes);
}
