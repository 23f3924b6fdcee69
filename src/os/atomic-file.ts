// Crash-safe replacement of small critical files (key stores, headers): write a
// temp file beside the target, fsync it, rename over the target, fsync the
// directory. A crash at any point leaves either the old or the new file.
import { closeSync, fchownSync, fstatSync, fsyncSync, lstatSync, openSync, renameSync, unlinkSync, writeSync, constants } from 'node:fs';
import { RefusedError } from '../errors.js';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface AtomicWriteOptions {
  mode?: number;
  uid?: number;
  gid?: number;
  /** Test hook: called between the steps to simulate a crash. */
  onStep?: (step: 'written' | 'synced' | 'renamed') => void;
}

/**
 * Something that replaces a file atomically with these bytes: writeFileAtomic
 * here, or the same done by a process running as the file's owner (root
 * writing into a user's folder must not, see docs/SECURITY.md).
 */
export type AtomicWriter = (path: string, data: Buffer, mode: number) => Promise<void>;

export function writeFileAtomic(path: string, data: Uint8Array, opts: AtomicWriteOptions = {}): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, opts.mode ?? 0o600);
  let renamed = false;
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    opts.onStep?.('written');
    if (opts.uid !== undefined && opts.gid !== undefined) {
      // on the descriptor, never the name: in a folder someone else can write
      // to, the name may be a symlink to another file by now; and before the
      // rename, so the target is never briefly owned by someone else
      fchownSync(fd, opts.uid, opts.gid);
    }
    fsyncSync(fd);
    opts.onStep?.('synced');
    const written = fstatSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
    renamed = true;
    opts.onStep?.('renamed');
    fsyncDir(dir);
    // someone who can write in the folder may have swapped the temp name for
    // another file or a link: then what now has the name is not what we wrote
    const landed = lstatSync(path, { throwIfNoEntry: false });
    if (!landed || landed.ino !== written.ino || landed.dev !== written.dev) {
      throw new RefusedError(`${path} was replaced by another file while it was being written; it is not the file written`);
    }
  } finally {
    if (!renamed) {
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
      try {
        unlinkSync(tmp);
      } catch {
        /* gone */
      }
    }
  }
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
