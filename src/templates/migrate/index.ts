/**
 * Genshi/Cheetah → Liquid. The converter writes Liquid for the constructs it can express and
 * refuses, naming the construct and its line, for the rest; migrateTemplate() then renders the
 * old and the new template for every client and accepts the result only if they agree.
 */
import { dirname, resolve } from 'node:path';
import { BinderyError } from '../../errors.js';
import type { ClientMetadata } from '../../types.js';
import { compileParsed, liquidName, parseTemplate, templateError } from '../compile.js';
import { compileLiquid } from '../liquid.js';
import type { CompiledTemplate } from '../types.js';
import { Refusal } from './writer.js';
import { toLiquid } from './nodes.js';

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
function compareRenders(
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
