/**
 * What templates see of a client: a Python object for Genshi and Cheetah, plain
 * data for Liquid. Sets keep the sorted order of ClientMetadata, so output is deterministic.
 */
import { join } from 'node:path';
import type { ClientMetadata } from '../types.js';
import { groupInCategory } from '../metadata/index.js';
import { match, xmlMatch, type PNode, type PropertiesModel, type PropertyFile } from '../properties/index.js';
import type { MatchSubject } from '../xml/index.js';
import { PyError } from './python/errors.js';
import { arity } from './python/methods.js';
import { PyDict, PyFunc, PyObject, PySet, iterate, str, type PyValue } from './python/values.js';
import { elementList, rootElement } from './python/xdata.js';

function method(name: string, min: number, max: number, body: (args: PyValue[]) => PyValue): PyFunc {
  return new PyFunc(name, (args, kwargs) => {
    arity(name, args, min, max, kwargs);
    return body(args);
  }, undefined, 'method');
}

const names = (v: PyValue): string[] => iterate(v).map(str);

const category = (m: ClientMetadata, cat: string): string | undefined => (Object.hasOwn(m.categories, cat) ? m.categories[cat] : undefined);

/** metadata.query over every client of the build (Bcfg2's MetadataQuery). */
function query(all: readonly ClientMetadata[], view: (m: ClientMetadata) => PyObject): PyObject {
  const byGroups = (groups: string[]) => all.filter((c) => groups.every((g) => c.groups.includes(g)));
  const byProfiles = (profiles: string[]) => all.filter((c) => c.profile !== null && profiles.includes(c.profile));
  const hostnames = (cs: readonly ClientMetadata[]) => cs.map((c) => c.hostname).sort();
  const allGroups = () => new PySet([...new Set(all.flatMap((c) => c.groups))].sort());
  return new PyObject(
    'MetadataQuery',
    new Map<string, PyValue>([
      ['names_by_groups', method('names_by_groups', 1, 1, (a) => hostnames(byGroups(names(a[0]!))))],
      ['names_by_profiles', method('names_by_profiles', 1, 1, (a) => hostnames(byProfiles(names(a[0]!))))],
      ['by_groups', method('by_groups', 1, 1, (a) => byGroups(names(a[0]!)).map(view))],
      ['by_profiles', method('by_profiles', 1, 1, (a) => byProfiles(names(a[0]!)).map(view))],
      ['all_clients', method('all_clients', 0, 0, () => hostnames(all))],
      ['all', method('all', 0, 0, () => [...all].sort((a, b) => (a.hostname < b.hostname ? -1 : 1)).map(view))],
      ['all_groups', method('all_groups', 0, 0, allGroups)],
      [
        'all_groups_in_category',
        method('all_groups_in_category', 1, 1, (a) => new PySet([...new Set(all.map((c) => category(c, str(a[0]!))).filter((g): g is string => g !== undefined))].sort())),
      ],
      [
        'by_name',
        method('by_name', 1, 1, (a) => {
          const c = all.find((x) => x.hostname === str(a[0]!).toLowerCase());
          if (!c) throw new PyError('KeyError', `no client named ${str(a[0]!)}`);
          return view(c);
        }),
      ],
    ]),
  );
}

/** Connector data Bcfg2 adds as metadata.<Plugin>, from plugins bindery does not have. */
const UNAVAILABLE = new Map(
  ['TemplateHelper', 'Ohai', 'AWSTags', 'Ldap'].map((p) => [
    p,
    `metadata.${p} is not available: bindery has no ${p} plugin (put the data in the template, or in groups and categories)`,
  ]),
);

/** What a template may read of a build beyond the client: the Properties files and the repository root. */
export interface BuildData {
  readonly properties: PropertiesModel;
  readonly repo: string;
}

/** The client a Match()/XMLMatch() argument stands for (a metadata object). */
function subjectOf(v: PyValue | undefined, name: string): MatchSubject {
  const hostname = v instanceof PyObject ? v.attrs.get('hostname') : undefined;
  const groups = v instanceof PyObject ? v.attrs.get('groups') : undefined;
  if (typeof hostname !== 'string' || !(groups instanceof PySet)) throw new PyError('TypeError', `${name}() takes a client metadata object, e.g. ${name}(metadata)`);
  return { hostname, groups: groups.items().map(str) };
}

/** XMLMatch results per Properties root and client (immutable data, so shared by every render of the build). */
const matchedTrees = new WeakMap<PNode, Map<string, PNode>>();

function matchedFor(root: PNode, m: ClientMetadata): PNode {
  let byClient = matchedTrees.get(root);
  if (!byClient) matchedTrees.set(root, (byClient = new Map()));
  const key = `${m.hostname}\0${m.groups.join('\0')}`;
  let tree = byClient.get(key);
  if (!tree) byClient.set(key, (tree = xmlMatch(root, m)));
  return tree;
}

/** Element attributes a template may wrongly ask of the file object instead of its xdata. */
const ELEMENT_ONLY = ['find', 'findall', 'findtext', 'xpath', 'get', 'text', 'attrib', 'tag', 'iter'];

/** A Properties file a template cannot use: every attribute raises the load error, naming its file and line. */
function brokenFile(f: PropertyFile): PyObject {
  const e = f.error!;
  const where = `${e.location.file ?? f.file}${e.location.line ? `:${e.location.line}` : ''}`;
  const message = `Properties file ${f.name} could not be loaded (${where}: ${e.message})${e.hint ? `; ${e.hint}` : ''}`;
  return new PyObject('XMLPropertyFile', new Map(), new Map(['xdata', 'data', 'entries', 'name', 'Match', 'XMLMatch', 'find', 'findall', 'findtext', 'get', 'text', 'attrib', 'xpath'].map((a) => [a, message])));
}

/**
 * metadata.Properties: file name → Bcfg2's XMLPropertyFile (`xdata`, `data`, `entries`, `name`,
 * `Match()`, `XMLMatch()`), or, for an automatched file, the XMLMatch result for this client: an
 * element itself, as in Bcfg2 (so `.xdata` is not there).
 */
function pyProperties(m: ClientMetadata, build: BuildData): PyDict {
  const out = new PyDict();
  for (const f of build.properties.files) {
    if (f.root === null) {
      out.set(f.name, brokenFile(f));
      continue;
    }
    const root: PNode = f.root;
    if (f.automatch) {
      out.set(f.name, rootElement(matchedFor(root, m)));
      continue;
    }
    const xdata = rootElement(root);
    out.set(
      f.name,
      new PyObject(
        'XMLPropertyFile',
        new Map<string, PyValue>([
          ['xdata', xdata],
          ['data', f.data],
          ['name', join(build.repo, f.file)],
          ['entries', iterate(xdata)],
          ['Match', method('Match', 1, 1, (a) => elementList(match(root, subjectOf(a[0], 'Match'))))],
          ['XMLMatch', method('XMLMatch', 1, 1, (a) => rootElement(xmlMatch(root, subjectOf(a[0], 'XMLMatch'))))],
        ]),
        new Map(ELEMENT_ONLY.map((a) => [a, `XMLPropertyFile has no attribute "${a}": the file's root element has it, as metadata.Properties['${f.name}'].xdata.${a} (or automatch the file)`])),
      ),
    );
  }
  return out;
}

/** The ClientMetadata object Genshi and Cheetah templates see. */
export function pyMetadata(m: ClientMetadata, all: readonly ClientMetadata[], build: BuildData): PyObject {
  return new PyObject(
    'ClientMetadata',
    new Map<string, PyValue>([
      ['hostname', m.hostname],
      ['profile', m.profile],
      ['groups', new PySet(m.groups)],
      ['bundles', new PySet(m.bundles)],
      ['categories', new PyDict(Object.entries(m.categories))],
      ['aliases', new PySet(m.aliases)],
      ['addresses', new PySet(m.addresses)],
      ['uuid', m.uuid],
      ['password', m.password],
      ['version', m.version],
      ['connectors', [...(m.probes ? ['Probes'] : []), ...(build.properties.files.length > 0 ? ['Properties'] : [])]],
      ['Properties', pyProperties(m, build)],
      ['Probes', new PyDict(Object.entries(m.probes ?? {}))],
      ['inGroup', method('inGroup', 1, 1, (a) => m.groups.includes(str(a[0]!)))],
      ['group_in_category', method('group_in_category', 1, 1, (a) => groupInCategory(m, str(a[0]!)))],
      ['query', query(all, (c) => pyMetadata(c, all, build))],
    ]),
    UNAVAILABLE,
  );
}

/** An element as plain data for Liquid: tag, text, tail, attrib, children. */
function plainElement(n: PNode): Record<string, unknown> {
  return { tag: n.tag, text: n.text, tail: n.tail, attrib: { ...n.attrib }, children: n.children.map(plainElement) };
}

/**
 * Plain data for Liquid: the same fields, groups etc. as sorted arrays; Properties[name] is
 * { name, data, xdata } with xdata the root element (matched for this client under automatch),
 * Probes[name] the probe's value.
 */
export function liquidMetadata(m: ClientMetadata, properties?: PropertiesModel): Record<string, unknown> {
  const props: Record<string, unknown> = {};
  for (const f of properties?.files ?? []) {
    if (f.root === null) continue;
    props[f.name] = { name: f.name, data: f.data, xdata: plainElement(f.automatch ? matchedFor(f.root, m) : f.root) };
  }
  return {
    hostname: m.hostname,
    profile: m.profile,
    groups: [...m.groups],
    bundles: [...m.bundles],
    categories: { ...m.categories },
    aliases: [...m.aliases],
    addresses: [...m.addresses],
    uuid: m.uuid,
    password: m.password,
    version: m.version,
    Properties: props,
    Probes: { ...(m.probes ?? {}) },
  };
}
