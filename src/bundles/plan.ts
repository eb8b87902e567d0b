/** Planning: which Path entries a client gets from its bundles (other entries are reported as skipped). */
import type { Diagnostic } from '../errors.js';
import type { ClientMetadata, PathEntry } from '../types.js';
import { clientConditions, xmlMatch } from '../xml/index.js';
import { fnmatchRegExp } from './fnmatch.js';
import { isGenshi, type Bundle } from './load.js';

export interface SkippedEntry {
  readonly bundle: string;
  readonly tag: string;
  readonly name: string;
}

export interface ClientPlan {
  readonly paths: readonly PathEntry[];
  readonly skipped: readonly SkippedEntry[];
  readonly diagnostics: readonly Diagnostic[];
}

/**
 * The Path entries one client gets: its bundles (sorted), then bundles they require, each once.
 * Contents are filtered with XMLMatch; `glob=` is expanded (fnmatch) against
 * `knownPaths`. A path in two bundles is kept once, for the first bundle.
 */
export function planClient(bundles: ReadonlyMap<string, Bundle>, metadata: ClientMetadata, knownPaths: readonly string[]): ClientPlan {
  const host = metadata.hostname;
  const paths = new Map<string, PathEntry>();
  const skipped: SkippedEntry[] = [];
  const diagnostics: Diagnostic[] = [];
  const queue = [...metadata.bundles];
  const queued = new Set(queue);
  const cond = clientConditions(metadata);

  const add = (entry: PathEntry, file: string, line: number) => {
    const first = paths.get(entry.name);
    if (!first) paths.set(entry.name, entry);
    else if ((first.altsrc ?? null) !== (entry.altsrc ?? null)) {
      diagnostics.push({
        code: 'conflicting-altsrc',
        message: `${entry.name} is in bundle "${first.bundle}"${first.altsrc ? ` with altsrc ${first.altsrc}` : ' without altsrc'} and in bundle "${entry.bundle}"${entry.altsrc ? ` with altsrc ${entry.altsrc}` : ' without altsrc'}; the first is used`,
        file,
        line,
        host,
        path: entry.name,
      });
    }
  };

  for (let i = 0; i < queue.length; i++) {
    const name = queue[i]!;
    const bundle = bundles.get(name);
    if (!bundle) {
      diagnostics.push({ code: 'missing-bundle', message: `bundle "${name}" of client ${host} has no file Bundler/${name}.xml; it is skipped`, host });
      continue;
    }
    if (isGenshi(bundle)) {
      diagnostics.push({ code: 'unsupported-bundle-template', message: `bundle "${name}" is a Genshi template, which bindery does not render; it is skipped`, file: bundle.file, host });
      continue;
    }
    for (const el of xmlMatch(bundle.root, cond).children) {
      if (el.name === 'Path') {
        const { glob, altsrc } = el.attrs;
        const names = glob === undefined ? [el.attrs.name!] : expandGlob(glob, knownPaths);
        if (names.length === 0) {
          diagnostics.push({ code: 'glob-no-match', message: `<Path glob="${glob}"> in bundle "${name}" matches no known entry`, file: bundle.file, line: el.line, host });
        }
        for (const n of names) add(altsrc === undefined ? { name: n, bundle: name } : { name: n, altsrc, bundle: name }, bundle.file, el.line);
      } else if (el.name === 'RequiredBundle') {
        const required = el.attrs.name!;
        if (!queued.has(required)) {
          queued.add(required);
          queue.push(required);
        }
      } else if (el.name.endsWith(':include')) {
        diagnostics.push({ code: 'unsupported-xinclude', message: `<${el.name}> in a bundle is not followed; put the entries in the bundle file`, file: bundle.file, line: el.line, host });
      } else if (el.name !== 'Bundle') {
        // `<Bundle name=…/>` is 1.4's inherit_modification marker, not an entry.
        skipped.push({ bundle: name, tag: el.name, name: el.attrs.name ?? '' });
      }
    }
  }
  return { paths: [...paths.values()], skipped, diagnostics };
}

function expandGlob(glob: string, knownPaths: readonly string[]): string[] {
  const re = fnmatchRegExp(glob);
  return knownPaths.filter((p) => re.test(p)).sort();
}
