/** Every lint check's id, default severity and one line on what it finds (docs/review.md lists them). */
export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  /** Kebab-case id, as bcfg2-lint names its checks. */
  readonly code: string;
  readonly message: string;
  readonly file?: string;
  readonly line?: number;
  readonly path?: string;
  readonly host?: string;
  readonly hint?: string;
}

export interface ReportedFinding extends Finding {
  readonly severity: Severity;
}

export const CHECKS: Readonly<Record<string, { severity: Severity; what: string }>> = {
  // Found by the repository and metadata loaders while reading (the build warns about them too).
  'unknown-cfg-file': { severity: 'warning', what: 'a file in Cfg/ that no handler owns (ignored by the build)' },
  'cfg-file-outside-entry': { severity: 'warning', what: 'a file directly in Cfg/, outside any entry set' },
  'duplicate-client': { severity: 'error', what: 'a client listed twice in clients.xml' },
  'duplicate-group': { severity: 'warning', what: 'a group declared twice in groups.xml' },
  'undeclared-group': { severity: 'warning', what: 'a group used in groups.xml but never declared' },
  'non-profile-group': { severity: 'warning', what: "a client's profile is a group without profile=\"true\"" },
  'client-name-case': { severity: 'error', what: 'an upper-case <Client> condition in groups.xml (never matches)' },
  'category-conflict': { severity: 'warning', what: 'a client reaches two groups of one category' },
  'multiple-default-groups': { severity: 'warning', what: 'more than one default="true" group' },
  'ignored-bundle': { severity: 'warning', what: '<Bundle> where Bcfg2 ignores it' },
  'alias-shadows-client': { severity: 'warning', what: "an alias equal to another client's name" },
  'xinclude-ignored': { severity: 'warning', what: 'an XInclude bindery does not follow' },
  'xinclude-no-match': { severity: 'warning', what: 'an XInclude that matches no file' },
  'missing-bundle': { severity: 'error', what: 'a group lists a bundle with no Bundler/ file' },
  'glob-no-match': { severity: 'warning', what: 'a bundle Path glob that matches no entry set' },
  'conflicting-altsrc': { severity: 'warning', what: 'one path bound with two different altsrc' },
  'unsupported-bundle-template': { severity: 'warning', what: 'a Genshi bundle (bindery does not render bundle templates)' },
  'unsupported-xinclude': { severity: 'warning', what: 'an XInclude in a bundle' },
  // bindery lint's own checks.
  'unknown-host': { severity: 'warning', what: 'a .H_ file for a host that is not a client in clients.xml' },
  'unknown-group': { severity: 'warning', what: 'a .G file for a group not declared in groups.xml' },
  'unreachable-group-file': { severity: 'warning', what: 'a .G file for a declared group no client is or can become a member of' },
  'unused-group': { severity: 'info', what: 'a declared group with no bundles, files, category, and that no rule, bundle or template tests' },
  'unused-bundle': { severity: 'warning', what: 'a Bundler/ file that no group lists' },
  'perms-attribute': { severity: 'warning', what: 'perms= in info.xml (the pre-1.3 name of mode=)' },
  'cat-file-used': { severity: 'warning', what: 'a .cat delta (deprecated in Bcfg2)' },
  'diff-file-used': { severity: 'warning', what: 'a .diff delta (deprecated in Bcfg2)' },
  'ambiguous-priority': { severity: 'error', what: 'two group files of equal priority and a client in both groups: its build fails' },
  'equal-priority': { severity: 'warning', what: 'two group files of equal priority: fine today, a build failure once a client joins both groups' },
  'crypt-not-encrypted': { severity: 'error', what: 'a .crypt file whose content is not encrypted' },
  'pubkey-without-privkey': { severity: 'error', what: 'pubkey.xml with no privkey.xml for the matching private key path' },
  'duplicate-address': { severity: 'warning', what: 'one address given to several clients' },
  'validator-not-executable': { severity: 'error', what: 'a :test validator that is neither executable nor has a #! line' },
  'validator-shebang-only': { severity: 'warning', what: 'a :test validator run through its #! line but not executable (Bcfg2 would not run it)' },
  'short-passphrase': { severity: 'warning', what: 'an [encryption] passphrase shorter than 16 characters' },
  'load-failed': { severity: 'error', what: 'the repository cannot be read (malformed XML, bad file, missing Metadata/): nothing else can be checked' },
};

export function defaultSeverity(code: string): Severity {
  return CHECKS[code]?.severity ?? 'warning';
}
