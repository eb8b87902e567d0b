export { scanRepo, addFiles, ignoreMatcher, repoRelative, type RepoModel } from './scan.js';
export { diskFs, MapFs, type RepoFs, type MapEntry } from './fs.js';
export { classifyFile, type Classification } from './classify.js';
export { matches, compareSpecificity, specificitySuffix, describeSpecificity, type MatchSubject } from './specificity.js';
