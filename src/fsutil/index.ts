/**
 * The one durable small-file write, shared by every stage that writes files (keys, server
 * state, CA, client, crypt, migrate): a file must survive a crash or a power cut, and a reader
 * must never see half a file. Write a temporary file beside the target, fsync it, rename (or
 * link) it into place, fsync the directory. Temporary names start with `.#`, which the
 * default [server] ignore_files skips, so a build scanning the repository meanwhile never
 * mistakes one for an entry.
 */
import { closeSync, constants, copyFileSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/** fsync a directory so the names created, renamed or removed in it survive a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function tempName(path: string): string {
  return join(dirname(path), `.#${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}`);
}

/** Write all of `data` to `fd` (writeSync may write less than asked). */
function writeAll(fd: number, data: string | Uint8Array): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/**
 * Replace `path` atomically and durably with `data`, created with `mode`. `prepare` runs on the
 * temporary file after the data is written and before the fsync and rename (e.g. to set its
 * owner and final mode, which then appear together with the content).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, prepare?: (fd: number) => void): void {
  const dir = dirname(path);
  const tmp = tempName(path);
  // 'wx' is O_CREAT|O_EXCL: a symlink planted at the temporary name is never followed.
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeAll(fd, data);
    prepare?.(fd);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
}

/**
 * Create `path` with `data` only if it does not exist yet; returns false when it does.
 * O_EXCL makes exactly one of several concurrent creators win, across processes too. The
 * content is written to a temporary file first and then hard-linked into place (link fails
 * if the name exists), so a reader never sees the file half-written.
 */
export function createFileExclusive(path: string, data: string | Uint8Array, mode = 0o600): boolean {
  const dir = dirname(path);
  const tmp = tempName(path);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeAll(fd, data);
    fsyncSync(fd);
  } catch (e) {
    // A full disk or a file size limit: leave no empty or partial temporary file behind.
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    try {
      linkSync(tmp, path);
    } catch (e) {
      // File systems without hard links: an exclusive copy still lets only one writer win.
      if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
      copyFileSync(tmp, path, constants.COPYFILE_EXCL);
    }
    fsyncDir(dir);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}


/**
 * writeFileAtomic for a server that must not block its event loop: the same steps (temporary
 * `.#` sibling, fsync, rename, fsync of the directory), asynchronously.
 */
export async function writeFileAtomicAsync(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tempName(path);
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (e) {
    await handle.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
