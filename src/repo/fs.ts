/**
 * The file system a repository is read through (in the spirit of liquidjs's `FS`): the disk in
 * a build, an in-memory `MapFs` in unit tests, so unreadable files, links out of the
 * repository and other hostile layouts are tested without switching users.
 * Paths are repo-relative and POSIX ("Cfg/etc/motd/motd").
 */
import { lstat, readFile, readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, posix, relative, sep } from 'node:path';

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

/** One in-memory entry: a file (content, optional mode, or an errno its reads fail with), a link or a directory. */
export type MapEntry = string | Buffer | { readonly data?: string | Buffer; readonly mode?: number; readonly error?: string } | { readonly link: string } | { readonly dir: true };

const errno = (code: string, rel: string) => Object.assign(new Error(`${code}: ${rel}`), { code });

/**
 * A repository in memory, for unit tests: `new MapFs({ 'Metadata/groups.xml': '<Groups/>' })`.
 * Directories exist implicitly; `{ link: 'Cfg/x' }` is a symbolic link (relative to the repo root;
 * '../…' leads outside it); `{ error: 'EACCES' }` a file that cannot be read.
 */
export class MapFs implements RepoFs {
  readonly root: string;
  private readonly entries = new Map<string, MapEntry>();

  constructor(files: Readonly<Record<string, MapEntry>>, root = '/repo') {
    this.root = root;
    for (const [rel, e] of Object.entries(files)) {
      this.entries.set(rel, e);
      for (let d = posix.dirname(rel); d !== '.'; d = posix.dirname(d)) if (!this.entries.has(d)) this.entries.set(d, { dir: true });
    }
  }

  private typeOf(e: MapEntry | undefined): EntryType | null {
    if (e === undefined) return null;
    if (typeof e === 'string' || Buffer.isBuffer(e)) return 'file';
    return 'link' in e ? 'symlink' : 'dir' in e ? 'dir' : 'file';
  }

  async walk(dir: string): Promise<FsEntry[]> {
    if (this.typeOf(this.entries.get(dir)) !== 'dir') return [];
    const below = [...this.entries.keys()].filter((k) => k.startsWith(dir + '/')).sort();
    // Nothing below a linked directory is visible, as on disk without following links.
    const linked = below.filter((k) => this.typeOf(this.entries.get(k)) === 'symlink');
    return below.filter((k) => !linked.some((l) => k.startsWith(l + '/'))).map((rel) => ({ rel, type: this.typeOf(this.entries.get(rel))! }));
  }

  async type(rel: string): Promise<EntryType | null> {
    return this.typeOf(this.entries.get(rel));
  }

  /** Follow links to the final repo-relative name (outside names start with '..'). */
  private follow(rel: string, depth = 0): string | null {
    const e = this.entries.get(rel);
    if (e === undefined) return rel.startsWith('..') ? rel : null;
    if (typeof e === 'object' && !Buffer.isBuffer(e) && 'link' in e) {
      if (depth > 20) return null;
      return this.follow(posix.normalize(isAbsolute(e.link) ? e.link : e.link), depth + 1);
    }
    return rel;
  }

  async resolveLink(rel: string): Promise<string | null> {
    return this.follow(rel);
  }

  async fileMode(rel: string): Promise<number | null> {
    const target = this.follow(rel);
    const e = target === null ? undefined : this.entries.get(target);
    if (this.typeOf(e) !== 'file') return null;
    return typeof e === 'object' && !Buffer.isBuffer(e) && 'mode' in e && e.mode !== undefined ? e.mode : 0o100644;
  }

  async readFile(rel: string): Promise<Buffer> {
    const target = this.follow(rel);
    const e = target === null ? undefined : this.entries.get(target);
    if (e === undefined) throw errno('ENOENT', rel);
    if (typeof e === 'string' || Buffer.isBuffer(e)) return Buffer.from(e);
    if ('error' in e && e.error) throw errno(e.error, rel);
    if ('data' in e && e.data !== undefined) return Buffer.from(e.data);
    throw errno('EISDIR', rel);
  }
}
