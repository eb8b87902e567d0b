import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { BinderyError, asBinderyError, type Diagnostic } from '../errors.js';
import type { Config } from '../config/index.js';
import type { RepoModel } from '../repo/index.js';
import { compileTemplate, type CompiledTemplate, type TemplateKind } from '../templates/index.js';
import { decryptAny, type Passphrase } from '../secrets/index.js';
import { authorizedKeys } from './generators/authorized-keys.js';
import type { XmlElement } from '../xml/index.js';
import type { PropertiesModel } from '../properties/index.js';
import type { BindFailure, BoundFile, CfgFile, ClientMetadata, EntrySet, FileInfo, PathEntry } from '../types.js';
import { applyCat, applyDiff, selectDeltas } from './deltas.js';
import { defaultInfo, infoFromLegacy, infoFromXml, parseInfoXml } from './info.js';
import { selectBest, shadowWarnings } from './select.js';

/**
 * Everything binding needs, shared by all clients of one build. The caches are the only
 * mutable state: each file is parsed, decrypted or compiled once, and client-independent
 * content (a plain file plus its deltas) is produced once.
 */
export interface BindContext {
  readonly repo: RepoModel;
  readonly config: Config;
  /** Whether validators are selected (a tie between two :test files is an error only then). */
  readonly validating: boolean;
  /** Every encrypted generator, decrypted once per build by decryptAll(). */
  readonly decrypted: ReadonlyMap<string, Decrypted>;
  /** Properties/, read and decrypted once per build, for templates. */
  readonly properties: PropertiesModel;
  readonly clients: readonly ClientMetadata[];
  findClient(name: string): ClientMetadata | undefined;
  groupMetadata(group: string): ClientMetadata;
  readonly caches: BindCaches;
}

export interface BindCaches {
  readonly templates: Map<string, CompiledTemplate | BinderyError>;
  readonly infoXml: Map<string, XmlElement | BinderyError>;
  readonly content: Map<string, Buffer>;
}

export function newCaches(): BindCaches {
  return { templates: new Map(), infoXml: new Map(), content: new Map() };
}

export type BindResult =
  | { readonly ok: true; readonly file: BoundFile; readonly diagnostics: readonly Diagnostic[] }
  | { readonly ok: false; readonly failure: BindFailure; readonly diagnostics: readonly Diagnostic[]; /** lax decryption: leave the entry out */ readonly omitted?: boolean };

/** Memoise a computation that may fail, keeping the failure too (so it is reported, not retried). */
function once<T>(cache: Map<string, T | BinderyError>, key: string, make: () => T): T {
  let v = cache.get(key);
  if (v === undefined) {
    try {
      v = make();
    } catch (e) {
      v = asBinderyError(e, 'BIND', { file: key });
    }
    cache.set(key, v);
  }
  if (v instanceof BinderyError) throw v;
  return v;
}

function decrypted(ctx: BindContext, f: CfgFile): Buffer {
  const v = ctx.decrypted.get(f.file.rel);
  if (v === undefined) throw new BinderyError('INTERNAL', 'encrypted file was not decrypted before binding', { file: f.file.rel });
  if ('error' in v) throw new BinderyError(v.error.code, v.error.message, v.error.location, v.error.hint);
  return v.plain;
}

/** A decryption result as plain data (it crosses to bind workers). */
export type Decrypted = { readonly plain: Buffer } | { readonly error: { code: BinderyError['code']; message: string; location: BinderyError['location']; hint?: string } };

/** Could this info file give some client encoding="base64"? (Conditions aside: then binary plaintext is allowed.) */
function mayShipBase64(info: CfgFile): boolean {
  if (info.kind === 'legacy-info') return /^encoding:\s*base64\b/m.test(info.file.data.toString('utf8'));
  let root: XmlElement;
  try {
    root = parseInfoXml(info.file);
  } catch {
    return false; // binding reports the XML error
  }
  const walk = (el: XmlElement): boolean => (el.name === 'Info' && el.attrs.encoding === 'base64') || el.children.some(walk);
  return walk(root);
}

const ENCRYPTED_KINDS = new Set<CfgFile['kind']>(['crypt', 'genshi.crypt', 'cheetah.crypt', 'liquid.crypt']);

/**
 * Decrypt every encrypted generator once per build (not per host, not per worker). Text
 * entries must decrypt to UTF-8, which also rules out a wrong passphrase that happens to
 * yield valid padding (decision 6 (docs/decisions.md)); an entry set whose info.xml ships base64 may be binary.
 */
export function decryptAll(repo: RepoModel, list: readonly Passphrase[]): Map<string, Decrypted> {
  const out = new Map<string, Decrypted>();
  for (const set of repo.entrySets.values()) {
    const binary = set.infos.some(mayShipBase64);
    for (const g of set.generators) {
      if (!ENCRYPTED_KINDS.has(g.kind)) continue;
      try {
        out.set(g.file.rel, { plain: decryptAny(g.file.data, list, { requireUtf8: !binary || g.kind !== 'crypt', file: g.file.rel }) });
      } catch (e) {
        const err = asBinderyError(e, 'CRYPT', { file: g.file.rel });
        out.set(g.file.rel, { error: { code: err.code, message: err.message, location: err.location, hint: err.hint } });
      }
    }
  }
  return out;
}

const TEMPLATE_KINDS: Partial<Record<CfgFile['kind'], TemplateKind>> = {
  liquid: 'liquid',
  'liquid.crypt': 'liquid',
  genshi: 'genshi',
  'genshi.crypt': 'genshi',
  cheetah: 'cheetah',
  'cheetah.crypt': 'cheetah',
};

function template(ctx: BindContext, f: CfgFile, kind: TemplateKind): CompiledTemplate {
  return once(ctx.caches.templates, f.file.rel, () => {
    const source = f.kind.endsWith('.crypt') ? decrypted(ctx, f) : f.file.data;
    return withheld(f, () => compileTemplate(kind, source.toString('utf8'), f.file.rel, { repoRoot: ctx.repo.root }));
  });
}

/**
 * Template errors quote the template's source; for an encrypted template that is decrypted
 * text, so only the location is reported (an explicit raise keeps its author's message).
 */
function withheld<T>(f: CfgFile, run: () => T): T {
  if (!f.kind.endsWith('.crypt')) return run();
  try {
    return run();
  } catch (e) {
    const err = asBinderyError(e, 'TEMPLATE', { file: f.file.rel });
    if (err.message.startsWith('TemplateError:')) throw err;
    throw new BinderyError('TEMPLATE', 'error in an encrypted template (details withheld: they could quote decrypted text)', { file: f.file.rel, line: err.location.line, column: err.location.column }, 'decrypt a copy with bindery crypt decrypt and look at it with bindery info buildfile');
  }
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** The info (owner, group, mode, …) of an entry for a client. */
function entryInfo(ctx: BindContext, set: EntrySet, m: ClientMetadata, realname: string, warn: (d: Diagnostic) => void): FileInfo {
  const defaults = defaultInfo(ctx.config);
  const xml = set.infos.find((f) => f.kind === 'info.xml');
  const legacy = set.infos.find((f) => f.kind === 'legacy-info');
  if (xml && legacy) warn({ code: 'info-duplicate', message: `both info.xml and ${legacy.file.rel} exist; info.xml is used`, file: legacy.file.rel, path: realname });
  if (xml) {
    const root = once(ctx.caches.infoXml, xml.file.rel, () => parseInfoXml(xml.file));
    return infoFromXml(root, xml.file.rel, m, realname, defaults, warn, m.hostname);
  }
  if (legacy) return infoFromLegacy(legacy.file.data.toString('utf8'), legacy.file.rel, defaults, warn);
  // Generated private keys default to 0600: ssh refuses a key others can read.
  if (set.creators.some((c) => c.kind === 'privkey.xml' || c.kind === 'sslkey.xml')) return { ...defaults, mode: '0600' };
  return defaults;
}

/** Produce the content of the chosen generator ((as Bcfg2's Cfg plugin does)). */
function generate(ctx: BindContext, set: EntrySet, gen: CfgFile, m: ClientMetadata, realname: string, warn: (d: Diagnostic) => void): { data: Buffer; deltas: string[] } {
  const tkind = TEMPLATE_KINDS[gen.kind];
  if (tkind) {
    const compiled = template(ctx, gen, tkind);
    const data = withheld(gen, () => compiled.render({ metadata: m, allClients: ctx.clients, name: realname, sourcePath: gen.file.abs, repo: ctx.repo.root, properties: ctx.properties }));
    return { data: Buffer.from(data, 'utf8'), deltas: [] };
  }
  if (gen.kind === 'authorized_keys.xml') {
    const r = authorizedKeys(gen, m, {
      bindPublicKey: (path, as) => bindPublicKey(ctx, path, as, warn),
      clients: ctx.clients,
      groupMetadata: ctx.groupMetadata,
      findClient: ctx.findClient,
      config: ctx.config,
    });
    r.diagnostics.forEach(warn);
    return { data: r.data, deltas: [] };
  }
  // Plain and .crypt bases are the only ones deltas apply to, and never generated keys or
  // certificates (an entry set with a creator) (decision 4 (docs/decisions.md)).
  const deltas = set.creators.length > 0 ? [] : selectDeltas(set.deltas, gen, m);
  if (set.creators.length > 0 && set.deltas.length > 0) {
    warn({ code: 'delta-on-generated', message: 'deltas are never applied to generated keys or certificates; ignored', file: set.deltas[0]!.file.rel, host: m.hostname, path: realname });
  }
  const key = [gen.file.rel, ...deltas.map((d) => d.file.rel)].join('\0');
  const cached = ctx.caches.content.get(key);
  if (cached) return { data: cached, deltas: deltas.map((d) => d.file.rel) };
  let data = gen.kind === 'crypt' ? decrypted(ctx, gen) : gen.file.data;
  for (const d of deltas) {
    try {
      data = d.kind === 'cat' ? Buffer.from(applyCat(data.toString('utf8'), d.file.data.toString('utf8')), 'utf8') : applyDiff(data, d.file.data, d.file.rel);
    } catch (e) {
      throw asBinderyError(e, 'BIND', { file: d.file.rel });
    }
  }
  ctx.caches.content.set(key, data);
  return { data, deltas: deltas.map((d) => d.file.rel) };
}

/** Bind an SSH public key path for authorized_keys (null = no key: the Allow is skipped). */
function bindPublicKey(ctx: BindContext, path: string, as: ClientMetadata, warn: (d: Diagnostic) => void): Buffer | null {
  const r = bindEntry(ctx, { name: path }, as);
  r.diagnostics.forEach(warn);
  return r.ok ? r.file.data : null;
}

function bindFrom(ctx: BindContext, set: EntrySet, m: ClientMetadata, realname: string): BindResult {
  const diagnostics: Diagnostic[] = [];
  const warn = (d: Diagnostic) => diagnostics.push(d);
  const fail = (e: unknown): BindResult => {
    const err = asBinderyError(e, 'BIND');
    const lax = err.code === 'CRYPT' && ctx.config.encryption.laxDecryption;
    // One warning per file, not per host: every client that gets the entry goes without it.
    if (lax) warn({ code: 'decryption-failed', message: `${err.message}; the entry is left out for every client that gets it (lax_decryption)`, file: err.location.file, path: realname });
    return {
      ok: false,
      failure: { host: m.hostname, path: realname, file: err.location.file, line: err.location.line, column: err.location.column, message: err.message + (err.hint ? ` (${err.hint})` : '') },
      diagnostics,
      omitted: lax,
    };
  };
  try {
    const sel = selectBest(set.generators, m, 'generator', realname);
    if (!sel) {
      const creator = set.creators[0];
      throw new BinderyError(
        'BIND',
        creator
          ? `no key or certificate has been generated for this client yet (${creator.file.rel})`
          : `no file in ${set.dir} matches this client (groups: ${m.groups.join(', ') || 'none'})`,
        { file: set.dir, host: m.hostname, path: realname },
        creator ? 'the key phase generates it; check the key phase warnings above' : `add ${set.dir}/${set.basename} for all clients, or a .G<NN>_<group> / .H_${m.hostname} variant`,
      );
    }
    shadowWarnings(sel, m.hostname, realname).forEach(warn);
    const info = entryInfo(ctx, set, m, realname, warn);
    const { data, deltas } = generate(ctx, set, sel.chosen, m, realname, warn);
    if (info.encoding !== 'base64' && !isUtf8(data)) {
      throw new BinderyError('BIND', 'content is not valid UTF-8 text', { file: sel.chosen.file.rel }, 'ship binary files with <Info encoding="base64"/> in info.xml');
    }
    const validator = ctx.validating ? selectBest(set.validators, m, 'validator', realname) : null;
    const file: BoundFile = {
      path: realname,
      data,
      info,
      source: sel.chosen.file.rel,
      deltas,
      ...(validator ? { validator: validator.chosen.file.rel } : {}),
    };
    return { ok: true, file, diagnostics };
  } catch (e) {
    return fail(asBinderyError(e, 'BIND', { host: m.hostname, path: realname }));
  }
}

/**
 * Bind one Path entry for one client: altsrc binds another entry set under
 * this name, falling back to the entry's own name if that fails.
 */
export function bindEntry(ctx: BindContext, entry: PathEntry, m: ClientMetadata): BindResult {
  const attempt = (source: string): BindResult | null => {
    const set = ctx.repo.entrySets.get(source);
    return set ? bindFrom(ctx, set, m, entry.name) : null;
  };
  if (entry.altsrc) {
    const r = attempt(entry.altsrc);
    if (r?.ok) return r;
    const fallback = attempt(entry.name);
    if (fallback) return fallback;
    if (r) return r;
  } else {
    const r = attempt(entry.name);
    if (r) return r;
  }
  const dir = 'Cfg' + (entry.altsrc ?? entry.name);
  return {
    ok: false,
    failure: { host: m.hostname, path: entry.name, file: dir, message: `no Cfg entry set for this path${entry.bundle ? ` (asked for by bundle ${entry.bundle})` : ''}` },
    diagnostics: [],
  };
}

export { sha as sha256 };
