export { scanRepo, addFiles, type RepoModel } from './scan.js';
export type { RepoFs, FsEntry, EntryType } from './fs.js';
export { classifyFile } from './classify.js';
export { matches, compareSpecificity, specificitySuffix, describeSpecificity, type MatchSubject } from './specificity.js';
