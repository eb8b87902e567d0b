/**
 * Properties: the XML files of Properties/ that templates read as metadata.Properties,
 * parsed and decrypted once per build, matched per client where automatch asks for it.
 */
export { loadProperties, type PropertiesModel, type PropertyFile } from './load.js';
export { match, xmlMatch } from './match.js';
export type { PNode } from './tree.js';
