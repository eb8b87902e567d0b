import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BinderyError, asBinderyError, type Diagnostic } from '../errors.js';
import type { ClientAuth, ClientMetadata } from '../types.js';
import { parseXml } from '../xml/index.js';
import { readClients, type ClientRecord } from './clients.js';
import { readGroups, type GroupDecl, type MembershipRule } from './groups.js';
import { addGroup, bundlesOf, categoryWarner, firstProfileGroup, indexRules, mergeGroups, type CategoryWarn, type Membership, type RuleIndex } from './membership.js';
import { PROBED_FILE, readProbed, type ProbeResult } from './probes.js';
import { buildTree, diskIncludeReader, type IncludeReader, type MNode } from './tree.js';

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

/** The text of one metadata document and its repo-relative name. */
export interface MetadataDocument {
  readonly text: string;
  readonly file: string;
}

const GROUPS_FILE = 'Metadata/groups.xml';
export const CLIENTS_FILE = 'Metadata/clients.xml';

/** Build the model from the documents' text (no XInclude is followed); probed.xml is optional. */
export function parseMetadata(groups: MetadataDocument, clients: MetadataDocument, probed?: MetadataDocument): MetadataModel {
  return fromDocuments(groups, clients, probed ?? null, null);
}

/**
 * Read Metadata/groups.xml and Metadata/clients.xml (and what they XInclude) from a repository,
 * and Probes/probed.xml when there is one: its groups join the clients' groups. `files` are the
 * files the repository scan already read (the pipeline passes them), so a document is not read
 * twice; anything not among them is read from disk.
 */
export function loadMetadata(repoDir: string, files?: ReadonlyMap<string, { readonly data: Buffer }>): MetadataModel {
  let disk: IncludeReader | undefined;
  const onDisk = () => (disk ??= diskIncludeReader(repoDir));
  const fromScan = (file: string) => files?.get(file)?.data.toString('utf8');
  const read = (file: string): MetadataDocument => {
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
  const probed = fromScan(PROBED_FILE) !== undefined || (files === undefined && existsSync(join(repoDir, PROBED_FILE))) ? read(PROBED_FILE) : null;
  const reader: IncludeReader = { resolve: (href, from, line) => onDisk().resolve(href, from, line), read: (file) => fromScan(file) ?? onDisk().read(file) };
  return fromDocuments(read(GROUPS_FILE), read(CLIENTS_FILE), probed, reader);
}

function fromDocuments(groups: MetadataDocument, clients: MetadataDocument, probed: MetadataDocument | null, reader: IncludeReader | null): MetadataModel {
  const diagnostics: Diagnostic[] = [];
  const groupsTree = buildTree(parseXml(groups.text, groups.file), groups.file, reader, diagnostics);
  const clientsTree = buildTree(parseXml(clients.text, clients.file), clients.file, reader, diagnostics);
  const probes = probed ? readProbed(probed.text, probed.file, diagnostics) : new Map<string, ProbeResult>();
  return buildModel(groupsTree, clientsTree, groups.file, probes, diagnostics);
}

function buildModel(groupsTree: MNode, clientsTree: MNode, groupsFile: string, probes: ReadonlyMap<string, ProbeResult>, diagnostics: Diagnostic[]): MetadataModel {
  const { groups, defaultGroup, rules } = readGroups(groupsTree, diagnostics);
  const records = readClients(clientsTree, diagnostics).sort((a, b) => compare(a.hostname, b.hostname));
  const index = indexRules(groups, rules, groupsFile);
  checkProfiles(records, index, diagnostics);
  const clients: ClientMetadata[] = [];
  const auth: ClientAuth[] = [];
  for (const name of probes.keys()) {
    if (!records.some((r) => r.hostname === name)) diagnostics.push({ code: 'probes-unknown-client', message: `probe results for ${name}, which is not in ${CLIENTS_FILE}; ignored`, file: PROBED_FILE, host: name });
  }
  for (const r of records) {
    const initial = clientMetadata(r, index, groups, diagnostics);
    const probe = probes.get(r.hostname);
    // Probe groups join as Bcfg2's connector groups do, after the client's own.
    clients.push(probe ? { ...withExtraGroups(initial, probe.groups, index, defaultGroup, categoryWarner(r.hostname, diagnostics), { file: PROBED_FILE }), probes: probe.values } : initial);
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

/**
 * A client's metadata with connector groups merged, as Bcfg2 merges them: each extra group
 * passes the category check, then the fixpoint runs again and bundles are recomputed; a client
 * still without a profile takes the first extra group that is one, else the default group.
 */
function withExtraGroups(base: ClientMetadata, extraGroups: readonly string[], index: RuleIndex, defaultGroup: string | null, warn: CategoryWarn, at: { file?: string }): ClientMetadata {
  const m: Membership = { groups: new Set(base.groups), categories: new Map(Object.entries(base.categories)) };
  for (const g of extraGroups) addGroup(m, index, g, warn, at);
  mergeGroups(m, index, base.hostname, warn);
  let profile = base.profile;
  if (profile === null && extraGroups.length > 0) profile = extraGroups.find((g) => index.decls.get(g)?.profile) ?? defaultGroup;
  return toMetadata(m, { ...base, profile }, index);
}

function toMetadata(m: Membership, rest: Omit<ClientMetadata, 'groups' | 'bundles' | 'categories'>, index: RuleIndex): ClientMetadata {
  return {
    ...rest,
    groups: [...m.groups].sort(compare),
    bundles: bundlesOf(m.groups, index),
    categories: Object.fromEntries([...m.categories].sort((a, b) => compare(a[0], b[0]))),
  };
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

