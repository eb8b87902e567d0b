import type { Command } from '../command.js';

/** Every `bindery <command>`, in the order --help lists them. Add a line per command. */
export const commands: readonly Command[] = [
  (await import('./build.js')).buildCommand,
  (await import('./validate.js')).validateCommand,
  (await import('./info.js')).infoClientCommand,
  (await import('./info.js')).infoBuildfileCommand,
  (await import('./crypt.js')).cryptCommand,
  (await import('./keys.js')).keysCommand,
  (await import('./ca.js')).caInitCommand,
  (await import('./ca.js')).caIssueCommand,
  (await import('./ca.js')).caRevokeCommand,
  (await import('./serve.js')).serveCommand,
  (await import('./fetch.js')).fetchCommand,
  (await import('./signing-key.js')).signingKeyRotateCommand,
  (await import('./migrate.js')).migrateCommand,
  (await import('./lint.js')).lintCommand,
  (await import('./diff.js')).diffCommand,
  (await import('./report.js')).reportCommand,
  (await import('./publish.js')).publishCommand,
  (await import('./merge.js')).mergeCommand,
];
