/**
 * JSON with object keys in sorted order, 2-space indent and a trailing newline: the same value always
 * gives the same bytes. Written by hand because JavaScript objects list integer-like keys (a host
 * named "10") before the others whatever order they were inserted in, so sorting keys and calling
 * JSON.stringify is not enough.
 */
export function stableStringify(value: unknown): string {
  return (encode(value, '') ?? 'null') + '\n';
}

const INDENT = '  ';

/** undefined means "leave out" (as JSON.stringify does for undefined, functions and symbols). */
function encode(value: unknown, indent: string): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: () => unknown }).toJSON();
  }
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new TypeError('stableStringify: a bigint has no JSON form');
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return 'null';
  const inner = indent + INDENT;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const items = value.map((v) => inner + (encode(v, inner) ?? 'null'));
    return `[\n${items.join(',\n')}\n${indent}]`;
  }
  const keys = Object.keys(value as object).sort();
  const members: string[] = [];
  for (const k of keys) {
    const v = encode((value as Record<string, unknown>)[k], inner);
    if (v !== undefined) members.push(`${inner}${JSON.stringify(k)}: ${v}`);
  }
  return members.length === 0 ? '{}' : `{\n${members.join(',\n')}\n${indent}}`;
}
