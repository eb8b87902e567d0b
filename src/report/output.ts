import { diffBuilds, previousBuildDirectory, readBuild, tarballsOf } from '../diff/index.js';
import type { EntrySet } from '../types.js';
import { renderReport } from './html.js';

/**
 * The report of the build published in `outDir`, with the diff against the build before it
 * when the directory still holds one. Host groups (for naming changed hosts) come from `hostGroups`.
 */
export async function reportForOutput(
  outDir: string,
  opts: { entrySets?: ReadonlyMap<string, EntrySet>; phases?: Readonly<Record<string, number>>; hostGroups?: ReadonlyMap<string, readonly string[]> } = {},
): Promise<string> {
  const build = await readBuild(outDir);
  const previousDir = previousBuildDirectory(outDir);
  const diff = previousDir ? diffBuilds(await readBuild(previousDir, tarballsOf(build)), build, opts.hostGroups ? { hostGroups: opts.hostGroups } : {}) : null;
  return renderReport({ build, diff, ...(opts.entrySets ? { entrySets: opts.entrySets } : {}), ...(opts.phases ? { phases: opts.phases } : {}) });
}
