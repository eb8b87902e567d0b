import type { Diagnostic, Severity } from '../errors.js';

/** A finding: a Diagnostic (code, message, file, line, path, host, hint) of a lint check. */
export type Finding = Diagnostic;

export interface ReportedFinding extends Diagnostic {
  readonly severity: Severity;
}

/**
 * Every lint id and its default severity. The ids are registered codes (src/errors.ts says
 * what each means); the loaders' own findings come first, then lint's checks.
 */
export const CHECKS: Readonly<Record<string, Severity>> = {
  'unknown-cfg-file': 'warning',
  'cfg-file-outside-entry': 'warning',
  'duplicate-client': 'error',
  'duplicate-group': 'warning',
  'undeclared-group': 'warning',
  'non-profile-group': 'warning',
  'client-name-case': 'error',
  'category-conflict': 'warning',
  'multiple-default-groups': 'warning',
  'ignored-bundle': 'warning',
  'alias-shadows-client': 'warning',
  'xinclude-ignored': 'warning',
  'xinclude-no-match': 'warning',
  'missing-bundle': 'error',
  'glob-no-match': 'warning',
  'conflicting-altsrc': 'warning',
  'unsupported-bundle-template': 'warning',
  'unsupported-xinclude': 'warning',
  'unknown-host': 'warning',
  'unknown-group': 'warning',
  'unreachable-group-file': 'warning',
  'unused-group': 'info',
  'unused-bundle': 'warning',
  'perms-attribute': 'warning',
  'cat-file-used': 'warning',
  'diff-file-used': 'warning',
  'ambiguous-priority': 'error',
  'equal-priority': 'warning',
  'crypt-not-encrypted': 'error',
  'pubkey-without-privkey': 'error',
  'duplicate-address': 'warning',
  'validator-not-executable': 'error',
  'validator-shebang-only': 'warning',
  'short-passphrase': 'warning',
  'template-error': 'error',
  'load-failed': 'error',
};

export function defaultSeverity(code: string): Severity {
  return CHECKS[code] ?? 'warning';
}

export type { Severity };
