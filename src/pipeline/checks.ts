import type { Diagnostic } from '../errors.js';
import type { MetadataModel } from '../metadata/index.js';
import type { RepoModel } from '../repo/index.js';

/**
 * Repository-wide lint that needs metadata: group- and host-specific file names that can
 * never match (an undeclared group, an unknown or upper-case host name; decision 9 (docs/decisions.md)).
 */
export function repoChecks(repo: RepoModel, metadata: MetadataModel): Diagnostic[] {
  const groups = new Set(metadata.groups.map((g) => g.name));
  const hosts = new Set(metadata.clients.map((c) => c.hostname));
  const out: Diagnostic[] = [];
  for (const set of repo.entrySets.values()) {
    for (const f of [...set.generators, ...set.deltas, ...set.validators]) {
      const s = f.specificity;
      if (s.kind === 'group' && !groups.has(s.group)) {
        out.push({ code: 'unknown-group', message: `group "${s.group}" is not declared in Metadata/groups.xml; this file never matches`, file: f.file.rel, path: set.name });
      } else if (s.kind === 'host' && !hosts.has(s.host)) {
        const hint = hosts.has(s.host.toLowerCase()) ? `client names are lower-case: rename it to .H_${s.host.toLowerCase()}` : 'no such client in Metadata/clients.xml';
        out.push({ code: 'unknown-host', message: `host "${s.host}" never matches (${hint})`, file: f.file.rel, path: set.name });
      }
    }
  }
  return out;
}
