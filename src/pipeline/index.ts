/**
 * The pipeline, in one place: load → plan → keys → bind → validate (→ emit, by the build
 * command). Every command that reads a repository (`build`, `validate`, `keys`, `info`,
 * `serve`) starts with `load`, so they all make the same checks in the same order.
 *
 * The seam for parallel work: `bindInput` gives a `BindInput` (plain data, cloneable into
 * worker threads); `bindAll` (bind-all.ts) binds it per shard of hosts; the main thread keeps
 * load, keys, validation scheduling and the final publish. docs/architecture.md draws it.
 */
export { load, plan, keys, type LoadOptions, type Loaded, type Plans, type Phase, type Skipped } from './stages.js';
export { compile, messagesOf, type CompileOptions, type CompileResult, type HostResult } from './compile.js';
export { inspectClient, buildFile, type PathReport } from './inspect.js';
export { repoChecks } from './checks.js';
