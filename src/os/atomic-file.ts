// Crash-safe replacement of small critical files (key stores, headers): write a
// temp file beside the target, fsync it, rename over the target, fsync the
// directory. A crash at any point leaves either the old or the new file.
import { chownSync, closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync, constants } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface AtomicWriteOptions {
  mode?: number;
  uid?: number;
  gid?: number;
  /** Test hook: called between the steps to simulate a crash. */
  onStep?: (step: 'written' | 'synced' | 'renamed') => void;
}

export function writeFileAtomic(path: string, data: Uint8Array, opts: AtomicWriteOptions = {}): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, opts.mode ?? 0o600);
  let renamed = false;
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    opts.onStep?.('written');
    fsyncSync(fd);
    opts.onStep?.('synced');
    closeSync(fd);
    if (opts.uid !== undefined && opts.gid !== undefined) {
      // chown before rename, so the target is never briefly owned by someone else
      chownSync(tmp, opts.uid, opts.gid);
    }
    renameSync(tmp, path);
    renamed = true;
    opts.onStep?.('renamed');
    fsyncDir(dir);
  } finally {
    if (!renamed) {
      try { closeSync(fd); } catch { /* already closed */ }
      try { unlinkSync(tmp); } catch { /* gone */ }
    }
  }
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

