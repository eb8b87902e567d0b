/** Python operators and string formatting (`%` and str.format) over bindery's values. */
import { PyError, limitError } from './errors.js';
import { floatStr, formatFloat } from './floats.js';
import {
  MAX_SEQUENCE, PyDict, PySet, PyTuple, asInt, compare, contains, eq, isNumber, numeric, repr, str, toFloat, typeName, type PyValue,
} from './values.js';


/** A field width or precision of `%` and format(): far past what a configuration file needs. */
const MAX_FIELD = 100_000;

function field(n: number): number {
  if (n > MAX_FIELD) throw limitError('MemoryError', `a field width or precision of ${n} is too large`);
  return n;
}

/** The length of a sequence about to be built, refused past MAX_SEQUENCE. */
export function sized(n: number): number {
  if (n > MAX_SEQUENCE) throw limitError('MemoryError', 'result too large');
  return n;
}

function typeError(op: string, a: PyValue, b: PyValue): never {
  throw new PyError('TypeError', `unsupported operand type(s) for ${op}: '${typeName(a)}' and '${typeName(b)}'`);
}

function repeatCount(n: PyValue, unit: number): number {
  const count = Number(asInt(n, "can't multiply sequence by non-int; an integer"));
  if (count > 0) sized(count * unit);
  return Math.max(0, count);
}

/** Integers are exact, but not past a million bits (300,000 digits): `9 ** 9 ** 9` is refused, not computed. */
const MAX_INT_BITS = 1_000_000;

function bits(x: bigint): number {
  return x === 0n ? 0 : (x < 0n ? -x : x).toString(16).length * 4;
}

function bounded(estimate: number): void {
  if (estimate > MAX_INT_BITS) throw limitError('MemoryError', 'integer result too large');
}

function floorDiv(x: bigint, y: bigint): bigint {
  if (y === 0n) throw new PyError('ZeroDivisionError', 'integer division or modulo by zero');
  const q = x / y;
  return (x % y !== 0n) && ((x < 0n) !== (y < 0n)) ? q - 1n : q;
}

function pyMod(x: bigint | number, y: bigint | number): bigint | number {
  if (typeof x === 'bigint' && typeof y === 'bigint') {
    if (y === 0n) throw new PyError('ZeroDivisionError', 'integer division or modulo by zero');
    return x - floorDiv(x, y) * y;
  }
  const a = toFloat(x);
  const b = toFloat(y);
  if (b === 0) throw new PyError('ZeroDivisionError', 'float modulo');
  const r = a % b;
  return r !== 0 && (r < 0) !== (b < 0) ? r + b : r;
}

function arith(op: string, x: bigint | number, y: bigint | number): PyValue {
  if (typeof x === 'bigint' && typeof y === 'bigint') {
    switch (op) {
      case '+':
        return x + y;
      case '-':
        return x - y;
      case '*':
        bounded(bits(x) + bits(y));
        return x * y;
      case '/': // Python 2: integer division floors
      case '//':
        return floorDiv(x, y);
      case '%':
        return pyMod(x, y);
      case '**':
        if (y < 0n) return Math.pow(Number(x), Number(y));
        if (x > 1n || x < -1n) bounded(bits(x) * Number(y));
        return x ** y;
      case '<<':
        if (y < 0n) throw new PyError('ValueError', 'negative shift count');
        bounded(bits(x) + Number(y));
        return x << y;
      case '>>':
        if (y < 0n) throw new PyError('ValueError', 'negative shift count');
        return x >> y;
      case '&':
        return x & y;
      case '|':
        return x | y;
      case '^':
        return x ^ y;
    }
  }
  const a = toFloat(x);
  const b = toFloat(y);
  switch (op) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      if (b === 0) throw new PyError('ZeroDivisionError', 'float division by zero');
      return a / b;
    case '//':
      if (b === 0) throw new PyError('ZeroDivisionError', 'float divmod()');
      return Math.floor(a / b);
    case '%':
      return pyMod(a, b);
    case '**':
      return Math.pow(a, b);
  }
  throw new PyError('TypeError', `unsupported operand type(s) for ${op}: 'float'`);
}

export function binary(op: string, a: PyValue, b: PyValue): PyValue {
  if (isNumber(a) && isNumber(b)) return arith(op, numeric(a), numeric(b));
  switch (op) {
    case '+':
      if (typeof a === 'string' && typeof b === 'string') {
        sized(a.length + b.length);
        return a + b;
      }
      if (Array.isArray(a) && Array.isArray(b)) {
        sized(a.length + b.length);
        return a.concat(b);
      }
      if (a instanceof PyTuple && b instanceof PyTuple) {
        sized(a.items.length + b.items.length);
        return new PyTuple(a.items.concat(b.items));
      }
      break;
    case '*': {
      if (typeof a === 'string' && isNumber(b)) return a.repeat(repeatCount(b, a.length));
      if (typeof b === 'string' && isNumber(a)) return b.repeat(repeatCount(a, b.length));
      const seq = Array.isArray(a) || a instanceof PyTuple ? a : Array.isArray(b) || b instanceof PyTuple ? b : null;
      const n = seq === a ? b : a;
      if (seq && isNumber(n)) {
        const items = Array.isArray(seq) ? seq : (seq as PyTuple).items;
        const out: PyValue[] = [];
        for (let i = repeatCount(n, items.length); i > 0; i--) out.push(...items);
        return Array.isArray(seq) ? out : new PyTuple(out);
      }
      break;
    }
    case '%':
      if (typeof a === 'string') return percentFormat(a, b);
      break;
    case '-':
      if (a instanceof PySet && b instanceof PySet) return new PySet(a.items().filter((i) => !b.has(i)));
      break;
    case '|':
      if (a instanceof PySet && b instanceof PySet) return new PySet([...a.items(), ...b.items()]);
      break;
    case '&':
      if (a instanceof PySet && b instanceof PySet) return new PySet(a.items().filter((i) => b.has(i)));
      break;
    case '^':
      if (a instanceof PySet && b instanceof PySet) return new PySet([...a.items().filter((i) => !b.has(i)), ...b.items().filter((i) => !a.has(i))]);
      break;
  }
  return typeError(op, a, b);
}

export function unary(op: string, v: PyValue): PyValue {
  if (isNumber(v)) {
    const n = numeric(v);
    if (op === '-') return -n;
    if (op === '+') return n;
    if (op === '~' && typeof n === 'bigint') return ~n;
  }
  throw new PyError('TypeError', `bad operand type for unary ${op}: '${typeName(v)}'`);
}

function identical(a: PyValue, b: PyValue): boolean {
  if (a === b) return true;
  // Small ints and equal strings are the same object in CPython in practice.
  if ((typeof a === 'bigint' && typeof b === 'bigint') || (typeof a === 'string' && typeof b === 'string')) return a === b;
  return false;
}

export function compareOp(op: string, a: PyValue, b: PyValue): boolean {
  switch (op) {
    case '==':
      return eq(a, b);
    case '!=':
      return !eq(a, b);
    case '<':
      return compare(a, b) < 0;
    case '>':
      return compare(a, b) > 0;
    case '<=':
      return compare(a, b) <= 0;
    case '>=':
      return compare(a, b) >= 0;
    case 'in':
      return contains(b, a);
    case 'not in':
      return !contains(b, a);
    case 'is':
      return identical(a, b);
    case 'is not':
      return !identical(a, b);
  }
  throw new PyError('SyntaxError', `unknown comparison ${op}`);
}

// ---- formatting ------------------------------------------------------------------------------

function toIntValue(v: PyValue, conv: string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  throw new PyError('TypeError', `%${conv} format: a number is required, not ${typeName(v)}`);
}

function toFloatValue(v: PyValue, conv: string): number {
  if (isNumber(v)) return toFloat(numeric(v));
  throw new PyError('TypeError', `%${conv} format: a number is required, not ${typeName(v)}`);
}

function pad(body: string, sign: string, width: number, left: boolean, zero: boolean): string {
  const len = sign.length + body.length;
  if (len >= width) return sign + body;
  if (left) return sign + body + ' '.repeat(width - len);
  if (zero) return sign + '0'.repeat(width - len) + body;
  return ' '.repeat(width - len) + sign + body;
}

const PERCENT_RE = /%(?:\(([^)]*)\))?([-#0 +]*)(\*|\d+)?(?:\.(\*|\d*))?[hlL]?([diouxXeEfFgGcrs%])/y;

/** `fmt % args` */
function percentFormat(fmt: string, args: PyValue): string {
  const positional = args instanceof PyTuple ? args.items : [args];
  const mapping = args instanceof PyDict ? args : null;
  let next = 0;
  const take = (): PyValue => {
    if (next >= positional.length) throw new PyError('TypeError', 'not enough arguments for format string');
    return positional[next++]!;
  };
  let out = '';
  let last = 0;
  for (let at = fmt.indexOf('%'); at >= 0; at = fmt.indexOf('%', last)) {
    out += fmt.slice(last, at);
    PERCENT_RE.lastIndex = at;
    const m = PERCENT_RE.exec(fmt);
    if (!m) {
      const c = fmt[at + 1];
      throw new PyError('ValueError', c === undefined ? 'incomplete format' : `unsupported format character '${c}'`);
    }
    last = at + m[0].length;
    out += convert(m);
  }
  out += fmt.slice(last);
  if (!mapping && next < positional.length) throw new PyError('TypeError', 'not all arguments converted during string formatting');
  return out;

  function convert(m: RegExpExecArray): string {
    const [, key, flags = '', widthS, precS, conv] = m;
    if (conv === '%') return '%';
    let width = field(widthS === '*' ? Number(asInt(take())) : widthS ? Number(widthS) : 0);
    const precision = precS === '*' ? field(Number(asInt(take()))) : precS !== undefined ? field(Number(precS || '0')) : undefined;
    let value: PyValue;
    if (key !== undefined) {
      if (!mapping) throw new PyError('TypeError', 'format requires a mapping');
      const v = mapping.get(key);
      if (v === undefined) throw new PyError('KeyError', repr(key));
      value = v;
    } else value = take();
    const left = flags.includes('-') || width < 0;
    width = Math.abs(width);
    const zero = flags.includes('0') && !left;
    const alt = flags.includes('#');
    const signOf = (negative: boolean) => (negative ? '-' : flags.includes('+') ? '+' : flags.includes(' ') ? ' ' : '');
    switch (conv) {
      case 's':
      case 'r': {
        let body = conv === 's' ? str(value) : repr(value);
        if (precision !== undefined) body = body.slice(0, precision);
        return pad(body, '', width, left, false);
      }
      case 'c':
        return pad(typeof value === 'string' ? value : String.fromCodePoint(Number(toIntValue(value, 'c'))), '', width, left, false);
      case 'd':
      case 'i':
      case 'u':
      case 'o':
      case 'x':
      case 'X': {
        const n = toIntValue(value, conv);
        const abs = n < 0n ? -n : n;
        let body = conv === 'o' ? abs.toString(8) : conv === 'x' ? abs.toString(16) : conv === 'X' ? abs.toString(16).toUpperCase() : abs.toString();
        if (precision !== undefined) body = body.padStart(precision, '0');
        if (alt && conv === 'o') body = '0' + body;
        if (alt && (conv === 'x' || conv === 'X')) body = (conv === 'x' ? '0x' : '0X') + body;
        return pad(body, signOf(n < 0n), width, left, zero);
      }
      default: {
        const x = toFloatValue(value, conv!);
        return pad(formatFloat(Math.abs(x), conv!, precision, alt), signOf(x < 0 || Object.is(x, -0)), width, left, zero);
      }
    }
  }
}

/** format(value, spec): the mini-language of str.format. */
export function formatSpec(value: PyValue, spec: string): string {
  if (spec === '') return str(value);
  const m = /^(?:(.)?([<>=^]))?([-+ ])?(#)?(0)?(\d+)?(,)?(?:\.(\d+))?([bcdeEfFgGnosxX%])?$/s.exec(spec);
  if (!m) throw new PyError('ValueError', `invalid format specifier '${spec}'`);
  const [, fillC, alignC, signC = '-', alt, zero, widthS, comma, precS, type] = m;
  const width = field(widthS ? Number(widthS) : 0);
  const precision = precS !== undefined ? field(Number(precS)) : undefined;
  const fill = fillC ?? (zero && !alignC ? '0' : ' ');
  const align = alignC ?? (zero ? '=' : typeof value === 'string' ? '<' : isNumber(value) ? '>' : '<');
  let sign = '';
  let body: string;
  if (typeof value === 'string' || (!isNumber(value) && !type)) {
    body = str(value);
    if (precision !== undefined) body = body.slice(0, precision);
    if (type && type !== 's') throw new PyError('ValueError', `unknown format code '${type}' for object of type '${typeName(value)}'`);
  } else {
    if (!isNumber(value)) throw new PyError('ValueError', `unknown format code '${type}' for object of type '${typeName(value)}'`);
    const n = numeric(value);
    // 'n' is 'g' for a float; no type at all is Python 2's str() (12 significant digits).
    const t = typeof n === 'number' && (type === undefined || type === 'n') ? 'g' : (type ?? 'd');
    const negative = typeof n === 'bigint' ? n < 0n : n < 0 || Object.is(n, -0);
    sign = negative ? '-' : signC === '+' ? '+' : signC === ' ' ? ' ' : '';
    if ('dboxXnc'.includes(t)) {
      if (typeof n !== 'bigint') throw new PyError('ValueError', `unknown format code '${t}' for object of type 'float'`);
      const abs = n < 0n ? -n : n;
      body = t === 'b' ? abs.toString(2) : t === 'o' ? abs.toString(8) : t === 'x' ? abs.toString(16) : t === 'X' ? abs.toString(16).toUpperCase() : t === 'c' ? String.fromCodePoint(Number(abs)) : abs.toString();
      if (alt && 'box'.includes(t.toLowerCase())) body = '0' + t + body;
    } else if (t === '%') {
      body = formatFloat(Math.abs(toFloat(n)) * 100, 'f', precision, !!alt) + '%';
    } else if (type === undefined && typeof n === 'number') {
      body = floatStr(Math.abs(n), precision);
    } else {
      body = formatFloat(Math.abs(toFloat(n)), t, precision, !!alt);
    }
    if (comma) body = body.replace(/^(\d+)/, (d) => d.replace(/\B(?=(\d{3})+$)/g, ','));
  }
  const len = sign.length + body.length;
  if (len >= width) return sign + body;
  const padding = width - len;
  switch (align) {
    case '<':
      return sign + body + fill.repeat(padding);
    case '^':
      return fill.repeat(Math.floor(padding / 2)) + sign + body + fill.repeat(padding - Math.floor(padding / 2));
    case '=':
      return sign + fill.repeat(padding) + body;
    default:
      return fill.repeat(padding) + sign + body;
  }
}
