/**
 * What a host remembers between runs, per server and host, in the state directory:
 *
 *   <state>/<server host>_<port>/<host>.json           (--root /)
 *   <state>/<server host>_<port>/<host>@<hash>.json    (another --root)
 *
 * the last build it applied (against rollback, and for If-None-Match) and the signing key the
 * rotation chain has led it to (which replaces --trust from then on). A state file that cannot
 * be read is an error, never ignored: ignoring it would let an old build in again.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BinderyError } from '../errors.js';
import { writeFileAtomic } from '../fsutil/index.js';

export const DEFAULT_STATE_DIR = '/var/lib/bindery';

export interface AppliedBuild {
  readonly sha256: string;
  readonly serial: number | null;
  readonly builtAt: string | null;
  readonly revision: string | null;
}

export interface HostState {
  readonly version: 1;
  readonly server: string;
  readonly host: string;
  /** The last build applied (null before the first). */
  readonly applied: (AppliedBuild & { readonly appliedAt: string; readonly failed: readonly string[] }) | null;
  /** The --trust key this state grew from. */
  readonly pinned: string;
  /** The signing key trusted now: --trust, or where its rotation chain led. */
  readonly signingKey: string;
}

/** One safe path component from a server URL or host name. */
const component = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');

/**
 * The state of `host` fetched from `server` into `root`: a staging root is another target than
 * `/`, with its own last applied build, so it gets its own file (named by a hash of its path).
 */
export function stateFile(dir: string, server: string, host: string, root: string): string {
  const url = new URL(server);
  const where = root === '/' ? '' : `@${createHash('sha256').update(root).digest('hex').slice(0, 16)}`;
  return join(dir, component(`${url.hostname}_${url.port || '443'}`), `${component(host.toLowerCase())}${where}.json`);
}

export function loadState(file: string): HostState | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new BinderyError('CONFIG', `cannot read fetch's state (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file }, 'fetch must be able to read and write its --state directory (run as root, or pass --state)');
  }
  let s: Partial<HostState> | null = null;
  try {
    s = JSON.parse(text) as Partial<HostState>;
  } catch {
    // reported below
  }
  if (s?.version !== 1 || typeof s.signingKey !== 'string' || typeof s.pinned !== 'string' || !('applied' in s)) {
    throw new BinderyError('CONFIG', 'fetch\'s state file is damaged', { file }, 'remove it to start over from --trust and accept any build once (the rollback protection starts again from that build)');
  }
  return s as HostState;
}

export function saveState(file: string, state: HostState): void {
  const dir = join(file, '..');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(file, JSON.stringify(state, null, 2) + '\n', 0o600);
  } catch (e) {
    throw new BinderyError('CONFIG', `cannot write fetch's state (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the configuration was applied`, { file }, 'fetch must be able to write its --state directory (run as root, or pass --state)');
  }
}
