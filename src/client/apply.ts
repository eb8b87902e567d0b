/**
 * Applying files under --root without being led elsewhere. A local user who owns a directory on
 * the way to a managed file (/home/deploy) could put a symlink there (.ssh -> /etc/sudoers.d)
 * and have root write a root-owned file where it chose. So each target is reached one
 * component at a time, each directory opened with O_NOFOLLOW and the next name looked up in
 * that open directory (through /proc/self/fd, Linux's openat for a path API), never by
 * re-resolving the whole path. A symlink on the way is followed only when root owns it and
 * its directory is root's (nobody else can swap it), and then resolved the same way, under
 * --root as if it were `/`.
 * Missing directories are created (0755) the same way; the file itself is written to a
 * temporary name in the opened directory and renamed over the target, so a symlink at the
 * target is replaced, never followed.
 */
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { createTwoFilesPatch } from 'diff';
import { writeFileAtomic } from '../fsutil/index.js';
import type { ConfigFile } from './verify.js';

const PROC_FD = '/proc/self/fd';
const at = (fd: number, name?: string) => (name === undefined ? `${PROC_FD}/${fd}` : `${PROC_FD}/${fd}/${name}`);
const DIR_NOFOLLOW = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** Whether the component-by-component walk can work here: it needs Linux's /proc. */
export function canWriteSafely(): boolean {
  try {
    return statSync(PROC_FD).isDirectory();
  } catch {
    return false;
  }
}

/** Why one path is not applied; the run goes on with the others. */
class Refused extends Error {}

export type ChangeAction = 'create' | 'update' | 'metadata' | 'unchanged';

export interface Change {
  readonly file: ConfigFile;
  readonly action: ChangeAction;
  /** What is there now (null when absent, or a symlink or special file that will be replaced). */
  readonly current: Buffer | null;
  readonly currentMode: number | null;
}

export interface Owners {
  readonly users: Map<string, number>;
  readonly groups: Map<string, number>;
}

export interface PathFailure {
  readonly path: string;
  readonly reason: string;
}

/** A directory nobody but root can rename entries in: root's, not writable by others, or sticky. */
function rootsDirectory(fd: number): boolean {
  const st = fstatSync(fd);
  return st.uid === 0 && ((st.mode & 0o022) === 0 || (st.mode & 0o1000) !== 0);
}

/** Symlinks followed on the way to one file, at most (as the kernel's limit). */
const MAX_LINKS = 40;

/**
 * Open `name` in the open directory `dirFd` as a directory: its fd; null if it is missing and
 * not `create`; or, for a symlink that may be followed (see the file comment), its target.
 */
function openChild(dirFd: number, name: string, shown: string, create: boolean): number | null | { link: string } {
  const p = at(dirFd, name);
  try {
    return openSync(p, DIR_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      if (!create) return null;
      try {
        mkdirSync(p, { mode: 0o755 });
      } catch (m) {
        if ((m as NodeJS.ErrnoException).code !== 'EEXIST') throw m;
      }
      return openChild(dirFd, name, shown, false);
    }
    // A symlink opened with O_NOFOLLOW|O_DIRECTORY fails ENOTDIR (or ELOOP): lstat tells them apart.
    if (code !== 'ENOTDIR' && code !== 'ELOOP') throw e;
  }
  const st = lstatSync(p);
  if (!st.isSymbolicLink()) throw new Refused(`${shown} is not a directory`);
  if (st.uid !== 0) throw new Refused(`${shown} is a symlink owned by uid ${st.uid}, not root: not followed`);
  if (!rootsDirectory(dirFd)) throw new Refused(`${shown} is a symlink in a directory others can write: not followed`);
  return { link: readlinkSync(p) };
}

/**
 * The open directory that holds `path` (absolute, client-side) under rootReal; null when part of
 * it is missing and not `create`. Symlinks that may be followed are resolved here, one
 * component at a time under the same rules, as if --root were `/`: an absolute target starts
 * again at --root and `..` stops there, so no link leads outside it.
 */
function openParent(rootReal: string, path: string, create: boolean): number | null {
  const parts = path.split('/').filter(Boolean);
  parts.pop();
  const rootFd = openSync(rootReal, constants.O_RDONLY | constants.O_DIRECTORY);
  const root = fstatSync(rootFd);
  let fd = rootFd;
  let shown = '';
  let links = 0;
  const moveTo = (next: number) => {
    if (fd !== rootFd) closeSync(fd);
    fd = next;
  };
  try {
    while (parts.length) {
      const part = parts.shift()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        const st = fstatSync(fd);
        if (st.dev !== root.dev || st.ino !== root.ino) moveTo(openSync(at(fd, '..'), DIR_NOFOLLOW));
        shown = shown.slice(0, shown.lastIndexOf('/'));
        continue;
      }
      shown += '/' + part;
      const next = openChild(fd, part, shown, create);
      if (next === null) return null;
      if (typeof next === 'number') {
        moveTo(next);
        continue;
      }
      if (++links > MAX_LINKS) throw new Refused(`${shown}: too many levels of symlinks`);
      shown = shown.slice(0, shown.lastIndexOf('/'));
      if (next.link.startsWith('/')) {
        moveTo(rootFd);
        shown = '';
      }
      parts.unshift(...next.link.split('/'));
    }
    const parent = fd === rootFd ? openSync(at(rootFd), constants.O_RDONLY | constants.O_DIRECTORY) : fd;
    fd = -1;
    return parent;
  } finally {
    if (fd >= 0 && fd !== rootFd) closeSync(fd);
    closeSync(rootFd);
  }
}

const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** What is at `name` in `dirFd` now, read without following a symlink or blocking on a FIFO. */
function readCurrent(dirFd: number | null, name: string, shown: string): { data: Buffer; mode: number; uid: number; gid: number } | null {
  if (dirFd === null) return null;
  let fd: number;
  try {
    fd = openSync(at(dirFd, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') return null;
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new Refused(`a directory is in the way at ${shown}`);
    if (!st.isFile()) return null;
    return { data: readFileSync(fd), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } finally {
    closeSync(fd);
  }
}

function reason(e: unknown): string {
  if (e instanceof Refused) return e.message;
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

/** Compare each file with what is under rootReal now; nothing is created. */
export function planChanges(rootReal: string, files: readonly ConfigFile[], owners: Owners | null): { changes: Change[]; failed: PathFailure[] } {
  const changes: Change[] = [];
  const failed: PathFailure[] = [];
  for (const file of files) {
    let now: ReturnType<typeof readCurrent>;
    let dirFd: number | null = null;
    try {
      dirFd = openParent(rootReal, file.path, false);
      now = readCurrent(dirFd, baseName(file.path), file.path);
    } catch (e) {
      failed.push({ path: file.path, reason: reason(e) });
      continue;
    } finally {
      if (dirFd !== null) closeSync(dirFd);
    }
    let action: ChangeAction;
    if (!now) action = 'create';
    else if (!now.data.equals(file.data)) action = 'update';
    else if (now.mode !== file.mode || (owners && (owners.users.get(file.owner) !== now.uid || owners.groups.get(file.group) !== now.gid))) action = 'metadata';
    else action = 'unchanged';
    changes.push({ file, action, current: now?.data ?? null, currentMode: now?.mode ?? null });
  }
  return { changes, failed };
}

const isText = (b: Buffer) => !b.includes(0) && Buffer.from(b.toString('utf8'), 'utf8').equals(b);
const octal = (m: number) => m.toString(8).padStart(4, '0');

/** A unified diff of every change; content of files not readable by everyone is not shown. */
export function unifiedDiff(changes: readonly Change[]): string {
  const out: string[] = [];
  for (const c of changes) {
    if (c.action === 'unchanged') continue;
    const p = c.file.path;
    const from = c.current ? `a${p}` : '/dev/null';
    if (c.action === 'metadata') {
      out.push(`--- a${p}\n+++ b${p}\n# mode ${octal(c.currentMode!)} -> ${octal(c.file.mode)}, owner ${c.file.owner}:${c.file.group}\n`);
      continue;
    }
    const secret = (c.file.mode & 0o004) === 0 || (c.currentMode !== null && (c.currentMode & 0o004) === 0);
    const what = c.action === 'create' ? `created, mode ${octal(c.file.mode)}` : 'content differs';
    if (secret) out.push(`--- ${from}\n+++ b${p}\n# ${what} (not shown: the file is not world-readable)\n`);
    else if (!isText(c.file.data) || (c.current && !isText(c.current))) out.push(c.action === 'create' ? `Binary file b${p} created\n` : `Binary files a${p} and b${p} differ\n`);
    // Without the '====' line the diff package puts first, as diff -u and git print it.
    else out.push(createTwoFilesPatch(from, `b${p}`, c.current?.toString('utf8') ?? '', c.file.data.toString('utf8'), undefined, undefined).replace(/^=+\n/, ''));
  }
  return out.join('');
}

/** Apply every change that is one; a path that cannot be applied is reported and the rest go on. */
export function applyChanges(rootReal: string, changes: readonly Change[], owners: Owners | null): PathFailure[] {
  const failed: PathFailure[] = [];
  for (const c of changes) {
    if (c.action === 'unchanged') continue;
    let ids: { uid: number; gid: number } | null = null;
    if (owners) {
      const uid = owners.users.get(c.file.owner);
      const gid = owners.groups.get(c.file.group);
      if (uid === undefined || gid === undefined) {
        failed.push({ path: c.file.path, reason: `unknown ${uid === undefined ? `user ${c.file.owner}` : `group ${c.file.group}`} on this host` });
        continue;
      }
      ids = { uid, gid };
    }
    let dirFd: number | null = null;
    try {
      dirFd = openParent(rootReal, c.file.path, true)!;
      // Created 0600, so the content is never readable by others before its mode is set.
      writeFileAtomic(at(dirFd, baseName(c.file.path)), c.file.data, 0o600, (fd) => {
        if (ids) fchownSync(fd, ids.uid, ids.gid);
        // After chown: chown clears setuid/setgid bits.
        fchmodSync(fd, c.file.mode);
      });
    } catch (e) {
      failed.push({ path: c.file.path, reason: reason(e) });
    } finally {
      if (dirFd !== null) closeSync(dirFd);
    }
  }
  return failed;
}

/**
 * Users or groups by name (Node has no getpwnam): the root's etc/passwd or etc/group when it
 * has one (a chroot being prepared), else this host's.
 */
export function idTable(rootReal: string, name: 'passwd' | 'group'): Map<string, number> {
  const map = new Map<string, number>();
  let text = '';
  for (const file of [`${rootReal}/etc/${name}`, `/etc/${name}`]) {
    try {
      text = readFileSync(file, 'utf8');
      break;
    } catch {
      // try the next one
    }
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && !map.has(f[0]!)) map.set(f[0]!, Number(f[2]));
  }
  return map;
}
