import type { ClientMetadata } from '../types.js';
import { indexRules, type RuleIndex } from './membership.js';
import { compare, type MetadataModel } from './model.js';

interface Lookup {
  readonly byName: ReadonlyMap<string, ClientMetadata>;
  readonly byAlias: ReadonlyMap<string, string>;
  readonly byAddress: ReadonlyMap<string, readonly string[]>;
  readonly rules: RuleIndex;
}

/** Lookup tables, built once per model (a cache: the model itself stays plain data). */
const lookups = new WeakMap<MetadataModel, Lookup>();

function lookup(model: MetadataModel): Lookup {
  let l = lookups.get(model);
  if (!l) {
    const byAlias = new Map<string, string>();
    const byAddress = new Map<string, string[]>();
    for (const a of model.auth) {
      for (const al of a.aliases) byAlias.set(al.name, a.hostname);
      for (const addr of a.addresses) byAddress.set(addr, [...(byAddress.get(addr) ?? []), a.hostname]);
    }
    l = {
      byName: new Map(model.clients.map((c) => [c.hostname, c])),
      byAlias,
      byAddress,
      rules: indexRules(model.groups, model.rules, model.groupsFile),
    };
    lookups.set(model, l);
  }
  return l;
}

/** A client by name or alias, case-insensitively; undefined for an unlisted client. */
export function findClient(model: MetadataModel, name: string): ClientMetadata | undefined {
  const l = lookup(model);
  const lower = name.toLowerCase();
  return l.byName.get(l.byAlias.get(lower) ?? lower);
}

/** The member group of a category, or '' when none (Bcfg2's group_in_category). */
export function groupInCategory(m: ClientMetadata, category: string): string {
  return Object.hasOwn(m.categories, category) ? m.categories[category]! : '';
}

/**
 * The stand-in client of a whole group (authorized_keys `<Allow group="g">` without members=):
 * hostname "dummy", profile and only group g, as Bcfg2 makes it, plus g's category when some
 * client shows one, so the key phase can tell a group key of g.
 */
export function groupStandIn(group: string, clients: readonly ClientMetadata[]): ClientMetadata {
  const categories: Record<string, string> = {};
  for (const c of clients) for (const [cat, g] of Object.entries(c.categories)) if (g === group) categories[cat] = g;
  return { hostname: 'dummy', profile: group, groups: [group], bundles: [], categories, aliases: [], addresses: [], uuid: null, password: null, version: null };
}

/** Hostnames whose client or alias address is `address`, sorted (more than one means a uuid is needed). */
export function clientsByAddress(model: MetadataModel, address: string): string[] {
  return [...(lookup(model).byAddress.get(address) ?? [])].sort(compare);
}
