/**
 * What both halves of the Genshi/Cheetah → Liquid translation share: the Liquid being written,
 * fresh temporary names, and the refusal naming a construct Liquid cannot express.
 */
import type { Dialect } from '../tree.js';

export class Refusal extends Error {
  constructor(
    message: string,
    readonly line?: number,
    readonly col?: number,
  ) {
    super(message);
  }
}

export function refuse(what: string, at?: { line: number; col: number }): never {
  throw new Refusal(`${what} has no Liquid translation`, at?.line, at?.col);
}

export function literal(v: string | bigint | number | boolean | null): string {
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
export function nameCounts(tree: unknown): Map<string, number> {
  const counts = new Map<string, number>();
  const text = JSON.stringify(tree, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  for (const m of text.matchAll(/"(?:id|name)":"([A-Za-z_]\w*)"/g)) counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  return counts;
}


/** The Liquid output and its temporaries (named apart from every name the template uses). */
export class LiquidWriter {
  private readonly out: string[] = [];
  private temps = 0;
  private readonly prefix: string;

  constructor(
    readonly dialect: Dialect,
    /** Names in the whole template (temporaries avoid them; loops look for uses after them). */
    readonly names: ReadonlyMap<string, number>,
  ) {
    let prefix = '_t';
    while ([...names.keys()].some((n) => n.startsWith(prefix))) prefix += 't';
    this.prefix = prefix;
  }

  emit(s: string): void {
    this.out.push(s);
  }

  temp(): string {
    return `${this.prefix}${++this.temps}`;
  }

  text(): string {
    return this.out.join('');
  }
}
