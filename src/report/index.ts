/**
 * report: renderings of a build for people and CI: the self-contained HTML report, GitHub
 * workflow annotations and JUnit XML.
 */
export { githubAnnotation, annotationFile } from './ci.js';
export { reportForOutput } from './output.js';
export { buildReport, buildAnnotations, buildJunit, type FinishedBuild } from './build-outputs.js';
