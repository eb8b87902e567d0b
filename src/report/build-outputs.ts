import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { diffBuilds, previousBuildDirectory, readBuild, snapshotOfHosts } from '../diff/index.js';
import type { BindFailure, BoundFile, Diagnostic, EntrySet } from '../types.js';
import { annotationFile, githubAnnotation, junitXml } from './ci.js';
import { renderReport } from './html.js';

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
  /** The published manifest's build time (null when nothing was published). */
  readonly builtAt: string | null;
  readonly seconds: number;
}

/**
 * The HTML report of what was bound (the published hosts, or every host when nothing was
 * published), with the diff against the previous build in the output directory when it has one.
 * The new build is taken from memory; only the previous one is read back from disk.
 */
export async function buildReport(b: FinishedBuild): Promise<string> {
  const hosts = b.published ? b.hosts.filter((h) => h.failures.length === 0) : b.hosts;
  const snap = snapshotOfHosts(b.published ? b.out : `${b.repo} (not published)`, hosts, b.revision);
  const build = { ...snap, builtAt: b.builtAt, failures: b.failures, warnings: b.warnings };
  // Once published, the build before this one is the "previous" one; unpublished, the current one is.
  const previousDir = b.published ? previousBuildDirectory(b.out) : existsSync(join(b.out, 'current')) ? b.out : null;
  const diff = previousDir ? diffBuilds(await readBuild(previousDir), build, { hostGroups: b.hostGroups }) : null;
  return renderReport({ build, diff, entrySets: b.entrySets, phases: b.phases });
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
