/**
 * CI renderings: GitHub Actions workflow commands and JUnit XML. Both are read by machines, so
 * every field is escaped for its format.
 */
import { isAbsolute, join, relative } from 'node:path';
import type { BindFailure } from '../types.js';

export type AnnotationLevel = 'error' | 'warning' | 'notice';

export interface AnnotationSource {
  readonly message: string;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  /** Shown as the annotation's title, e.g. the lint id or "build failure". */
  readonly title?: string;
}

/** Workflow-command escaping: data escapes %, CR, LF; properties also : and ,. */
const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const escapeProperty = (s: string) => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

/** One `::error file=…,line=…::message` line. `file` should be relative to the checkout root. */
export function githubAnnotation(level: AnnotationLevel, a: AnnotationSource): string {
  const props: string[] = [];
  if (a.file) props.push(`file=${escapeProperty(a.file)}`);
  if (a.file && a.line) props.push(`line=${a.line}`);
  if (a.file && a.line && a.column) props.push(`col=${a.column}`);
  if (a.title) props.push(`title=${escapeProperty(a.title)}`);
  return `::${level}${props.length ? ' ' + props.join(',') : ''}::${escapeData(a.message)}\n`;
}

/**
 * A repo-relative file as a workflow annotation wants it: relative to the working directory
 * (workflows run at the checkout root), so a repository in a subdirectory still points right.
 */
export function annotationFile(repoDir: string, file: string | undefined): string | undefined {
  if (!file) return undefined;
  const rel = relative(process.cwd(), isAbsolute(file) ? file : join(repoDir, file));
  return rel.startsWith('..') ? file : rel;
}

const xmlEscape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

/**
 * JUnit XML for a build: one test case per host, a <failure> per failed path. Hosts are
 * sorted so the same build gives the same bytes.
 */
export function junitXml(hosts: readonly string[], failures: readonly BindFailure[], seconds: number): string {
  const byHost = new Map<string, BindFailure[]>();
  for (const f of failures) byHost.set(f.host, [...(byHost.get(f.host) ?? []), f]);
  const all = [...new Set([...hosts, ...byHost.keys()])].sort();
  const failed = all.filter((h) => byHost.has(h)).length;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="bindery build" tests="${all.length}" failures="${failed}" errors="0" time="${seconds.toFixed(3)}">`,
    `  <testsuite name="hosts" tests="${all.length}" failures="${failed}" errors="0" skipped="0">`,
  ];
  for (const h of all) {
    const fs = byHost.get(h);
    if (!fs) {
      lines.push(`    <testcase classname="bindery.hosts" name="${xmlEscape(h)}"/>`);
      continue;
    }
    lines.push(`    <testcase classname="bindery.hosts" name="${xmlEscape(h)}">`);
    for (const f of fs) {
      const where = f.file ? `${f.file}${f.line ? `:${f.line}` : ''}` : '';
      lines.push(`      <failure message="${xmlEscape(`${f.path}: ${f.message}`)}" type="bind">${xmlEscape(`${f.path}${where ? ` (${where})` : ''}: ${f.message}`)}</failure>`);
    }
    lines.push('    </testcase>');
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}
