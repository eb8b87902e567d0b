/**
 * Python values as bindery's evaluator sees them. JS primitives stand for None (null), bool,
 * int (bigint: arbitrary precision, as Python) and float (number); arrays are lists. Everything
 * else is one of the small classes below, so a template can never reach a JS object's
 * prototype or any host capability.
 *
 * Where Python 2 and 3 differ, Python 2 wins (Bcfg2 1.3 runs templates on Python 2): integer
 * `/` floors, sets print as set([...]), dict.keys() returns a list.
 */
import { PyError, limitError } from './errors.js';
import { floatRepr, floatStr } from './floats.js';

export type PyValue = null | boolean | bigint | number | string | PyValue[] | PyTuple | PyDict | PySet | PyFunc | PyObject | PyException;

/** Sequences and strings may not grow past this (a template cannot exhaust memory by `'x' * 10**12`). */
export const MAX_SEQUENCE = 10_000_000;

export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

/** Keys: hashable values normalised so that 1 == 1.0 == True map to one key, as in Python. */
function hashKey(v: PyValue): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'bigint') return v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  if (v instanceof PyTuple) return '\u0000tuple:' + v.items.map((i) => keyString(hashKey(i))).join('\u0001');
  if (v instanceof PyFunc || v instanceof PyObject) return v;
  throw new PyError('TypeError', `unhashable type: '${typeName(v)}'`);
}

function keyString(k: unknown): string {
  return typeof k === 'bigint' ? `i${k}` : typeof k === 'number' ? `f${k}` : k === null ? 'n' : `s${String(k)}`;
}

export class PyDict {
  readonly map = new Map<unknown, [PyValue, PyValue]>();
  constructor(entries: Iterable<readonly [PyValue, PyValue]> = []) {
    for (const [k, v] of entries) this.set(k, v);
  }
  get(k: PyValue): PyValue | undefined {
    return this.map.get(hashKey(k))?.[1];
  }
  has(k: PyValue): boolean {
    return this.map.has(hashKey(k));
  }
  set(k: PyValue, v: PyValue): void {
    const h = hashKey(k);
    const old = this.map.get(h);
    this.map.set(h, [old ? old[0] : k, v]);
  }
  delete(k: PyValue): boolean {
    return this.map.delete(hashKey(k));
  }
  keys(): PyValue[] {
    return [...this.map.values()].map((e) => e[0]);
  }
  values(): PyValue[] {
    return [...this.map.values()].map((e) => e[1]);
  }
  entries(): [PyValue, PyValue][] {
    return [...this.map.values()];
  }
  get size(): number {
    return this.map.size;
  }
}

export class PySet {
  readonly map = new Map<unknown, PyValue>();
  constructor(items: Iterable<PyValue> = []) {
    for (const i of items) this.add(i);
  }
  add(v: PyValue): void {
    const h = hashKey(v);
    if (!this.map.has(h)) this.map.set(h, v);
  }
  has(v: PyValue): boolean {
    return this.map.has(hashKey(v));
  }
  delete(v: PyValue): boolean {
    return this.map.delete(hashKey(v));
  }
  items(): PyValue[] {
    return [...this.map.values()];
  }
  get size(): number {
    return this.map.size;
  }
}

/** What a call receives besides its arguments: the caller's scope (Genshi defs and defined()). */
export interface CallContext {
  readonly env: unknown;
}

export type Kwargs = ReadonlyMap<string, PyValue>;
export type NativeFn = (args: PyValue[], kwargs: Kwargs, ctx: CallContext) => PyValue;

export class PyFunc {
  constructor(
    readonly name: string,
    readonly call: NativeFn,
    /** A type (str, int, list, …) usable with isinstance(), when set. */
    readonly isInstance?: (v: PyValue) => boolean,
    readonly kind: 'builtin' | 'function' | 'method' | 'type' | 'exception' = isInstance ? 'type' : 'builtin',
  ) {}
}

/** An object with fixed, read-only attributes (metadata, metadata.query, Cheetah's self). */
export class PyObject {
  constructor(
    readonly typeName: string,
    readonly attrs: ReadonlyMap<string, PyValue>,
    /** Attributes the Bcfg2 object has and bindery does not, with the message that says so. */
    readonly unavailable?: ReadonlyMap<string, string>,
    /** Set for objects that are also sequences (an XML element of its children): iteration, len(), [i], truth. */
    readonly sequence?: () => readonly PyValue[],
  ) {}
}

export class PyException {
  constructor(
    readonly type: string,
    readonly message: string,
  ) {}
}

export function typeName(v: PyValue): string {
  if (v === null) return 'NoneType';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'bigint':
      return 'int';
    case 'number':
      return 'float';
    case 'string':
      return 'str';
  }
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PySet) return 'set';
  if (v instanceof PyFunc) return v.kind === 'type' ? 'type' : v.kind === 'method' ? 'instancemethod' : 'function';
  if (v instanceof PyObject) return v.typeName;
  return v.type;
}

export function truthy(v: PyValue): boolean {
  if (v === null) return false;
  switch (typeof v) {
    case 'boolean':
      return v;
    case 'bigint':
      return v !== 0n;
    case 'number':
      return v !== 0;
    case 'string':
      return v.length > 0;
  }
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof PyTuple) return v.items.length > 0;
  if (v instanceof PyDict || v instanceof PySet) return v.size > 0;
  if (v instanceof PyObject && v.sequence) return v.sequence().length > 0;
  return true;
}

export function isNumber(v: PyValue): v is boolean | bigint | number {
  return typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean';
}

/** bool → int, as Python does in arithmetic. */
export function numeric(v: boolean | bigint | number): bigint | number {
  return typeof v === 'boolean' ? (v ? 1n : 0n) : v;
}

export function toFloat(v: bigint | number): number {
  return typeof v === 'bigint' ? Number(v) : v;
}

export function eq(a: PyValue, b: PyValue): boolean {
  if (a === b) return true;
  if (isNumber(a) && isNumber(b)) {
    const x = numeric(a);
    const y = numeric(b);
    if (typeof x === 'bigint' && typeof y === 'bigint') return x === y;
    return toFloat(x) === toFloat(y);
  }
  if (Array.isArray(a) && Array.isArray(b)) return seqEq(a, b);
  if (a instanceof PyTuple && b instanceof PyTuple) return seqEq(a.items, b.items);
  if (a instanceof PyDict && b instanceof PyDict) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a.entries()) {
      const w = b.get(k);
      if (w === undefined || !eq(v, w)) return false;
    }
    return true;
  }
  if (a instanceof PySet && b instanceof PySet) return a.size === b.size && a.items().every((i) => b.has(i));
  if (a instanceof PyException && b instanceof PyException) return a.type === b.type && a.message === b.message;
  return false;
}

function seqEq(a: readonly PyValue[], b: readonly PyValue[]): boolean {
  return a.length === b.length && a.every((v, i) => eq(v, b[i]!));
}

/** Python 2 ordering: numbers and strings compare naturally, sequences lexicographically, mixed types by type name with None first. */
export function compare(a: PyValue, b: PyValue): number {
  if (isNumber(a) && isNumber(b)) {
    const x = numeric(a);
    const y = numeric(b);
    if (typeof x === 'bigint' && typeof y === 'bigint') return x < y ? -1 : x > y ? 1 : 0;
    const fx = toFloat(x);
    const fy = toFloat(y);
    return fx < fy ? -1 : fx > fy ? 1 : 0;
  }
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (Array.isArray(a) && Array.isArray(b)) return seqCompare(a, b);
  if (a instanceof PyTuple && b instanceof PyTuple) return seqCompare(a.items, b.items);
  if (a instanceof PySet && b instanceof PySet) {
    if (eq(a, b)) return 0;
    if (a.items().every((i) => b.has(i))) return -1;
    if (b.items().every((i) => a.has(i))) return 1;
    return 1;
  }
  if (a === null) return b === null ? 0 : -1;
  if (b === null) return 1;
  if (isNumber(a)) return -1;
  if (isNumber(b)) return 1;
  const ta = typeName(a);
  const tb = typeName(b);
  if (ta === tb) throw new PyError('TypeError', `cannot order two ${ta} values`);
  return ta < tb ? -1 : 1;
}

function seqCompare(a: readonly PyValue[], b: readonly PyValue[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (!eq(a[i]!, b[i]!)) return compare(a[i]!, b[i]!);
  }
  return a.length - b.length;
}

function strRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + quote;
}

/**
 * repr() within MAX_SEQUENCE characters: a list that holds itself twice over (a = [a, a], …)
 * doubles its repr at every level, so the text is built piece by piece and stopped early.
 */
export function repr(v: PyValue): string {
  const w = new ReprWriter();
  w.value(v);
  return w.text;
}

class ReprWriter {
  text = '';

  private put(s: string): void {
    this.text += s;
    if (this.text.length > MAX_SEQUENCE) throw limitError('MemoryError', `the text of a value passed ${MAX_SEQUENCE} characters (does a list or dict contain itself, or the same list many times?)`);
  }

  private items(open: string, list: readonly PyValue[], close: string): void {
    this.put(open);
    for (let i = 0; i < list.length; i++) {
      if (i) this.put(', ');
      this.value(list[i]!);
    }
    this.put(close);
  }

  value(v: PyValue): void {
    if (typeof v === 'string') this.put(strRepr(v));
    else if (typeof v === 'number') this.put(floatRepr(v));
    else if (Array.isArray(v)) this.items('[', v, ']');
    else if (v instanceof PyTuple) this.items('(', v.items, v.items.length === 1 ? ',)' : ')');
    else if (v instanceof PySet) this.items('set([', v.items(), '])');
    else if (v instanceof PyDict) {
      this.put('{');
      let first = true;
      for (const [k, x] of v.map.values()) {
        if (!first) this.put(', ');
        first = false;
        this.value(k);
        this.put(': ');
        this.value(x);
      }
      this.put('}');
    } else if (v instanceof PyException) this.put(`${v.type}(${strRepr(v.message)})`);
    else this.put(str(v));
  }
}

export function str(v: PyValue): string {
  if (v === null) return 'None';
  switch (typeof v) {
    case 'boolean':
      return v ? 'True' : 'False';
    case 'bigint':
      return v.toString();
    case 'number':
      return floatStr(v);
    case 'string':
      return v;
  }
  if (v instanceof PyFunc) return v.kind === 'type' ? `<type '${v.name}'>` : `<function ${v.name}>`;
  if (v instanceof PyObject) return `<${v.typeName} object>`;
  if (v instanceof PyException) return v.message;
  return repr(v);
}

/** Iterate any iterable value (strings by character, dicts by key). */
export function iterate(v: PyValue): PyValue[] {
  if (Array.isArray(v)) return v.slice();
  if (v instanceof PyTuple) return v.items.slice();
  if (typeof v === 'string') return [...v];
  if (v instanceof PyDict) return v.keys();
  if (v instanceof PySet) return v.items();
  if (v instanceof PyObject && v.sequence) return v.sequence().slice();
  throw new PyError('TypeError', `'${typeName(v)}' object is not iterable`);
}

export function length(v: PyValue): number {
  if (typeof v === 'string') return [...v].length;
  if (Array.isArray(v)) return v.length;
  if (v instanceof PyTuple) return v.items.length;
  if (v instanceof PyDict || v instanceof PySet) return v.size;
  if (v instanceof PyObject && v.sequence) return v.sequence().length;
  throw new PyError('TypeError', `object of type '${typeName(v)}' has no len()`);
}

export function contains(container: PyValue, item: PyValue): boolean {
  if (typeof container === 'string') {
    if (typeof item !== 'string') throw new PyError('TypeError', `'in <string>' requires string as left operand, not ${typeName(item)}`);
    return container.includes(item);
  }
  if (container instanceof PyDict) return container.has(item);
  if (container instanceof PySet) return container.has(item);
  if (Array.isArray(container)) return container.some((x) => eq(x, item));
  if (container instanceof PyTuple) return container.items.some((x) => eq(x, item));
  throw new PyError('TypeError', `argument of type '${typeName(container)}' is not iterable`);
}

export function asInt(v: PyValue, what = 'an integer'): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  throw new PyError('TypeError', `${what} is required, got ${typeName(v)}`);
}

export function asIndex(v: PyValue): number {
  return Number(asInt(v, 'an integer index'));
}

export function asStr(v: PyValue, what = 'argument'): string {
  if (typeof v !== 'string') throw new PyError('TypeError', `${what} must be str, not ${typeName(v)}`);
  return v;
}

/** The items of a list or tuple (for unpacking and sequence functions). */
export function sequence(v: PyValue): readonly PyValue[] {
  if (Array.isArray(v)) return v;
  if (v instanceof PyTuple) return v.items;
  return iterate(v);
}
