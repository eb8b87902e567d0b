import { constants } from 'node:fs';
import { copyFile, link, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BinderyError } from '../errors.js';

/**
 * Writing keys into the repository. Data goes to a temporary sibling first (named `.#…`,
 * which the default ignore_files skips), is flushed, then linked into place: link() fails
 * with EEXIST when the name exists, so of two builds racing for one key exactly one wins.
 */

async function writeTemp(dest: string, data: Buffer | string, mode: number): Promise<string> {
  await mkdir(dirname(dest), { recursive: true });
  const tmp = join(dirname(dest), `.#${basename(dest)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  const fh = await open(tmp, 'wx', mode);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    // A full disk or a file size limit: leave no empty or partial temporary file behind.
    await rm(tmp, { force: true });
    throw e;
  }
  return tmp;
}

/** Create `dest` with `data` unless it exists. Returns false when another writer got there first. */
export async function createExclusive(dest: string, data: Buffer | string, mode: number): Promise<boolean> {
  const tmp = await writeTemp(dest, data, mode);
  try {
    try {
      await link(tmp, dest);
    } catch (e) {
      // File systems without hard links: an exclusive copy still lets only one writer win.
      if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
      await copyFile(tmp, dest, constants.COPYFILE_EXCL);
    }
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Put `data` at `dest` atomically, replacing what is there. */
export async function replaceAtomic(dest: string, data: Buffer | string, mode: number): Promise<void> {
  const tmp = await writeTemp(dest, data, mode);
  try {
    await rename(tmp, dest);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
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
