/**
 * diff: what a change does to every host. Compares two builds (output directories, or two git
 * revisions built on the fly), groups identical changes across hosts, never shows secrets.
 */
export { readBuild, previousBuildDirectory, snapshotOfHosts, tarballsOf, type BuildSnapshot } from './snapshot.js';
export { diffBuilds, type BuildDiff } from './compare.js';
export { renderText, renderMarkdown, describeChange, describeHosts, summaryLine } from './render.js';
export { buildRevisions } from './rev.js';
