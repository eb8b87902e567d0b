/**
 * Compiling templates: Liquid through liquidjs, Genshi and Cheetah through bindery's own
 * interpreter for the Python subset real repositories use. Render is synchronous so bind can run
 * it in worker threads.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { BinderyError } from '../errors.js';
import { parseCheetah } from './cheetah.js';
import { parseGenshi } from './genshi.js';
import { compileLiquid } from './liquid.js';
import { pyMetadata } from './metadata.js';
import type { PropertiesModel } from '../properties/index.js';

const NO_PROPERTIES: PropertiesModel = { files: [], diagnostics: [] };
import { makeBuiltins } from './python/builtins.js';
import { PyError, SyntaxFault, TemplateRaise } from './python/errors.js';
import { Env, Interp } from './python/interp.js';
import { arity, call, getAttribute } from './python/methods.js';
import { PyDict, PyFunc, PyObject, str, type PyValue } from './python/values.js';
import { Renderer, type IncludeMode, type IncludeResolver } from './render.js';
import type { ParsedTemplate } from './tree.js';
import type { CompiledTemplate, TemplateKind, TemplateVars } from './types.js';

/** The `.liquid` name suggested for a Genshi or Cheetah file. */
export function liquidName(file: string): string {
  return file.replace(/\.(genshi|cheetah)(\.crypt)?$|\.crypt\.(genshi|cheetah)$/, '.liquid');
}

function unsupportedHint(file: string): string {
  return `bindery evaluates the subset of Genshi and Cheetah described in docs/templates.md; rewrite this template in Liquid as ${liquidName(file).split('/').pop()} (bindery migrate converts what it can)`;
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

/** Cheetah's Template.getVar('a.b', default) and varExists('a.b'): the search list and globals, not #set locals. */
function searchListValue(path: string, env: Env): { found: boolean; value: PyValue } {
  const [first, ...rest] = path.split('.');
  let v = env.root().lookup(first!);
  for (const part of rest) {
    if (v === undefined) break;
    const obj: PyValue = v;
    v = obj instanceof PyDict && obj.has(part) ? obj.get(part) : getAttribute(obj, part);
    // Autocalling, as the name mapper does.
    if (v instanceof PyFunc && v.kind !== 'type' && v.kind !== 'exception') v = call(v, [], new Map(), { env });
  }
  return v === undefined ? { found: false, value: null } : { found: true, value: v };
}

const CHEETAH_BUILTINS: ReadonlyMap<string, PyValue> = new Map<string, PyValue>([
  ...BUILTINS,
  [
    'getVar',
    new PyFunc('getVar', (args, kwargs, ctx) => {
      arity('getVar', args, 1, 2, kwargs);
      const name = str(args[0]!);
      const r = searchListValue(name, ctx.env as Env);
      if (r.found) return r.value;
      if (args.length > 1) return args[1]!;
      const e = new PyError('NameError', `undefined variable "${name}"`);
      e.notFound = true;
      throw e;
    }),
  ],
  [
    'varExists',
    new PyFunc('varExists', (args, kwargs, ctx) => {
      arity('varExists', args, 1, 1, kwargs);
      return searchListValue(str(args[0]!), ctx.env as Env).found;
    }),
  ],
]);

/** Resolve an include against the including file's directory; never outside the repo. */
function includeResolver(repoRoot: string): IncludeResolver {
  const cache = new Map<string, ParsedTemplate>();
  let realRepo: string | undefined;
  const fail = (message: string, line: number, col: number): never => {
    throw Object.assign(new PyError('TemplateError', message), { line, col });
  };
  return (path, from, line, col, mode: IncludeMode) => {
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
    const key = `${mode}:${real}`;
    const cached = cache.get(key);
    if (cached) return cached;
    const file = relative(repoRoot, abs).split(sep).join('/');
    let parsed: ParsedTemplate;
    try {
      const text = readFileSync(real, 'utf8');
      parsed = mode === 'raw' ? { dialect: 'cheetah', file, nodes: [{ t: 'text', s: text }] } : mode === 'genshi' ? parseGenshi(text, file) : parseCheetah(text, file);
    } catch (e) {
      throw templateError(e, file);
    }
    cache.set(key, parsed);
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
    ['metadata', pyMetadata(vars.metadata, vars.allClients, { properties: vars.properties ?? NO_PROPERTIES, repo: vars.repo })],
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
  const interp = new Interp({ genshi: kind === 'genshi', builtins: kind === 'genshi' ? GENSHI_BUILTINS : CHEETAH_BUILTINS });
  const renderer = new Renderer(interp, kind, includeResolver(repoRoot));
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

