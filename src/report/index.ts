/**
 * report: renderings of a build for people and CI: the self-contained HTML report, GitHub
 * workflow annotations and JUnit XML.
 */
export { githubAnnotation, annotationFile, junitXml, type AnnotationLevel, type AnnotationSource } from './ci.js';
export { renderReport, type ReportInput } from './html.js';
export { reportForOutput } from './output.js';
export { buildReport, buildAnnotations, buildJunit, type FinishedBuild } from './build-outputs.js';
