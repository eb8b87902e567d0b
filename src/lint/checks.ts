import type { Bundle } from '../bundles/index.js';
import type { Config } from '../config/index.js';
import { clientsByAddress, type MetadataModel } from '../metadata/index.js';
import type { RepoModel } from '../repo/index.js';
import { isEncrypted } from '../secrets/index.js';
import { compileTemplate, type TemplateKind } from '../templates/index.js';
import { asBinderyError } from '../errors.js';
import type { CfgFile, EntrySet } from '../types.js';
import { validatorCommand } from '../validate/index.js';
import { parseXml, type XmlElement } from '../xml/index.js';
import type { Finding } from './registry.js';

/** What every check reads: the repository as the build loads it. Nothing is re-parsed here except info.xml attributes. */
export interface LintInput {
  readonly repo: RepoModel;
  readonly metadata: MetadataModel;
  readonly bundles: ReadonlyMap<string, Bundle> | null;
  readonly config: Config;
  /** The text of bcfg2.conf, for line numbers (null when built-in defaults are used). */
  readonly configText: string | null;
}

/** Passphrases shorter than this fall to offline guessing: the .crypt format uses one MD5 round and no MAC. */
const MIN_PASSPHRASE = 16;

const allFiles = (set: EntrySet): CfgFile[] => [...set.generators, ...set.deltas, ...set.validators, ...set.infos, ...set.creators];

/**
 * Group files for declared groups no client is or can become a member of. (Undeclared groups
 * and unknown hosts are the build's own check, repoChecks, which lint runs too.)
 */
export function reachabilityChecks({ repo, metadata }: LintInput, reachable: ReadonlySet<string>): Finding[] {
  const declared = new Set(metadata.groups.map((g) => g.name));
  const out: Finding[] = [];
  for (const set of repo.entrySets.values()) {
    for (const f of allFiles(set)) {
      const s = f.specificity;
      if (s.kind === 'group' && declared.has(s.group) && !reachable.has(s.group)) {
        out.push({ code: 'unreachable-group-file', message: `no client is, or can become, a member of group "${s.group}" (not a profile, no membership rule reaches it); this file never matches`, file: f.file.rel, path: set.name });
      }
    }
  }
  return out;
}

/**
 * Groups a client can be in: today's members, profile groups (a new client can take one),
 * and what membership rules add once their positive Group conditions are reachable.
 */
export function reachableGroups(metadata: MetadataModel): Set<string> {
  const reach = new Set<string>(metadata.clients.flatMap((c) => c.groups));
  for (const g of metadata.groups) if (g.profile) reach.add(g.name);
  if (metadata.defaultGroup) reach.add(metadata.defaultGroup);
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of metadata.rules) {
      if (r.negate || reach.has(r.group)) continue;
      if (r.conditions.every((c) => c.negate || c.tag === 'Client' || reach.has(c.name))) {
        reach.add(r.group);
        grew = true;
      }
    }
  }
  return reach;
}

/** Group names a bundle's conditionals test. */
function bundleGroupConditions(el: XmlElement, out: Set<string>): Set<string> {
  if (el.name === 'Group' && el.attrs.name) out.add(el.attrs.name);
  for (const c of el.children) bundleGroupConditions(c, out);
  return out;
}

/** A group name's prefixes that end at a - or _ separator, 4 characters or longer: "ganglia-gmond-". */
function prefixes(name: string): string[] {
  const out: string[] = [];
  for (let i = 3; i < name.length - 1; i++) if (name[i] === '-' || name[i] === '_') out.push(name.slice(0, i + 1));
  return out;
}

/** Declared groups that change nothing, and bundles no group lists. */
export function usageChecks({ repo, metadata, bundles }: LintInput): Finding[] {
  const out: Finding[] = [];
  const used = new Set<string>();
  for (const set of repo.entrySets.values()) for (const f of allFiles(set)) if (f.specificity.kind === 'group') used.add(f.specificity.group);
  for (const r of metadata.rules) for (const c of r.conditions) if (c.tag === 'Group') used.add(c.name);
  for (const b of bundles?.values() ?? []) bundleGroupConditions(b.root, used);
  for (const c of metadata.clients) if (c.profile) used.add(c.profile);
  const templates = [...repo.files.values()].filter((f) => /\.(genshi|cheetah|liquid)(_include)?$/.test(f.rel)).map((f) => f.data.toString('utf8'));
  for (const g of metadata.groups) {
    if (used.has(g.name) || g.bundles.length > 0 || g.category !== null) continue;
    // Templates test membership by name or by prefix (g.startswith('ganglia-gmond-')): a mention counts as a use.
    const mentions = [g.name, ...prefixes(g.name)];
    if (templates.some((t) => mentions.some((m) => t.includes(m)))) continue;
    out.push({ code: 'unused-group', message: `group "${g.name}" has no bundles, no Cfg files, no category and no rule or bundle tests it`, file: g.file, line: g.line, hint: 'remove it, or give it the bundles or files it was meant to carry' });
  }
  if (bundles) {
    const listed = new Set(metadata.groups.flatMap((g) => g.bundles));
    for (const b of bundles.values()) {
      if (!listed.has(b.name)) out.push({ code: 'unused-bundle', message: `bundle "${b.name}" is not listed by any group in Metadata/groups.xml; no client gets it`, file: b.file, line: b.root.line });
    }
  }
  return out;
}

/** Every element of an info.xml with a `perms` attribute. */
function permsElements(el: XmlElement, out: XmlElement[] = []): XmlElement[] {
  if (el.attrs.perms !== undefined) out.push(el);
  for (const c of el.children) permsElements(c, out);
  return out;
}

const TEMPLATE_KINDS: Readonly<Partial<Record<CfgFile['kind'], TemplateKind>>> = { genshi: 'genshi', cheetah: 'cheetah', liquid: 'liquid' };

/** Templates that do not parse (bcfg2-lint's Genshi check): every client of the entry fails. Encrypted ones are not opened. */
export function templateChecks({ repo }: LintInput): Finding[] {
  const out: Finding[] = [];
  for (const set of repo.entrySets.values()) {
    for (const g of set.generators) {
      const kind = TEMPLATE_KINDS[g.kind];
      if (!kind) continue;
      try {
        compileTemplate(kind, g.file.data.toString('utf8'), g.file.rel, { repoRoot: repo.root });
      } catch (e) {
        const err = asBinderyError(e, 'TEMPLATE');
        out.push({ code: 'template-error', message: err.message, file: g.file.rel, ...(err.location.line ? { line: err.location.line } : {}), path: set.name, ...(err.hint ? { hint: err.hint } : {}) });
      }
    }
  }
  return out;
}

/** Per-file checks: deltas, perms=, .crypt content, validators, key pairs. */
export function cfgFileChecks({ repo }: LintInput): Finding[] {
  const out: Finding[] = [];
  for (const set of repo.entrySets.values()) {
    for (const d of set.deltas) {
      out.push({
        code: d.kind === 'cat' ? 'cat-file-used' : 'diff-file-used',
        message: `${d.kind === 'cat' ? '.cat' : '.diff'} deltas are deprecated in Bcfg2`,
        file: d.file.rel,
        path: set.name,
        hint: 'replace the base file and its delta with a group- or host-specific file (or a template)',
      });
    }
    for (const info of set.infos) {
      if (info.kind !== 'info.xml') continue;
      let root: XmlElement;
      try {
        root = parseXml(info.file.data.toString('utf8'), info.file.rel);
      } catch {
        continue; // the build reports the malformed file; lint's job is what parses
      }
      for (const el of permsElements(root)) {
        out.push({ code: 'perms-attribute', message: `perms="${el.attrs.perms}" is the pre-1.3 name of mode=`, file: info.file.rel, line: el.line, path: set.name, hint: `write mode="${el.attrs.perms}"` });
      }
    }
    for (const g of set.generators) {
      if (g.kind.includes('crypt') && !isEncrypted(g.file.data)) {
        out.push({ code: 'crypt-not-encrypted', message: 'a .crypt file that is not encrypted: its text is in the repository in the clear and the build cannot decrypt it', file: g.file.rel, path: set.name, hint: 'encrypt the plain text: rename the file without .crypt, then run bindery crypt encrypt <file> --remove' });
      }
    }
    for (const v of set.validators) {
      try {
        validatorCommand(v.file);
        if ((v.file.mode & 0o111) === 0) {
          out.push({ code: 'validator-shebang-only', message: 'validator is not executable; bindery runs it through its #! line, Bcfg2 would not run it', file: v.file.rel, path: set.name, hint: `chmod +x ${v.file.rel}` });
        }
      } catch (e) {
        out.push({ code: 'validator-not-executable', message: `${(e as Error).message}: every content it checks fails the build`, file: v.file.rel, path: set.name, hint: `chmod +x ${v.file.rel}` });
      }
    }
    const pubkey = set.creators.find((c) => c.kind === 'pubkey.xml');
    if (pubkey) {
      const priv = repo.entrySets.get(set.name.replace(/\.pub$/, ''));
      if (!set.name.endsWith('.pub') || !priv?.creators.some((c) => c.kind === 'privkey.xml')) {
        out.push({ code: 'pubkey-without-privkey', message: `pubkey.xml with no privkey.xml in Cfg${set.name.replace(/\.pub$/, '')}/: no key pair is generated for it`, file: pubkey.file.rel, path: set.name, hint: 'the public key entry must be the private key path plus ".pub", with a privkey.xml there' });
      }
    }
  }
  return out;
}

/**
 * Equal-priority group files of one entry set for different groups. A client in both groups
 * fails to bind (an error today); otherwise it is a warning: it fails as soon as a client
 * joins both, unless one category makes the groups exclusive.
 */
export function priorityChecks({ repo, metadata }: LintInput): Finding[] {
  const category = new Map(metadata.groups.map((g) => [g.name, g.category]));
  const out: Finding[] = [];
  for (const set of repo.entrySets.values()) {
    for (const [what, files] of [['generator', set.generators], ['validator', set.validators]] as const) {
      const groupFiles = files.filter((f) => f.specificity.kind === 'group');
      for (let i = 0; i < groupFiles.length; i++) {
        for (let j = i + 1; j < groupFiles.length; j++) {
          const a = groupFiles[i]!;
          const b = groupFiles[j]!;
          if (a.specificity.kind !== 'group' || b.specificity.kind !== 'group') continue;
          const [ga, gb] = [a.specificity.group, b.specificity.group];
          if (a.specificity.prio !== b.specificity.prio || ga === gb) continue;
          const cat = category.get(ga);
          if (cat && cat === category.get(gb)) continue; // one category: no client is in both
          const both = metadata.clients.filter((c) => c.groups.includes(ga) && c.groups.includes(gb)).map((c) => c.hostname);
          const names = `${a.file.rel} and ${b.file.rel}`;
          out.push(
            both.length > 0
              ? { code: 'ambiguous-priority', message: `${what}s ${names} have the same priority (${a.specificity.prio}) and ${both.length} client${both.length === 1 ? ' is' : 's are'} in both groups (${both.slice(0, 3).join(', ')}${both.length > 3 ? ', …' : ''}): the build fails for them`, file: a.file.rel, path: set.name, hint: 'give one of them a higher priority' }
              : { code: 'equal-priority', message: `${what}s ${names} have the same priority (${a.specificity.prio}): a client that joins both groups ${ga} and ${gb} will fail to build`, file: a.file.rel, path: set.name, hint: `give one a higher priority, or put ${ga} and ${gb} in one category` },
          );
        }
      }
    }
  }
  return out;
}

/** Two clients on one address: the server can only tell them apart by uuid. */
export function addressChecks({ metadata }: LintInput): Finding[] {
  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const a of metadata.auth) {
    for (const addr of a.addresses) {
      if (seen.has(addr)) continue;
      seen.add(addr);
      const owners = clientsByAddress(metadata, addr);
      const uuids = new Map(metadata.auth.map((x) => [x.hostname, x.uuid]));
      // Clients sharing an address (behind NAT) are told apart by uuid; without one they cannot be.
      if (owners.length > 1 && owners.some((o) => !uuids.get(o))) {
        out.push({ code: 'duplicate-address', message: `address ${addr} belongs to ${owners.length} clients (${owners.join(', ')}), not all with a uuid`, file: 'Metadata/clients.xml', hint: 'give each client on a shared address a uuid, or fix the address' });
      }
    }
  }
  return out;
}

/** [encryption] passphrases short enough to guess offline. */
export function passphraseChecks({ config, configText }: LintInput): Finding[] {
  const out: Finding[] = [];
  const lines = configText?.split('\n') ?? [];
  for (const p of config.encryption.passphrases) {
    if (p.secret.length >= MIN_PASSPHRASE) continue;
    const esc = p.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const line = lines.findIndex((l) => new RegExp(`^\\s*${esc}\\s*[=:]`, 'i').test(l));
    out.push({
      code: 'short-passphrase',
      // The length only, never the passphrase.
      message: `passphrase "${p.name}" is ${p.secret.length} characters; .crypt files use one MD5 round and no MAC, so short passphrases fall to offline guessing`,
      file: config.file ?? 'bcfg2.conf',
      ...(line >= 0 ? { line: line + 1 } : {}),
      hint: `use at least ${MIN_PASSPHRASE} random characters (e.g. openssl rand -base64 24), then re-encrypt with bindery crypt`,
    });
  }
  return out;
}
