import type { Command } from '../command.js';

/** Every `bindery <command>`, in the order --help lists them. Add a line per command. */
export const commands: readonly Command[] = [
  (await import('./build.js')).buildCommand,
  (await import('./validate.js')).validateCommand,
  (await import('./info.js')).infoClientCommand,
  (await import('./info.js')).infoBuildfileCommand,
  (await import('./crypt.js')).cryptCommand,
];
