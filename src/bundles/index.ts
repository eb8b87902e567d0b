/**
 * Bundler: which Path entries a client gets. Only `Path` entries are bindery's business;
 * other entries are reported as skipped.
 */
export { loadBundles, type Bundle } from './load.js';
export { planClient, type ClientPlan, type SkippedEntry } from './plan.js';
