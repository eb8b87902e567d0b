import type { Command } from '../command.js';

/** Every `bindery <command>`, in the order --help lists them. Add a line per command. */
export const commands: readonly Command[] = [
];
