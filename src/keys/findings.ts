import { BinderyError, asBinderyError, type Diagnostic, type Location } from '../errors.js';
import { compareSpecificity } from '../repo/index.js';
import type { CfgFile, EntrySet } from '../types.js';

/** Who asked, for messages: the client, the entry it asked for, and the file that led there. */
export type Origin = Required<Pick<Location, 'host' | 'path'>> & Pick<Location, 'file' | 'line'>;

/** Where the key phase's planning and writing report: warnings, and failures (a key some client needs that was not made). */
export interface Findings {
  warn(d: Diagnostic): void;
  fail(origin: Origin, e: unknown): void;
  readonly diagnostics: () => Diagnostic[];
  readonly failed: () => Diagnostic[];
}

/** Findings deduplicated (one per distinct diagnostic), failures as warnings too. */
export function newFindings(): Findings {
  const diagnostics = new Map<string, Diagnostic>();
  const failed = new Map<string, Diagnostic>();
  const warn = (d: Diagnostic) => void diagnostics.set(JSON.stringify(d), d);
  return {
    warn,
    fail(origin, e) {
      const err = asBinderyError(e, 'KEYS');
      const where = Object.fromEntries(Object.entries(err.location).filter(([, v]) => v !== undefined));
      // A problem in another file than the one that asked: the asker's line means nothing there.
      const asker = where.file !== undefined && where.file !== origin.file ? { host: origin.host, path: origin.path } : origin;
      const d: Diagnostic = { code: 'key-not-generated', ...asker, ...where, message: err.message + (err.hint ? ` (${err.hint})` : '') };
      warn(d);
      failed.set(JSON.stringify(d), d);
    },
    diagnostics: () => [...diagnostics.values()],
    failed: () => [...failed.values()],
  };
}

/** The generator a client's existing private key comes from; two equally specific ones are an error. */
export function bestOf(candidates: readonly CfgFile[], set: EntrySet): CfgFile {
  const sorted = [...candidates].sort((a, b) => compareSpecificity(b.specificity, a.specificity));
  if (sorted.length > 1 && compareSpecificity(sorted[0]!.specificity, sorted[1]!.specificity) === 0) {
    throw new BinderyError('AMBIGUOUS', `two private keys are equally specific for this client: ${sorted[0]!.file.rel} and ${sorted[1]!.file.rel}`, { file: set.dir }, 'remove one of them');
  }
  return sorted[0]!;
}
