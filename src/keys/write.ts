import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BinderyError } from '../errors.js';
import { createFileExclusive, writeFileAtomic } from '../fsutil/index.js';

/**
 * Writing keys into the repository, durably (src/fsutil): the data is written and flushed
 * beside the target, then linked into place, and link() fails with EEXIST when the name
 * exists, so of two builds racing for one key exactly one wins.
 */

/** Create `dest` with `data` unless it exists. Returns false when another writer got there first. */
export async function createExclusive(dest: string, data: Buffer | string, mode: number): Promise<boolean> {
  await mkdir(dirname(dest), { recursive: true });
  return createFileExclusive(dest, data, mode);
}

/** Put `data` at `dest` atomically, replacing what is there. */
export async function replaceAtomic(dest: string, data: Buffer | string, mode: number): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  writeFileAtomic(dest, data, mode);
}

export async function readIfExists(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** File system errors in words a user can act on; a read-only repository says so. Others pass through. */
export function explainWriteError(e: unknown, rel: string): unknown {
  if (e instanceof BinderyError || !(e instanceof Error) || !('syscall' in e)) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
    return new BinderyError('KEYS', `cannot write ${rel}: the repository is not writable (${code})`, { file: rel }, 'run `bindery keys <repo>` where the repository is writable and commit the keys, then build');
  }
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') {
    return new BinderyError('KEYS', `cannot write ${rel}: no space (${code}: the disk is full, a quota or a file size limit was reached)`, { file: rel }, 'free space in the repository\'s file system, then run the build again');
  }
  if (code) return new BinderyError('KEYS', `cannot write ${rel}: ${code}`, { file: rel }, 'check the repository directory');
  return e;
}
