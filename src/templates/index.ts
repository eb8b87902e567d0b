/**
 * Templates: Liquid (liquidjs), and Bcfg2's Genshi and Cheetah templates evaluated by bindery's
 * own interpreter for the Python subset real repositories use. Compile once, render
 * per client; render is synchronous so bind can run it in worker threads.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { BinderyError } from '../errors.js';
import type { ClientMetadata } from '../types.js';
import { parseCheetah } from './cheetah.js';
import { parseGenshi } from './genshi.js';
import { compileLiquid } from './liquid.js';
import { pyMetadata } from './metadata.js';
import { makeBuiltins } from './python/builtins.js';
import { PyError, SyntaxFault, TemplateRaise } from './python/errors.js';
import { Env, Interp } from './python/interp.js';
import { arity } from './python/methods.js';
import { PyFunc, PyObject, str, type PyValue } from './python/values.js';
import { Refusal, compareRenders, toLiquid, type RenderOutcome } from './migrate.js';
import { Renderer, type IncludeResolver } from './render.js';
import type { ParsedTemplate } from './tree.js';

export type TemplateKind = 'liquid' | 'genshi' | 'cheetah';

export { benchmarkTemplates, type TemplateTiming } from './bench.js';

export interface TemplateVars {
  readonly metadata: ClientMetadata;
  /** Every client of the build, for metadata.query. */
  readonly allClients: readonly ClientMetadata[];
  /** Client-side path (the realname under altsrc). */
  readonly name: string;
  /** Absolute path of the template file. */
  readonly sourcePath: string;
  /** Absolute repo root. */
  readonly repo: string;
}

export interface CompiledTemplate {
  /** Throws BinderyError('TEMPLATE', message, {file, line, column}); the caller adds host and path. */
  render(vars: TemplateVars): string;
}

/** The `.liquid` name suggested for a Genshi or Cheetah file. */
export function liquidName(file: string): string {
  return file.replace(/\.(genshi|cheetah)(\.crypt)?$|\.crypt\.(genshi|cheetah)$/, '.liquid');
}

function unsupportedHint(file: string): string {
  return `bindery evaluates the subset of Genshi and Cheetah described in the README (Templates); rewrite this template in Liquid as ${liquidName(file).split('/').pop()} (bindery migrate converts what it can)`;
}

/** Any failure of the Python-subset evaluator as a BinderyError naming file, line and column. */
export function templateError(e: unknown, file: string): BinderyError {
  if (e instanceof BinderyError) return e;
  if (e instanceof SyntaxFault) {
    return new BinderyError('TEMPLATE', e.unsupported ? e.message : `syntax error: ${e.message}`, { file, line: e.line, column: e.col }, e.unsupported ? unsupportedHint(file) : undefined);
  }
  if (e instanceof PyError) {
    const loc = { file: e.file ?? file, line: e.line, column: e.col };
    if (e instanceof TemplateRaise) return new BinderyError('TEMPLATE', `TemplateError: ${e.message}`, loc);
    return new BinderyError('TEMPLATE', `${e.type}: ${e.message}`, loc, e.outside ? unsupportedHint(loc.file) : undefined);
  }
  if (e instanceof RangeError) return new BinderyError('TEMPLATE', 'the template nests too deeply', { file });
  return new BinderyError('TEMPLATE', e instanceof Error ? e.message : String(e), { file });
}

const BUILTINS = makeBuiltins();

/** Genshi's helpers for strict mode: defined("x") and value_of("x", default). */
const GENSHI_BUILTINS: ReadonlyMap<string, PyValue> = new Map<string, PyValue>([
  ...BUILTINS,
  [
    'defined',
    new PyFunc('defined', (args, kwargs, ctx) => {
      arity('defined', args, 1, 1, kwargs);
      return (ctx.env as Env).lookup(str(args[0]!)) !== undefined;
    }),
  ],
  [
    'value_of',
    new PyFunc('value_of', (args, kwargs, ctx) => {
      arity('value_of', args, 1, 2, kwargs);
      const v = (ctx.env as Env).lookup(str(args[0]!));
      return v !== undefined ? v : (args[1] ?? null);
    }),
  ],
]);

/** Resolve a Genshi include against the including file's directory; never outside the repo. */
function includeResolver(repoRoot: string): IncludeResolver {
  const cache = new Map<string, ParsedTemplate>();
  let realRepo: string | undefined;
  const fail = (message: string, line: number, col: number): never => {
    throw Object.assign(new PyError('TemplateError', message), { line, col });
  };
  return (path, from, line, col) => {
    if (isAbsolute(path)) fail(`include "${path}": absolute include paths are not supported; use a path relative to this template`, line, col);
    const abs = resolve(repoRoot, dirname(from), path);
    let real: string;
    try {
      real = realpathSync(abs);
    } catch {
      return fail(`include "${path}": no such file (${relative(repoRoot, abs).split(sep).join('/')})`, line, col);
    }
    const rel = relative((realRepo ??= realpathSync(repoRoot)), real);
    if (rel.startsWith('..') || isAbsolute(rel)) fail(`include "${path}" leads outside the repository`, line, col);
    const cached = cache.get(real);
    if (cached) return cached;
    const file = relative(repoRoot, abs).split(sep).join('/');
    let parsed: ParsedTemplate;
    try {
      parsed = parseGenshi(readFileSync(real, 'utf8'), file);
    } catch (e) {
      throw templateError(e, file);
    }
    cache.set(real, parsed);
    return parsed;
  };
}

/** Parse a Genshi or Cheetah template (syntax errors and unsupported constructs throw BinderyError). */
export function parseTemplate(kind: 'genshi' | 'cheetah', source: string, file: string): ParsedTemplate {
  try {
    return kind === 'genshi' ? parseGenshi(source, file) : parseCheetah(source, file);
  } catch (e) {
    throw templateError(e, file);
  }
}

/** The variables Bcfg2 offers as a Genshi context or a Cheetah search list (with `self`). */
function templateEnv(kind: 'genshi' | 'cheetah', vars: TemplateVars): Env {
  const env = new Env(null);
  const values: [string, PyValue][] = [
    ['metadata', pyMetadata(vars.metadata, vars.allClients)],
    ['name', vars.name],
    ['source_path', vars.sourcePath],
    ['repo', vars.repo],
    // path is the template's path in Genshi, the client path in Cheetah.
    ['path', kind === 'genshi' ? vars.sourcePath : vars.name],
  ];
  for (const [k, v] of values) env.set(k, v);
  if (kind === 'genshi') return env;
  env.set('self', new PyObject('Template', new Map(values)));
  // Cheetah's #set variables are locals of the template, above its search list.
  return env.child();
}

export function compileParsed(parsed: ParsedTemplate, repoRoot: string): CompiledTemplate {
  const kind = parsed.dialect;
  const interp = new Interp({ genshi: kind === 'genshi', builtins: kind === 'genshi' ? GENSHI_BUILTINS : BUILTINS });
  const renderer = new Renderer(interp, kind, kind === 'genshi' ? includeResolver(repoRoot) : null);
  return {
    render(vars) {
      try {
        return renderer.render(parsed, templateEnv(kind, vars));
      } catch (e) {
        throw templateError(e, parsed.file);
      }
    },
  };
}

export function compileTemplate(kind: TemplateKind, source: string, file: string, opts: { repoRoot: string }): CompiledTemplate {
  if (kind === 'liquid') return compileLiquid(source, file, opts.repoRoot);
  return compileParsed(parseTemplate(kind, source, file), opts.repoRoot);
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
