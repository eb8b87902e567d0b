/** The built-in functions, types and exceptions templates may use. Nothing here reaches the host. */
import { PyError, limitError, outsideSubset } from './errors.js';
import { scaledRound } from './floats.js';
import { formatSpec } from './ops.js';
import { NO_KWARGS, arity, call, getAttribute, sortValues } from './methods.js';
import {
  PyDict, PyException, PyFunc, PySet, PyTuple, asIndex, asInt, compare, isNumber, iterate, length, numeric, repr, sequence, str,
  toFloat, truthy, typeName, type CallContext, type Kwargs, type PyValue,
} from './values.js';

/** range() longer than this is refused (it would only feed a loop the step budget stops anyway). */
const MAX_RANGE = 1_000_000;

type Fn = (args: PyValue[], kwargs: Kwargs, ctx: CallContext) => PyValue;

function fn(name: string, min: number, max: number, body: Fn, kw: readonly string[] = []): PyFunc {
  return new PyFunc(name, (args, kwargs, ctx) => {
    arity(name, args, min, max, kwargs, kw);
    return body(args, kwargs, ctx);
  });
}

function type(name: string, min: number, max: number, isInstance: (v: PyValue) => boolean, body: Fn, kw: readonly string[] = []): PyFunc {
  return new PyFunc(
    name,
    (args, kwargs, ctx) => {
      arity(name, args, min, max, kwargs, kw);
      return body(args, kwargs, ctx);
    },
    isInstance,
  );
}

function parseIntLiteral(s: string, base: number): bigint {
  let t = s.trim().replace(/[lL]$/, '').replace(/_/g, '');
  let sign = 1n;
  if (t.startsWith('-') || t.startsWith('+')) {
    if (t[0] === '-') sign = -1n;
    t = t.slice(1);
  }
  let b = base;
  const prefixed = /^0([xXoObB])/.exec(t);
  if (prefixed && (b === 0 || b === { x: 16, o: 8, b: 2 }[prefixed[1]!.toLowerCase() as 'x' | 'o' | 'b'])) {
    b = { x: 16, o: 8, b: 2 }[prefixed[1]!.toLowerCase() as 'x' | 'o' | 'b'];
    t = t.slice(2);
  }
  if (b === 0) b = /^0[0-7]+$/.test(t) ? 8 : 10;
  const digits = '0123456789abcdefghijklmnopqrstuvwxyz'.slice(0, b);
  if (!t || ![...t.toLowerCase()].every((c) => digits.includes(c))) throw new PyError('ValueError', `invalid literal for int() with base ${base}: ${repr(s)}`);
  let n = 0n;
  for (const c of t.toLowerCase()) n = n * BigInt(b) + BigInt(digits.indexOf(c));
  return sign * n;
}

function toInt(v: PyValue, base?: PyValue): bigint {
  if (base !== undefined) {
    if (typeof v !== 'string') throw new PyError('TypeError', "int() can't convert non-string with explicit base");
    return parseIntLiteral(v, Number(asInt(base)));
  }
  if (typeof v === 'string') return parseIntLiteral(v, 10);
  if (typeof v === 'bigint') return v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new PyError('ValueError', 'cannot convert float to integer');
    return BigInt(Math.trunc(v));
  }
  throw new PyError('TypeError', `int() argument must be a string or a number, not '${typeName(v)}'`);
}

function toFloatValue(v: PyValue): number {
  if (isNumber(v)) return toFloat(numeric(v));
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (/^[+-]?(inf|infinity)$/.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
    if (/^[+-]?nan$/.test(t)) return NaN;
    if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) return Number(t);
    throw new PyError('ValueError', `could not convert string to float: ${repr(v)}`);
  }
  throw new PyError('TypeError', `float() argument must be a string or a number, not '${typeName(v)}'`);
}

function range(args: PyValue[]): bigint[] {
  const [start, stop, step] = args.length === 1 ? [0n, asInt(args[0]!), 1n] : [asInt(args[0]!), asInt(args[1]!), args[2] === undefined ? 1n : asInt(args[2])];
  if (step === 0n) throw new PyError('ValueError', 'range() step argument must not be zero');
  const count = step > 0n ? (stop - start + step - 1n) / step : (start - stop - step - 1n) / -step;
  if (count > BigInt(MAX_RANGE)) throw limitError('MemoryError', `range() of more than ${MAX_RANGE} numbers`);
  const out: bigint[] = [];
  for (let i = start; step > 0n ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

function extreme(name: string, sign: number): PyFunc {
  return fn(
    name,
    1,
    Infinity,
    (args, kw, ctx) => {
      const items = args.length === 1 ? iterate(args[0]!) : args;
      if (!items.length) {
        const d = kw.get('default');
        if (d !== undefined) return d;
        throw new PyError('ValueError', `${name}() arg is an empty sequence`);
      }
      const key = kw.get('key') ?? null;
      const k = (v: PyValue) => (key === null ? v : call(key, [v], NO_KWARGS, ctx));
      let best: PyValue = items[0] as PyValue;
      let bestKey = k(best);
      for (const v of items.slice(1)) {
        const vk = k(v);
        if (sign * compare(vk, bestKey) > 0) {
          best = v;
          bestKey = vk;
        }
      }
      return best;
    },
    ['key', 'default'],
  );
}

/** Python 2 round(): half away from zero on the exact value, always a float. */
function round(x: number, digits: number): number {
  if (!Number.isFinite(x)) return x;
  const n = scaledRound(Math.abs(x), digits, 'away');
  return (x < 0 ? -1 : 1) * Number(`${n}e${-digits}`);
}

function exception(name: string): PyFunc {
  return new PyFunc(name, (args) => new PyException(name, args.length ? str(args[0]!) : ''), (v) => v instanceof PyException && (name === 'Exception' || v.type === name), 'exception');
}

const isStr = (v: PyValue) => typeof v === 'string';

/** Python 2 builtins a template cannot use: named as such rather than as undefined variables. */
export const UNSUPPORTED_BUILTINS: ReadonlySet<string> = new Set(
  ('__import__ apply buffer bytearray bytes callable classmethod cmp coerce compile complex delattr dir eval execfile exit file ' +
    'globals hash help id input intern issubclass iter locals memoryview next object open property quit raw_input reduce reload ' +
    'setattr slice staticmethod super type vars').split(' '),
);

const EXCEPTIONS = ['TemplateError', 'UndefinedError', 'Exception', 'LookupError', 'ArithmeticError', 'ZeroDivisionError', 'ValueError', 'KeyError', 'IndexError', 'TypeError', 'AttributeError', 'RuntimeError', 'AssertionError', 'NameError'];

/** The builtins every template sees. */
export function makeBuiltins(): ReadonlyMap<string, PyValue> {
  const strType = type('str', 0, 1, isStr, (a) => (a.length ? str(a[0]!) : ''));
  const intType = type('int', 0, 2, (v) => typeof v === 'bigint' || typeof v === 'boolean', (a) => (a.length ? toInt(a[0]!, a[1]) : 0n));
  const b: [string, PyValue][] = [
    ['len', fn('len', 1, 1, (a) => BigInt(length(a[0]!)))],
    ['str', strType],
    ['unicode', strType],
    ['basestring', new PyFunc('basestring', () => {
      throw new PyError('TypeError', 'The basestring type cannot be instantiated');
    }, isStr)],
    ['repr', fn('repr', 1, 1, (a) => repr(a[0]!))],
    ['int', intType],
    ['long', intType],
    ['float', type('float', 0, 1, (v) => typeof v === 'number', (a) => (a.length ? toFloatValue(a[0]!) : 0))],
    ['bool', type('bool', 0, 1, (v) => typeof v === 'boolean', (a) => (a.length ? truthy(a[0]!) : false))],
    ['list', type('list', 0, 1, (v) => Array.isArray(v), (a) => (a.length ? iterate(a[0]!) : []))],
    ['tuple', type('tuple', 0, 1, (v) => v instanceof PyTuple, (a) => new PyTuple(a.length ? iterate(a[0]!) : []))],
    ['set', type('set', 0, 1, (v) => v instanceof PySet, (a) => new PySet(a.length ? iterate(a[0]!) : []))],
    ['frozenset', type('frozenset', 0, 1, (v) => v instanceof PySet, (a) => new PySet(a.length ? iterate(a[0]!) : []))],
    [
      'dict',
      new PyFunc(
        'dict',
        (a, kw) => {
          arity('dict', a, 0, 1);
          const d = new PyDict();
          if (a[0] instanceof PyDict) for (const [k, v] of a[0].entries()) d.set(k, v);
          else if (a[0] !== undefined)
            for (const pair of iterate(a[0])) {
              const kv = sequence(pair);
              if (kv.length !== 2) throw new PyError('ValueError', 'dictionary update sequence element has wrong length');
              d.set(kv[0]!, kv[1]!);
            }
          for (const [k, v] of kw) d.set(k, v);
          return d;
        },
        (v) => v instanceof PyDict,
      ),
    ],
    ['sorted', fn('sorted', 1, 1, (a, kw, ctx) => sortValues(iterate(a[0]!), kw.get('key') ?? null, kw.get('reverse') ?? false, ctx), ['key', 'reverse'])],
    ['reversed', fn('reversed', 1, 1, (a) => iterate(a[0]!).reverse())],
    [
      'enumerate',
      fn('enumerate', 1, 2, (a, kw) => {
        const start = asInt(a[1] ?? kw.get('start') ?? 0n);
        return iterate(a[0]!).map((v, i) => new PyTuple([start + BigInt(i), v]));
      }, ['start']),
    ],
    [
      'zip',
      fn('zip', 0, Infinity, (a) => {
        const lists = a.map(iterate);
        const n = lists.length ? Math.min(...lists.map((l) => l.length)) : 0;
        return Array.from({ length: n }, (_x, i) => new PyTuple(lists.map((l) => l[i]!)));
      }),
    ],
    ['range', fn('range', 1, 3, range)],
    ['xrange', fn('xrange', 1, 3, range)],
    ['min', extreme('min', -1)],
    ['max', extreme('max', 1)],
    [
      'sum',
      fn('sum', 1, 2, (a) => {
        let total: PyValue = a[1] ?? 0n;
        for (const v of iterate(a[0]!)) {
          if (!isNumber(v) || !isNumber(total)) throw new PyError('TypeError', `unsupported operand type(s) for +: '${typeName(total)}' and '${typeName(v)}'`);
          const x = numeric(total);
          const y = numeric(v);
          total = typeof x === 'bigint' && typeof y === 'bigint' ? x + y : toFloat(x) + toFloat(y);
        }
        return total;
      }),
    ],
    [
      'abs',
      fn('abs', 1, 1, (a) => {
        const v = a[0]!;
        if (!isNumber(v)) throw new PyError('TypeError', `bad operand type for abs(): '${typeName(v)}'`);
        const n = numeric(v);
        return typeof n === 'bigint' ? (n < 0n ? -n : n) : Math.abs(n);
      }),
    ],
    ['any', fn('any', 1, 1, (a) => iterate(a[0]!).some(truthy))],
    ['all', fn('all', 1, 1, (a) => iterate(a[0]!).every(truthy))],
    [
      'map',
      fn('map', 2, Infinity, (a, _kw, ctx) => {
        const lists = a.slice(1).map(iterate);
        const n = Math.max(...lists.map((l) => l.length));
        return Array.from({ length: n }, (_x, i) => {
          const args = lists.map((l) => l[i] ?? null);
          return a[0] === null ? (args.length === 1 ? args[0]! : new PyTuple(args)) : call(a[0]!, args, NO_KWARGS, ctx);
        });
      }),
    ],
    [
      'filter',
      fn('filter', 2, 2, (a, _kw, ctx) => {
        const items = iterate(a[1]!).filter((v) => truthy(a[0] === null ? v : call(a[0]!, [v], NO_KWARGS, ctx)));
        return typeof a[1] === 'string' ? items.join('') : a[1] instanceof PyTuple ? new PyTuple(items) : items;
      }),
    ],
    [
      'isinstance',
      fn('isinstance', 2, 2, (a) => {
        const types = a[1] instanceof PyTuple ? a[1].items : [a[1]!];
        return types.some((t) => {
          if (!(t instanceof PyFunc) || !t.isInstance) throw new PyError('TypeError', 'isinstance() arg 2 must be a type or tuple of types');
          return t.isInstance(a[0]!);
        });
      }),
    ],
    ['hasattr', fn('hasattr', 2, 2, (a) => getAttribute(a[0]!, str(a[1]!)) !== undefined)],
    [
      'getattr',
      fn('getattr', 2, 3, (a) => {
        const v = getAttribute(a[0]!, str(a[1]!));
        if (v !== undefined) return v;
        if (a[2] !== undefined) return a[2];
        throw new PyError('AttributeError', `'${typeName(a[0]!)}' object has no attribute '${str(a[1]!)}'`);
      }),
    ],
    [
      'round',
      fn('round', 1, 2, (a) => {
        if (!isNumber(a[0]!)) throw new PyError('TypeError', 'a float is required');
        return round(toFloat(numeric(a[0] as bigint | number | boolean)), a[1] === undefined ? 0 : asIndex(a[1]));
      }),
    ],
    ['ord', fn('ord', 1, 1, (a) => {
      const s = a[0];
      if (typeof s !== 'string' || [...s].length !== 1) throw new PyError('TypeError', 'ord() expected a character');
      return BigInt(s.codePointAt(0)!);
    })],
    ['chr', fn('chr', 1, 1, (a) => String.fromCodePoint(asIndex(a[0]!)))],
    ['unichr', fn('unichr', 1, 1, (a) => String.fromCodePoint(asIndex(a[0]!)))],
    ['hex', fn('hex', 1, 1, (a) => {
      const n = asInt(a[0]!);
      return (n < 0n ? '-0x' : '0x') + (n < 0n ? -n : n).toString(16);
    })],
    ['oct', fn('oct', 1, 1, (a) => {
      const n = asInt(a[0]!);
      return n === 0n ? '0' : (n < 0n ? '-0' : '0') + (n < 0n ? -n : n).toString(8);
    })],
    ['divmod', fn('divmod', 2, 2, (a) => {
      const [x, y] = a as [PyValue, PyValue];
      if (typeof x === 'bigint' && typeof y === 'bigint') {
        if (y === 0n) throw new PyError('ZeroDivisionError', 'integer division or modulo by zero');
        let q = x / y;
        if (x % y !== 0n && (x < 0n) !== (y < 0n)) q -= 1n;
        return new PyTuple([q, x - q * y]);
      }
      throw outsideSubset('TypeError', 'divmod() of non-integers');
    })],
    ['format', fn('format', 1, 2, (a) => formatSpec(a[0]!, a[1] === undefined ? '' : str(a[1])))],
  ];
  for (const name of EXCEPTIONS) b.push([name, exception(name)]);
  return new Map(b);
}

