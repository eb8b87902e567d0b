/**
 * Run reports (POST /v1/report): size- and depth-checked before parsing, held to the shape
 * `bindery fetch` sends, and stored as compact JSON, written off the request path. A report is
 * the client's word about its own run: it is kept for the operator, never interpreted further.
 */
import { join } from 'node:path';
import { writeFileAtomicAsync } from '../fsutil/index.js';

/** Deepest nesting of objects and arrays accepted (a real report needs 3: report → files → file). */
export const MAX_REPORT_DEPTH = 8;
/** Longest string anywhere in a report, and most entries in `files` or `failed`. */
const MAX_STRING = 8192;
const MAX_ENTRIES = 200_000;

/**
 * Nesting depth of a JSON text without parsing it (brackets outside strings), stopping as soon
 * as it passes `limit`: a deep body is refused in one linear scan, before JSON.parse sees it.
 */
export function jsonDepthExceeds(text: Buffer, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isScalar = (v: unknown) => v === null || typeof v === 'boolean' || typeof v === 'number' || (typeof v === 'string' && v.length <= MAX_STRING);

/** A list of scalars (serverFailed: the paths the build could not make). */
const isScalarList = (v: unknown) => Array.isArray(v) && v.length <= MAX_ENTRIES && v.every(isScalar);

/** A list of flat records whose `keys` are strings (files: path + action; failed: path + reason). */
function listProblem(name: string, v: unknown, keys: readonly string[]): string | null {
  if (!Array.isArray(v)) return `"${name}" must be a list`;
  if (v.length > MAX_ENTRIES) return `"${name}" has more than ${MAX_ENTRIES} entries`;
  for (const item of v) {
    if (!isObject(item)) return `every "${name}" entry must be an object`;
    for (const k of keys) if (typeof item[k] !== 'string' || (item[k] as string).length > MAX_STRING) return `every "${name}" entry needs a string "${k}"`;
    for (const x of Object.values(item)) if (!isScalar(x)) return `"${name}" entries hold strings, numbers and booleans only`;
  }
  return null;
}

/** Why `value` is not a run report, or null when it is one. */
export function reportProblem(value: unknown): string | null {
  if (!isObject(value)) return 'the run report must be a JSON object';
  if (typeof value.ok !== 'boolean') return 'the run report needs "ok": true or false';
  const keys = Object.keys(value);
  if (keys.length > 64) return 'the run report has more than 64 fields';
  for (const k of keys) {
    const v = value[k];
    const problem = k === 'files' ? listProblem(k, v, ['path', 'action']) : k === 'failed' ? listProblem(k, v, ['path', 'reason']) : isScalar(v) || isScalarList(v) ? null : `"${k}" must be a string, number, boolean, null or a list of them`;
    if (problem) return problem;
  }
  return null;
}

export interface StoredReport {
  readonly client: string;
  readonly receivedAt: string;
  readonly address: string;
  readonly method: string;
  readonly report: Record<string, unknown>;
}

/**
 * `<dir>/client-<name>.json`, replaced atomically and durably (src/fsutil) without
 * blocking the event loop. The next report for the same client simply replaces it.
 */
export async function storeReport(dir: string, stored: StoredReport): Promise<void> {
  await writeFileAtomicAsync(join(dir, `client-${encodeURIComponent(stored.client)}.json`), JSON.stringify(stored) + '\n', 0o600);
}
