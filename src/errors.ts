/**
 * bindery's one report shape. Every error, warning and bind failure ends up as a `Message`
 * (modelled on esbuild's): a registered kebab-case code, a severity, the text, where it is
 * (file, line, column, the line's text), which hosts and path it concerns, a hint, notes.
 *
 * Stages keep producing what is convenient where they are: they throw a `BinderyError`
 * (which carries a Message) or return a flat `Diagnostic` / `BindFailure`; `toMessage`,
 * `diagnosticMessage` and `failureMessages` turn those into Messages for the CLI and --json.
 */

/** How a process ends: 0 ok, 1 build/validation/auth failure, 2 usage or configuration, 70 a bug. */
export type ExitCode = 0 | 1 | 2 | 70;

interface CodeInfo {
  readonly about: string;
  /** The exit code an error of this code gives (warnings do not change the exit code). */
  readonly exit: ExitCode;
}

const c = (about: string, exit: ExitCode = 1): CodeInfo => ({ about, exit });

/**
 * Every code a Message may carry, one per line (add new ones here, in their group).
 * Names read like bcfg2-lint's checks: what is wrong, in kebab case.
 */
const CODES = {
  // Errors that stop a command.
  'usage': c('the command line is wrong (unknown option, missing argument)', 2),
  'config': c('bcfg2.conf, a signing key, a TLS file or another setting is unusable', 2),
  'not-a-repository': c('the directory given holds no Metadata/ (not a Bcfg2 repository)', 2),
  'xml-malformed': c('an XML file does not parse'),
  'metadata-invalid': c('groups.xml or clients.xml is inconsistent'),
  'repo-invalid': c('a repository file is refused: traversal, links out, unreadable, bad names'),
  'ambiguous-specificity': c('two generators or validators are equally specific for a client'),
  'bind-failed': c('an entry could not be bound for a host'),
  'template-error': c('a template does not parse or fails to render'),
  'crypt-failed': c('encryption or decryption failed'),
  'keys-failed': c('key generation or write-back failed'),
  'validator-failed': c('a :test validator rejected a bound file'),
  'emit-failed': c('the output could not be written or published'),
  'auth-failed': c('a client could not be authenticated'),
  'fetch-failed': c('a client could not download or verify its configuration'),
  'store-failed': c('an object store (s3://, file://) could not be reached or refused the credentials or bucket'),
  'store-damaged': c('an object in a store does not hold what its name or the signed manifest says'),
  'publish-conflict': c('another publisher switched the store\'s current build first: run again'),
  'internal': c('a bug in bindery', 70),
  // Warnings (and bind failures) found while loading, planning and binding.
  'alias-shadows-client': c('an alias in clients.xml is also a client name'),
  'authorized-keys-bad-literal': c('authorized_keys.xml has an unusable literal key'),
  'authorized-keys-empty-allow': c('an <Allow> in authorized_keys.xml selects nothing'),
  'authorized-keys-empty-group': c('an authorized_keys.xml group has no members'),
  'authorized-keys-empty-key': c('an authorized_keys.xml key is empty'),
  'authorized-keys-no-group-in-category': c('a client has no group in the category authorized_keys.xml asks for'),
  'authorized-keys-no-key': c('an authorized_keys.xml entry names a key that does not exist'),
  'authorized-keys-params-deprecated': c('authorized_keys.xml uses the deprecated <Params>'),
  'authorized-keys-unknown-host': c('authorized_keys.xml names a host not in clients.xml'),
  'category-conflict': c('a client is in two groups of one category'),
  'cfg-file-outside-entry': c('a file directly in Cfg/ belongs to no entry set'),
  'client-name-case': c('a client name is not lower case'),
  'conflicting-altsrc': c('a path is in two bundles with different altsrc'),
  'decryption-failed': c('a .crypt file could not be decrypted with any passphrase'),
  'delta-on-generated': c('a .cat/.diff delta applies to generated content'),
  'duplicate-client': c('a client is listed twice in clients.xml'),
  'floating-bootstrap': c('a bootstrap client that floats and is not secure takes the global password from anywhere for its one run'),
  'fetch-unordered-build': c('a signed host record states neither serial nor build time, so fetch cannot refuse an older build'),
  'duplicate-group': c('a group is declared twice in groups.xml'),
  'glob-no-match': c('a bundle <Path glob=…> matches no entry'),
  'ignored-bundle': c('a bundle file is ignored'),
  'info-ambiguous': c('several info.xml entries match a client equally'),
  'info-duplicate': c('info.xml repeats an entry'),
  'info-perms-ignored': c('info.xml uses the pre-1.3 perms=, which Bcfg2 1.3 and later ignore'),
  'key-adopted': c('a key was written meanwhile by another build and adopted'),
  'key-no-group-in-category': c('a client has no group in a key spec category'),
  'key-no-group-key': c('a group key cannot be made'),
  'key-not-generated': c('a key could not be generated'),
  'key-passphrase-undecryptable': c('a key passphrase could not be decrypted'),
  'key-public-replaced': c('a public key was replaced to match its private key'),
  'key-spec-conflict': c('two key specs disagree'),
  'legacy-info-line': c('a legacy :info file has a line bindery ignores'),
  'missing-bundle': c('a client names a bundle with no Bundler/ file'),
  'multiple-default-groups': c('groups.xml has more than one default group'),
  'no-build': c('serve: nothing is published in the build directory yet'),
  'non-profile-group': c('a client\'s profile is not a profile group'),
  'probes-duplicate-client': c('probed.xml lists a client twice'),
  'probes-ignored-element': c('probed.xml has an element bindery does not read'),
  'probes-unknown-client': c('probed.xml has results for a host not in clients.xml'),
  'properties-decrypt-failed': c('an encrypted Properties element could not be decrypted (lax_decryption)'),
  'properties-decrypt-not-ascii': c('an encrypted Properties element decrypts to non-ASCII text and stays encrypted'),
  'properties-format-unsupported': c('a JSON or YAML Properties file is not read'),
  'properties-unusable': c('a Properties file cannot be used (malformed or undecryptable)'),
  'ssl-cert-ignored': c('an sslcert.xml setting is ignored'),
  'template-shadowed': c('a template is shadowed by a more preferred one'),
  'undeclared-group': c('a group is used but not declared'),
  'unknown-cfg-file': c('no Cfg handler owns a file name'),
  'unknown-group': c('a group-specific file names an undeclared group'),
  'unknown-host': c('a host-specific file names a host that is not a client'),
  'unsupported-bundle-template': c('a bundle is a Genshi template, not rendered'),
  'unsupported-template': c('a template kind bindery does not render (Jinja2)'),
  'uuid-shadows-name': c('a client\'s uuid is another client\'s name, so that name logs in as the uuid client'),
  'unsupported-xinclude': c('an XInclude in a bundle is not followed'),
  'worker-died': c('serve: a worker process exited on its own; the others are stopped'),
  'cache-ignored': c('the incremental build cache is damaged, foreign or signed by another key, so it is not used'),
  'validator-skipped': c('a :test validator was not run because --skip-validator named its path'),
  'xinclude-ignored': c('an XInclude is ignored'),
  'xinclude-no-match': c('an XInclude matches no file'),
  // Lint findings (bindery lint; docs/review.md lists them with their severities).
  'ambiguous-priority': c('two equal-priority group files, and a client in both groups'),
  'cat-file-used': c('a .cat delta (deprecated in Bcfg2)'),
  'crypt-not-encrypted': c('a .crypt file whose content is not encrypted'),
  'diff-file-used': c('a .diff delta (deprecated in Bcfg2)'),
  'duplicate-address': c('one address for several clients, not all with a uuid'),
  'equal-priority': c('two equal-priority group files: a failure once a client joins both groups'),
  'load-failed': c('lint could not read the repository'),
  'perms-attribute': c('perms= in info.xml, the pre-1.3 name of mode='),
  'pubkey-without-privkey': c('pubkey.xml with no privkey.xml for its private key path'),
  'short-passphrase': c('an [encryption] passphrase shorter than 16 characters'),
  'unreachable-group-file': c('a group file for a group no client is or can become a member of'),
  'unused-bundle': c('a Bundler/ file no group lists'),
  'unused-group': c('a group with no bundles, files or category that nothing tests'),
  'validator-not-executable': c('a :test validator neither executable nor with a #! line'),
  'validator-shebang-only': c('a :test validator with a #! line but not executable'),
} as const satisfies Record<string, CodeInfo>;

export type MessageCode = keyof typeof CODES;

/** The old upper-case categories, still accepted by `new BinderyError(…)`. */
export type ErrorCode = 'USAGE' | 'CONFIG' | 'XML' | 'METADATA' | 'REPO' | 'AMBIGUOUS' | 'BIND' | 'TEMPLATE' | 'CRYPT' | 'KEYS' | 'VALIDATE' | 'EMIT' | 'AUTH' | 'FETCH' | 'INTERNAL';

const LEGACY: Readonly<Record<ErrorCode, MessageCode>> = {
  USAGE: 'usage',
  CONFIG: 'config',
  XML: 'xml-malformed',
  METADATA: 'metadata-invalid',
  REPO: 'repo-invalid',
  AMBIGUOUS: 'ambiguous-specificity',
  BIND: 'bind-failed',
  TEMPLATE: 'template-error',
  CRYPT: 'crypt-failed',
  KEYS: 'keys-failed',
  VALIDATE: 'validator-failed',
  EMIT: 'emit-failed',
  AUTH: 'auth-failed',
  FETCH: 'fetch-failed',
  INTERNAL: 'internal',
};

/** The registered code for a legacy category or a code string; unregistered codes pass through. */
function registeredCode(code: string): string {
  return (LEGACY as Record<string, string>)[code] ?? code;
}

function exitCodeOf(code: string): ExitCode {
  return (CODES as Record<string, CodeInfo>)[registeredCode(code)]?.exit ?? 1;
}

export type Severity = 'error' | 'warning' | 'info';

export interface SourceLocation {
  /** Repo-relative (or absolute, outside the repo) file. */
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  /** The text of `line`, for a code frame. */
  readonly lineText?: string;
}

export interface Message {
  readonly code: string;
  readonly severity: Severity;
  readonly text: string;
  readonly location?: SourceLocation;
  /** Every host it concerns, in full (never "and 4 more"). */
  readonly hosts?: readonly string[];
  /** The client-side path of the entry, e.g. /etc/motd. */
  readonly path?: string;
  /** What to do about it. */
  readonly hint?: string;
  readonly notes?: readonly string[];
}

/** Where a problem is, as stages fill it in: flat, so `{ file, line, host }` literals stay short. */
export interface Location {
  file?: string;
  line?: number;
  column?: number;
  lineText?: string;
  host?: string;
  /** The client-side path of the entry being bound, e.g. /etc/motd. */
  path?: string;
}

export class BinderyError extends Error {
  /** As given: a registered code or a legacy category (see `registeredCode`). */
  readonly code: ErrorCode | MessageCode;
  readonly location: Location;
  readonly hint?: string;
  readonly notes?: readonly string[];

  constructor(code: ErrorCode | MessageCode, message: string, location: Location = {}, hint?: string, options?: { cause?: unknown; notes?: readonly string[] }) {
    super(message, options);
    this.name = 'BinderyError';
    this.code = code;
    this.location = location;
    this.hint = hint;
    if (options?.notes) this.notes = options.notes;
  }

  /** A copy with more location filled in (existing fields win). */
  at(location: Location): BinderyError {
    return new BinderyError(this.code, this.message, { ...location, ...this.location }, this.hint, { cause: this.cause, ...(this.notes ? { notes: this.notes } : {}) });
  }

  get exitCode(): ExitCode {
    return exitCodeOf(this.code);
  }

  toMessage(): Message {
    return message({ code: registeredCode(this.code), severity: 'error', text: this.message, ...this.location, ...(this.hint ? { hint: this.hint } : {}), ...(this.notes ? { notes: this.notes } : {}) });
  }
}

export function isBinderyError(e: unknown): e is BinderyError {
  return e instanceof BinderyError;
}

/** Turn anything thrown into a BinderyError without losing a BinderyError's own code. */
export function asBinderyError(e: unknown, code: ErrorCode | MessageCode, location: Location = {}): BinderyError {
  if (e instanceof BinderyError) return e.at(location);
  const text = e instanceof Error ? e.message : String(e);
  return new BinderyError(code, text, location, undefined, { cause: e });
}

/** A non-fatal finding (a warning), as stages report it; `diagnosticMessage` makes it a Message. */
export interface Diagnostic extends Location {
  code: string;
  message: string;
  severity?: Severity;
  hint?: string;
}

/** One Message from flat fields (the shape every producer has at hand). */
function message(m: Location & { code: string; severity: Severity; text: string; hosts?: readonly string[]; hint?: string; notes?: readonly string[] }): Message {
  const hosts = m.hosts ?? (m.host ? [m.host] : undefined);
  return {
    code: m.code,
    severity: m.severity,
    text: m.text,
    ...(m.file ? { location: { file: m.file, ...(m.line ? { line: m.line } : {}), ...(m.column ? { column: m.column } : {}), ...(m.lineText !== undefined ? { lineText: m.lineText } : {}) } } : {}),
    ...(hosts?.length ? { hosts } : {}),
    ...(m.path ? { path: m.path } : {}),
    ...(m.hint ? { hint: m.hint } : {}),
    ...(m.notes?.length ? { notes: m.notes } : {}),
  };
}

export function diagnosticMessage(d: Diagnostic): Message {
  const { code, message: text, severity, ...rest } = d;
  return message({ ...rest, code: registeredCode(code), severity: severity ?? 'warning', text });
}

/** An entry that could not be bound for a host (re-exported by types.ts); defined here so errors.ts imports nothing. */
export interface BindFailure {
  readonly host: string;
  readonly path: string;
  /** The file that caused it, when one did. */
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
  /** A registered code when not 'bind-failed', e.g. 'validator-failed'. */
  readonly code?: string;
}

/**
 * Bind failures as Messages, one per distinct (file, line, column, path, text) with every host
 * it hit: a broken file shared by 5,000 hosts is one Message naming 5,000 hosts.
 */
export function failureMessages(failures: readonly BindFailure[]): Message[] {
  const groups = new Map<string, { f: BindFailure; hosts: string[] }>();
  for (const f of failures) {
    const key = `${f.code ?? ''}\0${f.file ?? ''}\0${f.line ?? ''}\0${f.column ?? ''}\0${f.path}\0${f.message}`;
    const g = groups.get(key);
    if (g) g.hosts.push(f.host);
    else groups.set(key, { f, hosts: [f.host] });
  }
  return [...groups.values()].map(({ f, hosts }) => message({ code: f.code ?? 'bind-failed', severity: 'error', text: f.message, file: f.file, line: f.line, column: f.column, path: f.path, hosts: [...new Set(hosts)].sort() }));
}

/** "1 file, 9 hosts": counts as a person reads them. */
export function countOf(n: number, noun: string, plural = noun + 's'): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
