/**
 * JSON with object keys in sorted order and a trailing newline: the same value always gives the
 * same bytes. Written by hand because JavaScript objects list integer-like keys (a host named
 * "10") before the others whatever order they were inserted in, so sorting keys and calling
 * JSON.stringify is not enough. Pretty (2-space indent) by default; compact on request.
 */
export function stableStringify(value: unknown, opts: { compact?: boolean } = {}): string {
  let out = '';
  encodeInto(value, opts.compact ? null : '', (s) => (out += s));
  return out;
}

/**
 * The same bytes as stableStringify, as a list of Buffers of about 64 KiB each: a manifest of
 * 20,000 hosts with all their failures never becomes one giant string.
 */
export function stableChunks(value: unknown, opts: { compact?: boolean } = {}): Buffer[] {
  const chunks: Buffer[] = [];
  let pending = '';
  encodeInto(value, opts.compact ? null : '', (s) => {
    pending += s;
    if (pending.length >= 65536) {
      chunks.push(Buffer.from(pending));
      pending = '';
    }
  });
  chunks.push(Buffer.from(pending));
  return chunks;
}

const INDENT = '  ';

function resolve(value: unknown): unknown {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return (value as { toJSON: () => unknown }).toJSON();
  }
  return value;
}

/** undefined, functions and symbols are left out of objects (and null in arrays), as JSON.stringify does. */
const omitted = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol';

function encodeInto(value: unknown, indent: string | null, write: (s: string) => void): void {
  encodeValue(resolve(value), indent, write);
  write('\n');
}

/** indent null = compact. */
function encodeValue(value: unknown, indent: string | null, write: (s: string) => void): void {
  switch (typeof value) {
    case 'string':
      return write(JSON.stringify(value));
    case 'number':
      return write(Number.isFinite(value) ? JSON.stringify(value) : 'null');
    case 'boolean':
      return write(value ? 'true' : 'false');
    case 'bigint':
      throw new TypeError('stableStringify: a bigint has no JSON form');
    case 'undefined':
    case 'function':
    case 'symbol':
      return write('null');
  }
  if (value === null) return write('null');
  const inner = indent === null ? null : indent + INDENT;
  const open = (c: string) => write(inner === null ? c : `${c}\n${inner}`);
  const sep = inner === null ? ',' : `,\n${inner}`;
  const close = (c: string) => write(indent === null ? c : `\n${indent}${c}`);
  if (Array.isArray(value)) {
    if (value.length === 0) return write('[]');
    open('[');
    value.forEach((v, i) => {
      if (i > 0) write(sep);
      encodeValue(resolve(v), inner, write);
    });
    return close(']');
  }
  const members: [string, unknown][] = [];
  for (const k of Object.keys(value as object).sort()) {
    const v = resolve((value as Record<string, unknown>)[k]);
    if (!omitted(v)) members.push([k, v]);
  }
  if (members.length === 0) return write('{}');
  open('{');
  members.forEach(([k, v], i) => {
    if (i > 0) write(sep);
    write(JSON.stringify(k) + (inner === null ? ':' : ': '));
    encodeValue(v, inner, write);
  });
  close('}');
}
