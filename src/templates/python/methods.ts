/** Attributes and methods of the built-in types (str, list, dict, set, tuple) and of PyObjects. */
import { PyError } from './errors.js';
import { formatSpec, sized } from './ops.js';
import {
  PyDict, PyException, PyFunc, PyObject, PySet, PyTuple, asIndex, asInt, asStr, compare, eq, iterate, repr, sequence, str, truthy, typeName,
  type CallContext, type Kwargs, type PyValue,
} from './values.js';

export function call(fn: PyValue, args: PyValue[], kwargs: Kwargs, ctx: CallContext): PyValue {
  if (fn instanceof PyFunc) return fn.call(args, kwargs, ctx);
  throw new PyError('TypeError', `'${typeName(fn)}' object is not callable`);
}

export const NO_KWARGS: Kwargs = new Map();

/** Check a call's arity; kwargs are accepted only where named. */
export function arity(name: string, args: PyValue[], min: number, max: number, kwargs: Kwargs = NO_KWARGS, allowed: readonly string[] = []): void {
  for (const k of kwargs.keys()) if (!allowed.includes(k)) throw new PyError('TypeError', `${name}() got an unexpected keyword argument '${k}'`);
  if (args.length < min || args.length > max) {
    const want = min === max ? `exactly ${min}` : args.length < min ? `at least ${min}` : `at most ${max}`;
    throw new PyError('TypeError', `${name}() takes ${want} argument${(args.length < min ? min : max) === 1 ? '' : 's'} (${args.length} given)`);
  }
}

function method(owner: PyValue, name: string, fn: (args: PyValue[], kwargs: Kwargs, ctx: CallContext) => PyValue): PyFunc {
  return new PyFunc(`${typeName(owner)}.${name}`, fn, undefined, 'method');
}

/** list.extend / list += (bounded, and without spreading a long list into call arguments). */
export function extendList(l: PyValue[], items: readonly PyValue[]): void {
  sized(l.length + items.length);
  for (const x of items) l.push(x);
}

/** Sort keys with Python's stable sort (reverse keeps equal items in order, as Python does). */
export function sortValues(items: PyValue[], key: PyValue, reverse: PyValue, ctx: CallContext): PyValue[] {
  const keyed = items.map((v) => ({ v, k: key === null || key === undefined ? v : call(key, [v], NO_KWARGS, ctx) }));
  const sign = truthy(reverse) ? -1 : 1;
  keyed.sort((a, b) => sign * compare(a.k, b.k));
  return keyed.map((e) => e.v);
}

// ---- str ----------------------------------------------------------------------------------

const WHITESPACE = ' \t\n\r\x0b\x0c';

function stripChars(s: string, chars: PyValue, left: boolean, right: boolean): string {
  const set = chars === null || chars === undefined ? WHITESPACE : asStr(chars, 'strip arg');
  let a = 0;
  let b = s.length;
  if (left) while (a < b && set.includes(s[a]!)) a++;
  if (right) while (b > a && set.includes(s[b - 1]!)) b--;
  return s.slice(a, b);
}

function split(s: string, sep: PyValue, maxsplit: PyValue, fromRight: boolean): string[] {
  const max = maxsplit === null || maxsplit === undefined ? -1 : Number(asInt(maxsplit));
  if (sep === null || sep === undefined) {
    const words = s.split(/[ \t\n\r\x0b\x0c]+/).filter((w) => w !== '');
    if (max < 0 || words.length <= max + 1) return words;
    // The remainder stays one piece, keeping its whitespace on the far side (as Python).
    if (!fromRight) {
      const out: string[] = [];
      let rest = s.replace(/^[ \t\n\r\x0b\x0c]+/, '');
      for (let i = 0; i < max; i++) {
        const m = /[ \t\n\r\x0b\x0c]+/.exec(rest)!;
        out.push(rest.slice(0, m.index));
        rest = rest.slice(m.index + m[0].length);
      }
      return [...out, rest];
    }
    const out: string[] = [];
    let rest = s.replace(/[ \t\n\r\x0b\x0c]+$/, '');
    for (let i = 0; i < max; i++) {
      const m = /[ \t\n\r\x0b\x0c]+(?=[^ \t\n\r\x0b\x0c]*$)/.exec(rest)!;
      out.unshift(rest.slice(m.index + m[0].length));
      rest = rest.slice(0, m.index);
    }
    return [rest, ...out];
  }
  const d = asStr(sep, 'separator');
  if (d === '') throw new PyError('ValueError', 'empty separator');
  const parts = s.split(d);
  if (max < 0 || parts.length <= max + 1) return parts;
  if (!fromRight) return [...parts.slice(0, max), parts.slice(max).join(d)];
  return [parts.slice(0, parts.length - max).join(d), ...parts.slice(parts.length - max)];
}

function affix(s: string, arg: PyValue, start: PyValue, end: PyValue, check: (s: string, a: string) => boolean): boolean {
  const sub = sliceIndices(s.length, start, end);
  const t = s.slice(sub[0], sub[1]);
  if (arg instanceof PyTuple) return arg.items.some((a) => check(t, asStr(a)));
  return check(t, asStr(arg));
}

function sliceIndices(len: number, start: PyValue, end: PyValue): [number, number] {
  const norm = (v: PyValue, dflt: number) => {
    if (v === null || v === undefined) return dflt;
    let i = asIndex(v);
    if (i < 0) i = Math.max(0, i + len);
    return Math.min(i, len);
  };
  return [norm(start, 0), norm(end, len)];
}

function strFormat(fmt: string, args: PyValue[], kwargs: Kwargs): string {
  let auto = 0;
  let out = '';
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (c === '{' && fmt[i + 1] === '{') {
      out += '{';
      i++;
      continue;
    }
    if (c === '}' && fmt[i + 1] === '}') {
      out += '}';
      i++;
      continue;
    }
    if (c === '}') throw new PyError('ValueError', "Single '}' encountered in format string");
    if (c !== '{') {
      out += c;
      continue;
    }
    const close = fmt.indexOf('}', i);
    if (close < 0) throw new PyError('ValueError', "Single '{' encountered in format string");
    const field = fmt.slice(i + 1, close);
    i = close;
    const m = /^([^.[!:]*)((?:\.[A-Za-z_]\w*|\[[^\]]*\])*)(?:!([rs]))?(?::(.*))?$/s.exec(field);
    if (!m) throw new PyError('ValueError', `bad format field {${field}}`);
    const [, first = '', chain = '', conversion, spec = ''] = m;
    let v: PyValue | undefined;
    if (first === '') v = args[auto++];
    else if (/^\d+$/.test(first)) v = args[Number(first)];
    else v = kwargs.get(first);
    if (v === undefined) throw new PyError(first === '' || /^\d+$/.test(first) ? 'IndexError' : 'KeyError', first === '' || /^\d+$/.test(first) ? 'tuple index out of range' : repr(first));
    for (const part of chain.match(/\.[A-Za-z_]\w*|\[[^\]]*\]/g) ?? []) {
      if (part.startsWith('.')) {
        const a = getAttribute(v!, part.slice(1));
        if (a === undefined) throw new PyError('AttributeError', `'${typeName(v!)}' object has no attribute '${part.slice(1)}'`);
        v = a;
      } else {
        const k = part.slice(1, -1);
        v = getItem(v!, /^\d+$/.test(k) ? BigInt(k) : k);
      }
    }
    const shown = conversion === 'r' ? repr(v!) : conversion === 's' ? str(v!) : v!;
    out += formatSpec(shown, spec);
  }
  return out;
}

function strAttribute(s: string, name: string): PyValue | undefined {
  const m = (fn: (args: PyValue[], kwargs: Kwargs, ctx: CallContext) => PyValue) => method(s, name, fn);
  const simple = (min: number, max: number, fn: (args: PyValue[]) => PyValue) =>
    m((args, kwargs) => {
      arity(name, args, min, max, kwargs);
      return fn(args);
    });
  switch (name) {
    case 'upper':
      return simple(0, 0, () => s.toUpperCase());
    case 'lower':
      return simple(0, 0, () => s.toLowerCase());
    case 'strip':
      return simple(0, 1, (a) => stripChars(s, a[0] ?? null, true, true));
    case 'lstrip':
      return simple(0, 1, (a) => stripChars(s, a[0] ?? null, true, false));
    case 'rstrip':
      return simple(0, 1, (a) => stripChars(s, a[0] ?? null, false, true));
    case 'split':
    case 'rsplit':
      return m((a, kw) => {
        arity(name, a, 0, 2, kw, ['sep', 'maxsplit']);
        return split(s, a[0] ?? kw.get('sep') ?? null, a[1] ?? kw.get('maxsplit') ?? null, name === 'rsplit');
      });
    case 'splitlines':
      return simple(0, 1, (a) => {
        const keep = truthy(a[0] ?? false);
        const out: string[] = [];
        const re = /\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]/g;
        let last = 0;
        for (let mm = re.exec(s); mm; mm = re.exec(s)) {
          out.push(s.slice(last, keep ? mm.index + mm[0].length : mm.index));
          last = mm.index + mm[0].length;
        }
        if (last < s.length) out.push(s.slice(last));
        return out;
      });
    case 'join':
      return simple(1, 1, (a) => {
        const parts = iterate(a[0]!);
        return parts
          .map((p, i) => {
            if (typeof p !== 'string') throw new PyError('TypeError', `sequence item ${i}: expected string, ${typeName(p)} found`);
            return p;
          })
          .join(s);
      });
    case 'startswith':
      return simple(1, 3, (a) => affix(s, a[0]!, a[1] ?? null, a[2] ?? null, (t, x) => t.startsWith(x)));
    case 'endswith':
      return simple(1, 3, (a) => affix(s, a[0]!, a[1] ?? null, a[2] ?? null, (t, x) => t.endsWith(x)));
    case 'replace':
      return simple(2, 3, (a) => {
        const old = asStr(a[0]!);
        const neu = asStr(a[1]!);
        // The pieces between matches; an empty `old` matches before every character and at the end.
        const pieces = old === '' ? ['', ...s, ''] : s.split(old);
        const found = pieces.length - 1;
        const count = a[2] === undefined || asInt(a[2]) < 0n ? found : Math.min(found, Number(asInt(a[2])));
        sized(s.length + count * (neu.length - old.length));
        const head = pieces.slice(0, count + 1).join(neu);
        return count < found ? head + old + pieces.slice(count + 1).join(old) : head;
      });
    case 'find':
    case 'index':
    case 'rfind':
    case 'rindex':
      return simple(1, 3, (a) => {
        const [lo, hi] = sliceIndices(s.length, a[1] ?? null, a[2] ?? null);
        const sub = asStr(a[0]!);
        const region = s.slice(lo, hi);
        const at = name.startsWith('r') ? region.lastIndexOf(sub) : region.indexOf(sub);
        if (at < 0 && name.endsWith('index')) throw new PyError('ValueError', 'substring not found');
        return BigInt(at < 0 ? -1 : at + lo);
      });
    case 'count':
      return simple(1, 3, (a) => {
        const [lo, hi] = sliceIndices(s.length, a[1] ?? null, a[2] ?? null);
        const sub = asStr(a[0]!);
        const region = s.slice(lo, hi);
        return BigInt(sub === '' ? region.length + 1 : region.split(sub).length - 1);
      });
    case 'format':
      return m((a, kw) => strFormat(s, a, kw));
    case 'capitalize':
      return simple(0, 0, () => s.charAt(0).toUpperCase() + s.slice(1).toLowerCase());
    case 'title':
      return simple(0, 0, () => s.toLowerCase().replace(/(^|[^A-Za-z])([a-z])/g, (_x, p: string, c: string) => p + c.toUpperCase()));
    case 'swapcase':
      return simple(0, 0, () => [...s].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join(''));
    case 'isdigit':
      return simple(0, 0, () => /^[0-9]+$/.test(s));
    case 'isalpha':
      return simple(0, 0, () => /^[A-Za-z]+$/.test(s));
    case 'isalnum':
      return simple(0, 0, () => /^[A-Za-z0-9]+$/.test(s));
    case 'isspace':
      return simple(0, 0, () => /^[ \t\n\r\x0b\x0c]+$/.test(s));
    case 'isupper':
      return simple(0, 0, () => /[A-Z]/.test(s) && !/[a-z]/.test(s));
    case 'islower':
      return simple(0, 0, () => /[a-z]/.test(s) && !/[A-Z]/.test(s));
    case 'zfill':
      return simple(1, 1, (a) => {
        const w = sized(asIndex(a[0]!));
        const sign = s[0] === '-' || s[0] === '+' ? s[0] : '';
        return sign + s.slice(sign.length).padStart(w - sign.length, '0');
      });
    case 'ljust':
    case 'rjust':
    case 'center':
      return simple(1, 2, (a) => {
        const w = sized(asIndex(a[0]!));
        const fill = a[1] === undefined ? ' ' : asStr(a[1]);
        if (s.length >= w) return s;
        if (name === 'ljust') return s + fill.repeat(w - s.length);
        if (name === 'rjust') return fill.repeat(w - s.length) + s;
        const total = w - s.length;
        const left = Math.floor(total / 2) + (total % 2 && w % 2 ? 1 : 0);
        return fill.repeat(left) + s + fill.repeat(total - left);
      });
    case 'partition':
    case 'rpartition':
      return simple(1, 1, (a) => {
        const sep = asStr(a[0]!);
        const at = name === 'partition' ? s.indexOf(sep) : s.lastIndexOf(sep);
        if (at < 0) return new PyTuple(name === 'partition' ? [s, '', ''] : ['', '', s]);
        return new PyTuple([s.slice(0, at), sep, s.slice(at + sep.length)]);
      });
    case 'expandtabs':
      return simple(0, 1, (a) => {
        const size = a[0] === undefined ? 8 : asIndex(a[0]);
        sized(s.length * Math.max(size, 1));
        let col = 0;
        let out = '';
        for (const c of s) {
          if (c === '\t') {
            const n = size > 0 ? size - (col % size) : 0;
            out += ' '.repeat(n);
            col += n;
          } else {
            out += c;
            col = c === '\n' || c === '\r' ? 0 : col + 1;
          }
        }
        return out;
      });
    case 'encode':
    case 'decode':
      return simple(0, 2, () => s);
  }
  return undefined;
}

// ---- list, tuple, dict, set ----------------------------------------------------------------

function listAttribute(l: PyValue[], name: string): PyValue | undefined {
  const m = (min: number, max: number, fn: (args: PyValue[], kwargs: Kwargs, ctx: CallContext) => PyValue, kw: readonly string[] = []) =>
    method(l, name, (args, kwargs, ctx) => {
      arity(name, args, min, max, kwargs, kw);
      return fn(args, kwargs, ctx);
    });
  switch (name) {
    case 'append':
      return m(1, 1, (a) => {
        extendList(l, [a[0]!]);
        return null;
      });
    case 'extend':
      return m(1, 1, (a) => {
        extendList(l, iterate(a[0]!));
        return null;
      });
    case 'insert':
      return m(2, 2, (a) => {
        let i = asIndex(a[0]!);
        if (i < 0) i = Math.max(0, i + l.length);
        l.splice(Math.min(i, l.length), 0, a[1]!);
        return null;
      });
    case 'pop':
      return m(0, 1, (a) => {
        if (!l.length) throw new PyError('IndexError', 'pop from empty list');
        let i = a[0] === undefined ? l.length - 1 : asIndex(a[0]);
        if (i < 0) i += l.length;
        if (i < 0 || i >= l.length) throw new PyError('IndexError', 'pop index out of range');
        return l.splice(i, 1)[0]!;
      });
    case 'remove':
      return m(1, 1, (a) => {
        const i = l.findIndex((x) => eq(x, a[0]!));
        if (i < 0) throw new PyError('ValueError', 'list.remove(x): x not in list');
        l.splice(i, 1);
        return null;
      });
    case 'index':
    case 'count':
      return seqAttribute(l, name);
    case 'sort':
      return m(
        0,
        0,
        (_a, kw, ctx) => {
          const sorted = sortValues(l, kw.get('key') ?? null, kw.get('reverse') ?? false, ctx);
          l.splice(0, l.length, ...sorted);
          return null;
        },
        ['key', 'reverse'],
      );
    case 'reverse':
      return m(0, 0, () => {
        l.reverse();
        return null;
      });
    case 'copy':
      return m(0, 0, () => l.slice());
  }
  return undefined;
}

function seqAttribute(owner: PyValue[] | PyTuple, name: string): PyValue | undefined {
  const items = Array.isArray(owner) ? owner : owner.items;
  switch (name) {
    case 'index':
      return method(owner, name, (a, kw) => {
        arity(name, a, 1, 1, kw);
        const i = items.findIndex((x) => eq(x, a[0]!));
        if (i < 0) throw new PyError('ValueError', `${repr(a[0]!)} is not in ${typeName(owner)}`);
        return BigInt(i);
      });
    case 'count':
      return method(owner, name, (a, kw) => {
        arity(name, a, 1, 1, kw);
        return BigInt(items.filter((x) => eq(x, a[0]!)).length);
      });
  }
  return undefined;
}

function dictAttribute(d: PyDict, name: string): PyValue | undefined {
  const m = (min: number, max: number, fn: (args: PyValue[], kwargs: Kwargs) => PyValue, anyKw = false) =>
    method(d, name, (args, kwargs) => {
      if (!anyKw) arity(name, args, min, max, kwargs);
      else arity(name, args, min, max);
      return fn(args, kwargs);
    });
  switch (name) {
    case 'get':
      return m(1, 2, (a) => {
        const v = d.get(a[0]!);
        return v !== undefined ? v : (a[1] ?? null);
      });
    case 'keys':
    case 'iterkeys':
      return m(0, 0, () => d.keys());
    case 'values':
    case 'itervalues':
      return m(0, 0, () => d.values());
    case 'items':
    case 'iteritems':
      return m(0, 0, () => d.entries().map(([k, v]) => new PyTuple([k, v])));
    case 'has_key':
      return m(1, 1, (a) => d.has(a[0]!));
    case 'setdefault':
      return m(1, 2, (a) => {
        const v = d.get(a[0]!);
        if (v !== undefined) return v;
        d.set(a[0]!, a[1] ?? null);
        return a[1] ?? null;
      });
    case 'pop':
      return m(1, 2, (a) => {
        const v = d.get(a[0]!);
        if (v === undefined) {
          if (a[1] !== undefined) return a[1];
          throw new PyError('KeyError', repr(a[0]!));
        }
        d.delete(a[0]!);
        return v;
      });
    case 'update':
      return m(
        0,
        1,
        (a, kw) => {
          if (a[0] !== undefined) {
            if (a[0] instanceof PyDict) for (const [k, v] of a[0].entries()) d.set(k, v);
            else for (const pair of iterate(a[0])) {
              const kv = sequence(pair);
              if (kv.length !== 2) throw new PyError('ValueError', 'dictionary update sequence element has wrong length');
              d.set(kv[0]!, kv[1]!);
            }
          }
          for (const [k, v] of kw) d.set(k, v);
          return null;
        },
        true,
      );
    case 'copy':
      return m(0, 0, () => new PyDict(d.entries()));
    case 'clear':
      return m(0, 0, () => {
        d.map.clear();
        return null;
      });
  }
  return undefined;
}

function setAttribute(s: PySet, name: string): PyValue | undefined {
  const m = (min: number, max: number, fn: (args: PyValue[]) => PyValue) =>
    method(s, name, (args, kwargs) => {
      arity(name, args, min, max, kwargs);
      return fn(args);
    });
  const others = (a: PyValue[]) => a.map((x) => (x instanceof PySet ? x : new PySet(iterate(x))));
  switch (name) {
    case 'add':
      return m(1, 1, (a) => {
        s.add(a[0]!);
        return null;
      });
    case 'remove':
      return m(1, 1, (a) => {
        if (!s.delete(a[0]!)) throw new PyError('KeyError', repr(a[0]!));
        return null;
      });
    case 'discard':
      return m(1, 1, (a) => {
        s.delete(a[0]!);
        return null;
      });
    case 'update':
      return m(0, Infinity, (a) => {
        for (const o of others(a)) for (const i of o.items()) s.add(i);
        return null;
      });
    case 'union':
      return m(0, Infinity, (a) => new PySet([s, ...others(a)].flatMap((x) => x.items())));
    case 'intersection':
      return m(0, Infinity, (a) => new PySet(s.items().filter((i) => others(a).every((o) => o.has(i)))));
    case 'difference':
      return m(0, Infinity, (a) => new PySet(s.items().filter((i) => !others(a).some((o) => o.has(i)))));
    case 'symmetric_difference':
      return m(1, 1, (a) => {
        const o = others(a)[0]!;
        return new PySet([...s.items().filter((i) => !o.has(i)), ...o.items().filter((i) => !s.has(i))]);
      });
    case 'issubset':
      return m(1, 1, (a) => s.items().every((i) => others(a)[0]!.has(i)));
    case 'issuperset':
      return m(1, 1, (a) => others(a)[0]!.items().every((i) => s.has(i)));
    case 'isdisjoint':
      return m(1, 1, (a) => !s.items().some((i) => others(a)[0]!.has(i)));
    case 'copy':
      return m(0, 0, () => new PySet(s.items()));
  }
  return undefined;
}

/** Python getattr() on bindery values; undefined when there is no such attribute. */
export function getAttribute(obj: PyValue, name: string): PyValue | undefined {
  if (typeof obj === 'string') return strAttribute(obj, name);
  if (Array.isArray(obj)) return listAttribute(obj, name);
  if (obj instanceof PyTuple) return seqAttribute(obj, name);
  if (obj instanceof PyDict) return dictAttribute(obj, name);
  if (obj instanceof PySet) return setAttribute(obj, name);
  if (obj instanceof PyObject) return obj.attrs.get(name);
  if (obj instanceof PyException) return name === 'message' ? obj.message : name === 'args' ? new PyTuple([obj.message]) : undefined;
  if (typeof obj === 'number' && name === 'is_integer') return method(obj, name, () => Number.isInteger(obj));
  if (obj instanceof PyFunc && name === '__name__') return obj.name;
  return undefined;
}

/** obj[key] for sequences, strings and dicts (slices included). */
export function getItem(obj: PyValue, key: PyValue | SliceValue): PyValue {
  if (obj instanceof PyObject && obj.sequence) return getItem([...obj.sequence()], key);
  if (key instanceof SliceValue) {
    if (!(Array.isArray(obj) || obj instanceof PyTuple || typeof obj === 'string')) throw new PyError('TypeError', `'${typeName(obj)}' object cannot be sliced`);
    const items = typeof obj === 'string' ? [...obj] : Array.isArray(obj) ? obj : obj.items;
    const picked = key.pick(items.length).map((i) => items[i]!);
    return typeof obj === 'string' ? (picked as string[]).join('') : Array.isArray(obj) ? picked : new PyTuple(picked);
  }
  if (obj instanceof PyDict) {
    const v = obj.get(key);
    if (v === undefined) throw new PyError('KeyError', repr(key));
    return v;
  }
  if (Array.isArray(obj) || obj instanceof PyTuple || typeof obj === 'string') {
    const items = typeof obj === 'string' ? [...obj] : Array.isArray(obj) ? obj : obj.items;
    if (typeof key !== 'bigint' && typeof key !== 'boolean') throw new PyError('TypeError', `${typeName(obj)} indices must be integers, not ${typeName(key)}`);
    let i = Number(asInt(key));
    if (i < 0) i += items.length;
    if (i < 0 || i >= items.length) throw new PyError('IndexError', `${typeName(obj)} index out of range`);
    return items[i]!;
  }
  if (obj instanceof PyObject) {
    const v = typeof key === 'string' ? obj.attrs.get(key) : undefined;
    if (v === undefined) throw new PyError('TypeError', `'${obj.typeName}' object has no item ${repr(key)}`);
    return v;
  }
  throw new PyError('TypeError', `'${typeName(obj)}' object is not subscriptable`);
}

export function setItem(obj: PyValue, key: PyValue, value: PyValue): void {
  if (obj instanceof PyDict) return obj.set(key, value);
  if (Array.isArray(obj)) {
    let i = Number(asInt(key));
    if (i < 0) i += obj.length;
    if (i < 0 || i >= obj.length) throw new PyError('IndexError', 'list assignment index out of range');
    obj[i] = value;
    return;
  }
  throw new PyError('TypeError', `'${typeName(obj)}' object does not support item assignment`);
}

export function delItem(obj: PyValue, key: PyValue): void {
  if (obj instanceof PyDict) {
    if (!obj.delete(key)) throw new PyError('KeyError', repr(key));
    return;
  }
  if (Array.isArray(obj)) {
    let i = Number(asInt(key));
    if (i < 0) i += obj.length;
    if (i < 0 || i >= obj.length) throw new PyError('IndexError', 'list assignment index out of range');
    obj.splice(i, 1);
    return;
  }
  throw new PyError('TypeError', `'${typeName(obj)}' object does not support item deletion`);
}

/** A slice as an index (s[a:b:c]); never a value a template can hold. */
export class SliceValue {
  constructor(
    readonly lo: PyValue,
    readonly hi: PyValue,
    readonly step: PyValue,
  ) {}

  pick(len: number): number[] {
    const step = this.step === null ? 1 : asIndex(this.step);
    if (step === 0) throw new PyError('ValueError', 'slice step cannot be zero');
    const norm = (v: PyValue, dflt: number, lo: number, hi: number) => {
      if (v === null) return dflt;
      let i = asIndex(v);
      if (i < 0) i += len;
      return Math.min(Math.max(i, lo), hi);
    };
    const out: number[] = [];
    if (step > 0) {
      const a = norm(this.lo, 0, 0, len);
      const b = norm(this.hi, len, 0, len);
      for (let i = a; i < b; i += step) out.push(i);
    } else {
      const a = norm(this.lo, len - 1, -1, len - 1);
      const b = norm(this.hi, -1, -1, len - 1);
      for (let i = a; i > b; i += step) out.push(i);
    }
    return out;
  }
}

