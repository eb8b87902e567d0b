/**
 * Liquid templates (liquidjs): strict variables and filters, a `{% raise %}` tag, and partials
 * read only from the entry's own directory and the repo's Templates/ folder.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Liquid, Tag, Value, type Context, type Emitter, type FS, type TagToken, type TopLevelToken, type Template } from 'liquidjs';
import { BinderyError } from '../errors.js';
import { liquidMetadata } from './metadata.js';
import { OUTPUT_LIMIT } from './render.js';
import type { CompiledTemplate, TemplateVars } from './types.js';

/** Thrown by {% raise %}; liquidjs wraps it, the message is recovered from originalError. */
class LiquidRaise extends Error {}

class RaiseTag extends Tag {
  private readonly value: Value;
  constructor(token: TagToken, remain: TopLevelToken[], liquid: Liquid) {
    super(token, remain, liquid);
    if (!token.args.trim()) throw new Error('{% raise %} needs a message, e.g. {% raise "no ganglia group" %}');
    this.value = new Value(token.args, liquid);
  }
  *render(ctx: Context, _emitter: Emitter): Generator<unknown, void, unknown> {
    const message = yield this.value.value(ctx, false);
    throw new LiquidRaise(String(message ?? ''));
  }
}

function isInside(root: string, file: string): boolean {
  const rel = relative(root, file);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** A file system for partials that never leaves the repository (no `..`, no absolute paths, no symlinks out). */
function repoFs(repoRoot: string): FS {
  const realRepo = (() => {
    try {
      return realpathSync(repoRoot);
    } catch {
      return resolve(repoRoot);
    }
  })();
  const inRepo = (file: string): boolean => {
    try {
      return isInside(realRepo, realpathSync(file));
    } catch {
      return false;
    }
  };
  const containsSync = (root: string, file: string): boolean => {
    try {
      return isInside(realpathSync(root), realpathSync(file)) && inRepo(file);
    } catch {
      return false;
    }
  };
  const existsFile = (file: string): boolean => {
    try {
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  const read = (file: string): string => {
    if (!inRepo(file)) throw new Error(`partial ${relative(repoRoot, file)} leads outside the repository`);
    return readFileSync(file, 'utf8');
  };
  return {
    existsSync: existsFile,
    exists: async (file) => existsFile(file),
    readFileSync: read,
    readFile: async (file) => read(file),
    containsSync,
    contains: async (root, file) => containsSync(root, file),
    resolve(root, file, ext) {
      if (isAbsolute(file) || file.split(/[\\/]/).includes('..')) {
        throw new Error(`partial "${file}" must be a path inside the entry directory or Templates/, without ".." or a leading "/"`);
      }
      return resolve(root, extname(file) ? file : file + ext);
    },
    sep,
    dirname,
  };
}

interface LiquidErrorLike extends Error {
  originalError?: Error;
  token?: { file?: string; getPosition(): [number, number] };
}

function toBinderyError(e: unknown, file: string, repoRoot: string): BinderyError {
  if (e instanceof BinderyError) return e;
  const err = e as LiquidErrorLike;
  const original = err.originalError;
  const [line, column] = err.token?.getPosition() ?? [undefined, undefined];
  const tokenFile = err.token?.file;
  const where = tokenFile ? (isAbsolute(tokenFile) ? relative(repoRoot, tokenFile).split(sep).join('/') : tokenFile) : file;
  if (original instanceof LiquidRaise) return new BinderyError('TEMPLATE', `TemplateError: ${original.message}`, { file: where, line, column });
  if (e instanceof RangeError || original instanceof RangeError) {
    return new BinderyError('TEMPLATE', 'the template nests too deeply (does a partial include itself?)', { file: where, line, column });
  }
  let message = (original?.message ?? err.message ?? String(e)).replace(/, (file:.*?, )?line:\d+, col:\d+$/s, '');
  message = message.split(repoRoot + sep).join('');
  if (/memory alloc limit exceeded/.test(message)) message = `the template builds more than ${OUTPUT_LIMIT} items or characters (a huge range or string); it was stopped`;
  if (/template render limit exceeded/.test(message)) message = 'the template took more than 10 s to render; it was stopped';
  const undef = /^undefined variable: (.*)$/.exec(message);
  if (undef) message = `undefined variable "${undef[1]}"`;
  return new BinderyError('TEMPLATE', message, { file: where, line, column }, undef ? 'strict variables: for a value some clients lack, test it with {% if … %} or give a default with | default: …' : undefined);
}

export function compileLiquid(source: string, file: string, repoRoot: string): CompiledTemplate {
  const entryDir = dirname(resolve(repoRoot, file));
  const dirs = [entryDir, join(repoRoot, 'Templates')];
  const liquid = new Liquid({
    root: dirs,
    partials: dirs,
    layouts: dirs,
    relativeReference: false,
    strictVariables: true,
    // …except where the template tests for it: {% if x %} / {% unless x %} and {{ x | default: y }}.
    lenientIf: true,
    strictFilters: true,
    ownPropertyOnly: true,
    cache: true,
    fs: repoFs(repoRoot),
    renderLimit: 10_000,
    // A range or string a template builds may not take more than this (a {% for %} over 1..100000000 fails at once).
    memoryLimit: OUTPUT_LIMIT,
  });
  liquid.registerTag('raise', RaiseTag);
  let tpl: Template[];
  try {
    tpl = liquid.parse(source, file);
  } catch (e) {
    throw toBinderyError(e, file, repoRoot);
  }
  return {
    render(vars: TemplateVars): string {
      const scope = {
        metadata: liquidMetadata(vars.metadata, vars.properties),
        name: vars.name,
        path: vars.name,
        source_path: vars.sourcePath,
        repo: vars.repo,
      };
      try {
        return String(liquid.renderSync(tpl, scope));
      } catch (e) {
        throw toBinderyError(e, file, repoRoot);
      }
    },
  };
}
