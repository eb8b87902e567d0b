import { isAbsolute, posix } from 'node:path';
import type { EntryType, FsEntry, RepoFs } from '../src/repo/index.ts';

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
