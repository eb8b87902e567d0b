/**
 * The one error type of bindery. Every stage throws or returns a BinderyError with a stable
 * code and as much location as it knows; the CLI turns it into a message and an exit code.
 */
export type ErrorCode =
  | 'USAGE' // bad command line: exit 2
  | 'CONFIG' // bcfg2.conf or signing key problem: exit 2
  | 'XML' // malformed XML
  | 'METADATA' // groups.xml / clients.xml semantics
  | 'REPO' // repository layout: traversal, symlinks, unreadable files, empty repo
  | 'AMBIGUOUS' // two equally specific generators or validators
  | 'BIND' // an entry could not be bound for a host
  | 'TEMPLATE' // template syntax or render error
  | 'CRYPT' // decryption / encryption
  | 'KEYS' // key generation or write-back
  | 'VALIDATE' // a :test validator failed
  | 'EMIT' // writing the output
  | 'AUTH' // server authentication
  | 'FETCH' // client download / verification
  | 'STORE' // object store (S3, file://): unreachable, refused credentials, lost a publish race
  | 'INTERNAL';

export interface Location {
  /** Repo-relative (or absolute, outside the repo) file the problem is in. */
  file?: string;
  line?: number;
  column?: number;
  host?: string;
  /** The client-side path of the entry being bound, e.g. /etc/motd. */
  path?: string;
}

export class BinderyError extends Error {
  readonly code: ErrorCode;
  readonly location: Location;
  /** What the user should do about it. */
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, location: Location = {}, hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BinderyError';
    this.code = code;
    this.location = location;
    this.hint = hint;
  }

  /** A copy with more location filled in (existing fields win). */
  at(location: Location): BinderyError {
    return new BinderyError(this.code, this.message, { ...location, ...this.location }, this.hint, { cause: this.cause });
  }
}

export function isBinderyError(e: unknown): e is BinderyError {
  return e instanceof BinderyError;
}

/** Turn anything thrown into a BinderyError without losing a BinderyError's own code. */
export function asBinderyError(e: unknown, code: ErrorCode, location: Location = {}): BinderyError {
  if (e instanceof BinderyError) return e.at(location);
  const message = e instanceof Error ? e.message : String(e);
  return new BinderyError(code, message, location, undefined, { cause: e });
}

/** "file:line:col" prefix used by every human message. */
export function formatLocation(loc: Location): string {
  const parts: string[] = [];
  if (loc.file) parts.push(loc.file + (loc.line ? `:${loc.line}` + (loc.column ? `:${loc.column}` : '') : ''));
  if (loc.host) parts.push(`host ${loc.host}`);
  if (loc.path) parts.push(`path ${loc.path}`);
  return parts.join(', ');
}

export function formatError(e: BinderyError): string {
  const where = formatLocation(e.location);
  return (where ? `${where}: ` : '') + e.message + (e.hint ? `\n  hint: ${e.hint}` : '');
}

/** A non-fatal finding (a warning), reported in the manifest and on stderr. */
export interface Diagnostic extends Location {
  code: string;
  message: string;
}
