/**
 * What templates see of a client: a Python object for Genshi and Cheetah, plain
 * data for Liquid. Sets keep the sorted order of ClientMetadata, so output is deterministic.
 */
import type { ClientMetadata } from '../types.js';
import { PyError } from './python/errors.js';
import { arity } from './python/methods.js';
import { PyDict, PyFunc, PyObject, PySet, iterate, str, type PyValue } from './python/values.js';

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
  ['Probes', 'Properties', 'TemplateHelper', 'Ohai', 'AWSTags', 'Ldap'].map((p) => [
    p,
    `metadata.${p} is not available: bindery has no ${p} plugin (put the data in the template, or in groups and categories)`,
  ]),
);

/** The ClientMetadata object Genshi and Cheetah templates see. */
export function pyMetadata(m: ClientMetadata, all: readonly ClientMetadata[]): PyObject {
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
      ['connectors', []],
      ['inGroup', method('inGroup', 1, 1, (a) => m.groups.includes(str(a[0]!)))],
      ['group_in_category', method('group_in_category', 1, 1, (a) => category(m, str(a[0]!)) ?? '')],
      ['query', query(all, (c) => pyMetadata(c, all))],
    ]),
    UNAVAILABLE,
  );
}

/** Plain data for Liquid: the same fields, groups etc. as sorted arrays. */
export function liquidMetadata(m: ClientMetadata): Record<string, unknown> {
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
  };
}
