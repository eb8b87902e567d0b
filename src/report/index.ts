/**
 * report: renderings of a build for people and CI: the self-contained HTML report, GitHub
 * workflow annotations and JUnit XML.
 */
export { githubAnnotation, annotationFile, junitXml, type AnnotationLevel, type AnnotationSource } from './ci.js';
