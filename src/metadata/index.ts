/**
 * Metadata: groups.xml, clients.xml and the membership fixpoint, with
 * bindery's rules: only listed clients exist (decision 8 (docs/decisions.md)), names are lower-cased (#9).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BinderyError, asBinderyError, type Diagnostic } from '../errors.js';
import type { ClientAuth, ClientMetadata } from '../types.js';
import { parseXml } from '../xml/index.js';
import { readClients, type ClientRecord } from './clients.js';
import { readGroups, type GroupDecl, type MembershipRule } from './groups.js';
import { addGroup, bundlesOf, categoryWarner, firstProfileGroup, indexRules, mergeGroups, type Membership, type RuleIndex } from './membership.js';
import { buildTree, diskIncludeReader, type IncludeReader, type MNode } from './tree.js';

export type { GroupDecl, MembershipRule, RuleCondition } from './groups.js';

export interface MetadataModel {
  /** Every client of clients.xml, sorted by hostname. */
  readonly clients: readonly ClientMetadata[];
  /** Same order as `clients`. */
  readonly auth: readonly ClientAuth[];
  /** Declaration order. */
  readonly groups: readonly GroupDecl[];
  readonly defaultGroup: string | null;
  /** Warnings: category losers, undeclared groups used, ignored bundles, duplicates, … */
  readonly diagnostics: readonly Diagnostic[];
  /** Membership statements of groups.xml in pass-B order, for `metadataOf`. */
  readonly rules: readonly MembershipRule[];
  /** The groups.xml file name the model was read from. */
  readonly groupsFile: string;
}

export const GROUPS_FILE = 'Metadata/groups.xml';
export const CLIENTS_FILE = 'Metadata/clients.xml';

/** Build the model from the two documents' text (no XInclude is followed). */
export function parseMetadata(groups: { text: string; file: string }, clients: { text: string; file: string }): MetadataModel {
  return fromDocuments(groups, clients, null);
}

/**
 * Read Metadata/groups.xml and Metadata/clients.xml (and what they XInclude) from a repository.
 * `files` are the files the repository scan already read (the pipeline passes them), so a
 * document is not read twice; anything not among them is read from disk.
 */
export function loadMetadata(repoDir: string, files?: ReadonlyMap<string, { readonly data: Buffer }>): MetadataModel {
  let disk: IncludeReader | undefined;
  const onDisk = () => (disk ??= diskIncludeReader(repoDir));
  const fromScan = (file: string) => files?.get(file)?.data.toString('utf8');
  const read = (file: string): { text: string; file: string } => {
    const scanned = fromScan(file);
    if (scanned !== undefined) return { text: scanned, file };
    const abs = join(repoDir, file);
    if (!existsSync(abs)) {
      throw new BinderyError('REPO', `${file} is missing`, { file }, `create ${file} (the repository needs both Metadata/groups.xml and Metadata/clients.xml)`);
    }
    try {
      return { text: readFileSync(abs, 'utf8'), file };
    } catch (e) {
      throw asBinderyError(e, 'REPO', { file });
    }
  };
  const reader: IncludeReader = { resolve: (href, from, line) => onDisk().resolve(href, from, line), read: (file) => fromScan(file) ?? onDisk().read(file) };
  return fromDocuments(read(GROUPS_FILE), read(CLIENTS_FILE), reader);
}

function fromDocuments(groups: { text: string; file: string }, clients: { text: string; file: string }, reader: IncludeReader | null): MetadataModel {
  const diagnostics: Diagnostic[] = [];
  const groupsTree = buildTree(parseXml(groups.text, groups.file), groups.file, reader, diagnostics);
  const clientsTree = buildTree(parseXml(clients.text, clients.file), clients.file, reader, diagnostics);
  return buildModel(groupsTree, clientsTree, groups.file, diagnostics);
}

function buildModel(groupsTree: MNode, clientsTree: MNode, groupsFile: string, diagnostics: Diagnostic[]): MetadataModel {
  const { groups, defaultGroup, rules } = readGroups(groupsTree, diagnostics);
  const records = readClients(clientsTree, diagnostics).sort((a, b) => compare(a.hostname, b.hostname));
  const index = indexRules(groups, rules, groupsFile);
  checkProfiles(records, index, diagnostics);
  const clients: ClientMetadata[] = [];
  const auth: ClientAuth[] = [];
  for (const r of records) {
    clients.push(clientMetadata(r, index, groups, diagnostics));
    auth.push({ hostname: r.hostname, auth: r.auth, uuid: r.uuid, password: r.password, secure: r.secure, floating: r.floating, addresses: r.addresses, aliases: r.aliases });
  }
  return { clients, auth, groups, defaultGroup, diagnostics, rules, groupsFile };
}

/** A profile must name a declared group; one that is not profile="true" is a member but not metadata.profile. */
function checkProfiles(records: readonly ClientRecord[], index: RuleIndex, diagnostics: Diagnostic[]): void {
  for (const r of records) {
    for (const p of r.profiles) {
      const decl = index.decls.get(p.group);
      const at = { file: p.file, line: p.line, host: r.hostname };
      if (!decl) {
        throw new BinderyError('METADATA', `client ${r.hostname} has profile "${p.group}", a group not declared in ${index.file}`, at, `declare <Group name="${p.group}" profile="true"/> in ${index.file}, or fix the client's profile`);
      }
      if (!decl.profile) {
        diagnostics.push({ code: 'non-profile-group', message: `client ${r.hostname}: group "${p.group}" is not profile="true"; it is a member group but not the client's profile`, ...at });
      }
    }
  }
}

function clientMetadata(r: ClientRecord, index: RuleIndex, declared: readonly GroupDecl[], diagnostics: Diagnostic[]): ClientMetadata {
  const m: Membership = { groups: new Set(), categories: new Map() };
  const warn = categoryWarner(r.hostname, diagnostics);
  let profile: string | null = null;
  for (const p of r.profiles) {
    if (addGroup(m, index, p.group, warn, { file: p.file, line: p.line }) && profile === null && index.decls.get(p.group)!.profile) profile = p.group;
  }
  mergeGroups(m, index, r.hostname, warn);
  return toMetadata(m, {
    hostname: r.hostname,
    profile: profile ?? firstProfileGroup(m.groups, declared),
    aliases: r.aliases.map((a) => a.name),
    addresses: r.addresses,
    uuid: r.uuid,
    password: r.password,
    version: r.version,
  }, index);
}

function toMetadata(m: Membership, rest: Omit<ClientMetadata, 'groups' | 'bundles' | 'categories'>, index: RuleIndex): ClientMetadata {
  return {
    ...rest,
    groups: [...m.groups].sort(compare),
    bundles: bundlesOf(m.groups, index),
    categories: Object.fromEntries([...m.categories].sort((a, b) => compare(a[0], b[0]))),
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

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

/** Metadata standing for a whole group (authorized_keys `Allow group=`). */
export function groupMetadata(_model: MetadataModel, group: string): ClientMetadata {
  return { hostname: 'dummy', profile: group, groups: [group], bundles: [], categories: {}, aliases: [], addresses: [], uuid: null, password: null, version: null };
}

/** Hostnames whose client or alias address is `address`, sorted (more than one means a uuid is needed). */
export function clientsByAddress(model: MetadataModel, address: string): string[] {
  return [...(lookup(model).byAddress.get(address) ?? [])].sort(compare);
}

/**
 * A client's metadata with extra groups merged, as Bcfg2 merges connector groups: each extra group passes the category check, then the fixpoint runs
 * again and bundles are recomputed. Category suppressions here are not reported.
 */
export function metadataOf(model: MetadataModel, hostname: string, extraGroups: readonly string[]): ClientMetadata {
  const base = findClient(model, hostname);
  if (!base) {
    throw new BinderyError('METADATA', `no client ${hostname.toLowerCase()} in ${CLIENTS_FILE}`, { file: CLIENTS_FILE, host: hostname.toLowerCase() }, 'only clients listed in clients.xml are compiled: add it there');
  }
  const index = lookup(model).rules;
  const m: Membership = { groups: new Set(base.groups), categories: new Map(Object.entries(base.categories)) };
  const warn = categoryWarner(base.hostname, []);
  for (const g of extraGroups) addGroup(m, index, g, warn, {});
  mergeGroups(m, index, base.hostname, warn);
  let profile = base.profile;
  if (profile === null && extraGroups.length > 0) {
    profile = extraGroups.find((g) => index.decls.get(g)?.profile) ?? model.defaultGroup;
  }
  return toMetadata(m, { ...base, profile }, index);
}
