/**
 * lint: the repository mistakes bcfg2-lint finds that matter to what bindery compiles, and
 * the ones real repositories make. Reads the repository with the build's own loaders.
 */
export { lintRepo } from './run.js';
export { CHECKS } from './registry.js';
