/**
 * Plain data passed between stages. Nothing here has behaviour or hidden state.
 * Names are Bcfg2's: client, group, profile, bundle, entry set, specificity, bind, delta, validator.
 */
import type { Diagnostic } from './errors.js';

export type AuthType = 'cert' | 'cert+password' | 'bootstrap';

/** What templates, bundles and conditionals see of a client. */
export interface ClientMetadata {
  /** Lower-cased canonical name. */
  readonly hostname: string;
  readonly profile: string | null;
  /** Sorted group names. */
  readonly groups: readonly string[];
  /** Sorted bundle names. */
  readonly bundles: readonly string[];
  /** category → the one member group of that category. */
  readonly categories: Readonly<Record<string, string>>;
  readonly aliases: readonly string[];
  readonly addresses: readonly string[];
  readonly uuid: string | null;
  readonly password: string | null;
  readonly version: string | null;
  /** Probe name → value from Probes/probed.xml (Bcfg2's last probe run); absent when it has none. */
  readonly probes?: Readonly<Record<string, string>>;
}

/** How a client authenticates (clients.xml attributes the server needs). */
export interface ClientAuth {
  readonly hostname: string;
  /** null = use [communication] authentication */
  readonly auth: AuthType | null;
  readonly uuid: string | null;
  readonly password: string | null;
  readonly secure: boolean;
  readonly floating: boolean;
  /** Client address plus alias addresses. */
  readonly addresses: readonly string[];
  readonly aliases: readonly { name: string; address: string | null }[];
}

/** Where a generator, delta, validator applies. */
export type Specificity =
  | { readonly kind: 'all' }
  | { readonly kind: 'group'; readonly group: string; readonly prio: number }
  | { readonly kind: 'host'; readonly host: string };

/** A file read from the repository: read once, shared by every stage. */
export interface RepoFile {
  /** Repo-relative POSIX path, e.g. Cfg/etc/motd/motd.G50_web */
  readonly rel: string;
  /** Absolute path on disk. */
  readonly abs: string;
  readonly data: Buffer;
  /** File mode bits from disk (for :test executability). */
  readonly mode: number;
}

/**
 * What a Cfg file is:
 * generators produce content, deltas modify it, validators check it, info sets metadata,
 * creators make keys/certificates during the key phase.
 */
export type CfgFileKind =
  | 'plain'
  | 'crypt'
  | 'genshi'
  | 'cheetah'
  | 'liquid'
  | 'genshi.crypt'
  | 'cheetah.crypt'
  | 'liquid.crypt'
  | 'authorized_keys.xml'
  | 'cat'
  | 'diff'
  | 'test'
  | 'info.xml'
  | 'legacy-info'
  | 'privkey.xml'
  | 'pubkey.xml'
  | 'sslkey.xml'
  | 'sslcert.xml';

export type CfgRole = 'generator' | 'delta' | 'validator' | 'info' | 'creator';

export interface CfgFile {
  readonly kind: CfgFileKind;
  readonly role: CfgRole;
  readonly specificity: Specificity;
  readonly file: RepoFile;
}

/** All files of one Cfg directory: one client-side path. */
export interface EntrySet {
  /** Client-side path, e.g. /etc/motd */
  readonly name: string;
  /** Repo-relative directory, e.g. Cfg/etc/motd */
  readonly dir: string;
  readonly basename: string;
  readonly generators: readonly CfgFile[];
  readonly deltas: readonly CfgFile[];
  readonly validators: readonly CfgFile[];
  readonly infos: readonly CfgFile[];
  readonly creators: readonly CfgFile[];
}

/** File metadata from info.xml / defaults. All values verbatim strings. */
export interface FileInfo {
  readonly owner: string;
  readonly group: string;
  readonly mode: string;
  readonly encoding?: string;
  /** Every other attribute of the winning Info (secontext, paranoid, …). */
  readonly extra: Readonly<Record<string, string>>;
}

/** An abstract Path entry a client must get (from a bundle, or every entry set without Bundler/). */
export interface PathEntry {
  readonly name: string;
  readonly altsrc?: string;
  /** Bundle that asked for it (absent without Bundler/). */
  readonly bundle?: string;
}

/** A successfully bound file for one client. */
export interface BoundFile {
  readonly path: string;
  readonly data: Buffer;
  readonly info: FileInfo;
  /** Repo-relative file of the generator (or creator) chosen. */
  readonly source: string;
  /** Repo-relative files of the deltas applied, in order. */
  readonly deltas: readonly string[];
  /** The validator that must pass for this content, if any (repo-relative). */
  readonly validator?: string;
}

export type { BindFailure } from './errors.js';

export type { Diagnostic };
