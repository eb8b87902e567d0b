import { snapshotOfHosts } from '../diff/index.js';
import type { BindFailure, BoundFile, Diagnostic, EntrySet } from '../types.js';
import { annotationFile, githubAnnotation, junitXml } from './ci.js';
import { renderReport } from './html.js';
import { reportForOutput } from './output.js';

/** What `bindery build` knows when it has finished, for its --report, --junit and --format github. */
export interface FinishedBuild {
  readonly repo: string;
  readonly out: string;
  readonly published: boolean;
  readonly hosts: readonly { host: string; files: readonly BoundFile[]; failures: readonly BindFailure[] }[];
  readonly failures: readonly BindFailure[];
  readonly warnings: readonly Diagnostic[];
  readonly entrySets: ReadonlyMap<string, EntrySet>;
  readonly hostGroups: ReadonlyMap<string, readonly string[]>;
  readonly phases: Readonly<Record<string, number>>;
  readonly revision: string | null;
  readonly seconds: number;
}

/**
 * The HTML report: of the published output (read back, with the diff against the previous
 * build), or, when nothing was published, of the failures and warnings (hosts' files are
 * written as they are bound and not kept).
 */
export async function buildReport(b: FinishedBuild): Promise<string> {
  if (b.published) return reportForOutput(b.out, { entrySets: b.entrySets, phases: b.phases, hostGroups: b.hostGroups });
  const snap = snapshotOfHosts(`${b.repo} (not published)`, b.hosts, b.revision);
  return renderReport({ build: { ...snap, warnings: b.warnings }, diff: null, entrySets: b.entrySets, phases: b.phases });
}

/** Workflow annotations: one error per distinct failure (naming its hosts), one warning per warning. */
export function buildAnnotations(b: FinishedBuild): string {
  const distinct = new Map<string, { f: BindFailure; hosts: string[] }>();
  for (const f of b.failures) {
    const k = `${f.file ?? ''}\0${f.line ?? ''}\0${f.path}\0${f.message}`;
    const g = distinct.get(k) ?? { f, hosts: [] };
    g.hosts.push(f.host);
    distinct.set(k, g);
  }
  let out = '';
  for (const { f, hosts } of distinct.values()) {
    out += githubAnnotation('error', { file: annotationFile(b.repo, f.file), line: f.line, column: f.column, title: `bindery build: ${f.path}`, message: `${f.message} (${hosts.length === 1 ? `host ${hosts[0]}` : `${hosts.length} hosts: ${hosts.join(', ')}`})` });
  }
  for (const w of b.warnings) {
    out += githubAnnotation('warning', { file: annotationFile(b.repo, w.file), line: w.line, title: `bindery build ${w.code}`, message: w.message + (w.host ? ` (host ${w.host})` : '') });
  }
  return out;
}

export function buildJunit(b: FinishedBuild): string {
  return junitXml(b.hosts.map((h) => h.host), b.failures, b.seconds);
}
