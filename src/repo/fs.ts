/**
 * The file system a repository is read through (in the spirit of liquidjs's `FS`): the disk in
 * a build; an in-memory twin in unit tests (test/mapfs.ts), so unreadable files, links out of
 * the repository and other hostile layouts are tested without switching users.
 * Paths are repo-relative and POSIX ("Cfg/etc/motd/motd").
 */
import { lstat, readFile, readdir, realpath, stat } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';

export type EntryType = 'file' | 'dir' | 'symlink' | 'other';

export interface FsEntry {
  readonly rel: string;
  readonly type: EntryType;
}

export interface RepoFs {
  /** Absolute, resolved root (for messages, git and tools that need a path). */
  readonly root: string;
  /** Every entry below `dir`, depth first, symbolic links to directories not followed; [] when `dir` is missing. */
  walk(dir: string): Promise<FsEntry[]>;
  /** What `rel` is without following a link; null when it does not exist. */
  type(rel: string): Promise<EntryType | null>;
  /** Where a symbolic link leads, repo-relative ('..…' when outside); null when it dangles. */
  resolveLink(rel: string): Promise<string | null>;
  /** Following links: a regular file's mode, or null for anything else. */
  fileMode(rel: string): Promise<number | null>;
  /** Errors carry a Node errno `code` (ENOENT, EACCES, …). */
  readFile(rel: string): Promise<Buffer>;
}

const kind = (d: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): EntryType =>
  d.isSymbolicLink() ? 'symlink' : d.isDirectory() ? 'dir' : d.isFile() ? 'file' : 'other';

const toPosix = (p: string) => p.split(sep).join(posix.sep);

/** The repository on disk, rooted at an already resolved directory. */
export function diskFs(root: string): RepoFs {
  const abs = (rel: string) => join(root, rel);
  return {
    root,
    async walk(dir) {
      const out: FsEntry[] = [];
      const visit = async (rel: string): Promise<void> => {
        const entries = await readdir(abs(rel), { withFileTypes: true });
        for (const d of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
          const child = `${rel}/${d.name}`;
          const type = kind(d);
          out.push({ rel: child, type });
          if (type === 'dir') await visit(child);
        }
      };
      if ((await this.type(dir)) !== 'dir') return [];
      await visit(dir);
      return out;
    },
    async type(rel) {
      const st = await lstat(abs(rel)).catch(() => null);
      return st ? kind(st) : null;
    },
    async resolveLink(rel) {
      const target = await realpath(abs(rel)).catch(() => null);
      return target === null ? null : toPosix(relative(root, target));
    },
    async fileMode(rel) {
      const st = await stat(abs(rel)).catch(() => null);
      return st?.isFile() ? st.mode : null;
    },
    readFile: (rel) => readFile(abs(rel)),
  };
}
