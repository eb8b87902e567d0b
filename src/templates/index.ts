/**
 * Templates: Liquid (liquidjs), and Bcfg2's Genshi and Cheetah templates evaluated by bindery's
 * own interpreter for the Python subset real repositories use. Compile once, render per client.
 */
export type { CompiledTemplate, TemplateKind, TemplateVars } from './types.js';
export { compileTemplate } from './compile.js';
export { migrateTemplate, type Migration } from './migrate/index.js';
export { benchmarkTemplates, type TemplateTiming } from './bench.js';
