// The lower side of per-directory state (format 2, NameCodec.dirState): the
// IV cache, and the state file's life with its directory. A directory is made
// under a temporary name, gets its state file, then its real name (so no
// directory ever has a name without its state); it loses the file only just
// before the lower rmdir (or the rename over it), and gets it back if that
// fails.
import { closeSync, constants as fsc, fchmodSync, fchownSync, fstatSync, readSync, writeSync } from 'node:fs';
import { CorruptFileError } from '../errors.js';
import type { DirStateCodec } from './volume-format.js';
import { E, fail } from './errno.js';
import {
  O_PATH,
  mkdiratSync,
  openatSync,
  preadCachedSync,
  readdirFdSync,
  renameat2Sync,
  renameatSync,
  unlinkatSync,
  lstatatSync,
} from '../os/lower-fs-calls.js';
import { RandomPool } from '../crypto/random-pool.js';

/** Temporary names of directories being made (unique, not secret). */
const tempNames = new RandomPool(1024);

const RENAME_NOREPLACE = 1;
/** Directory IVs kept (16 bytes and a path each). */
const IV_CACHE = 16_384;

/**
 * Directory IVs by lower path relative to the root, filled on first use (one
 * small read) and kept until the directory is renamed or removed through the
 * mount: a lookup in a known directory costs no system call.
 */
export class DirIvCache {
  private readonly ivs = new Map<string, Buffer>();
  /** Of those, the directories whose IV file was read from the page cache (see fromPageCache). */
  private readonly cached = new Set<string>();
  constructor(private readonly codec: DirStateCodec) {}

  /** The IV of the directory at `rel`, open as `dirFd` (called only on a miss); `abs` names it in errors. */
  get(rel: string, dirFd: () => number, abs: string): Buffer {
    const hit = this.ivs.get(rel);
    if (hit) return hit;
    const seen = { cached: false };
    const iv = this.codec.open(readStateFile(dirFd(), this.codec.fileName, abs, seen), `${abs}/${this.codec.fileName}`);
    if (this.ivs.size >= IV_CACHE) {
      this.ivs.clear();
      this.cached.clear();
    }
    this.ivs.set(rel, iv);
    if (seen.cached) this.cached.add(rel);
    return iv;
  }

  /**
   * True when the IV of the directory at `rel` was read, and its file's
   * bytes were in the page cache then: the lower tree around it is likely
   * cached too (iv-read-ahead.ts reads ahead only where it is not).
   */
  fromPageCache(rel: string): boolean {
    return this.cached.has(rel);
  }

  peek(rel: string): Buffer | undefined {
    return this.ivs.get(rel);
  }

  set(rel: string, iv: Buffer): void {
    this.ivs.set(rel, iv);
  }

  /** The directory at `rel` was renamed or removed: forget it and everything below. */
  drop(rel: string): void {
    const prefix = `${rel}/`;
    for (const k of this.ivs.keys()) {
      if (k === rel || k.startsWith(prefix)) {
        this.ivs.delete(k);
        this.cached.delete(k);
      }
    }
  }
}

/**
 * A state file's bytes (null when it does not exist); other failures are
 * integrity errors (EIO). Opened non-blocking: a fifo put in its place must
 * not hang the daemon. `seen.cached` is set when the bytes came from the
 * page cache (a read that does not wait for the device, tried first: the same
 * number of calls when it succeeds).
 */
export function readStateFile(dirFd: number, fileName: string, abs: string, seen?: { cached: boolean }): Buffer | null {
  let fd: number;
  try {
    fd = openatSync(dirFd, fileName, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CorruptFileError(`${abs}/${fileName}`, `cannot be read: ${(err as Error).message}`);
  }
  try {
    // no fstat first: what is not a regular file fails the positioned reads (a
    // fifo ESPIPE, a directory EISDIR) and is named below; a device node, which
    // only root can put there, reads as a wrong length
    const buf = Buffer.alloc(256); // far more than a good one holds: a longer file shows as too long
    let n = seen ? preadCachedSync(fd, buf, 0) : -1;
    if (seen) seen.cached = n >= 0;
    if (n < 0) n = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n);
  } catch (err) {
    let regular = true;
    try {
      regular = fstatSync(fd).isFile();
    } catch {
      /* said as the read's error */
    }
    throw new CorruptFileError(`${abs}/${fileName}`, regular ? `cannot be read: ${(err as Error).message}` : 'is not a regular file');
  } finally {
    closeSync(fd);
  }
}

function writeStateFile(dirFd: number, fileName: string, content: Buffer, own: { uid: number; gid: number } | null): void {
  const fd = openatSync(dirFd, fileName, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o444);
  try {
    for (let at = 0; at < content.length;) at += writeSync(fd, content, at);
    if (own) fchownSync(fd, own.uid, own.gid);
  } finally {
    closeSync(fd);
  }
}

/**
 * mkdir of a directory with state: made as `tempPrefix + random` (0700, so
 * its state file can be written whatever the mode asked), given its state
 * file, owner and mode (keeping an inherited set-group-ID), then renamed to
 * `name` without replacing anything (EEXIST as mkdir would say). `direct`:
 * the caller knows that the lower mkdir gives exactly the mode asked (none of
 * its bits in the daemon's umask, no default ACL in the parent, a directory
 * the daemon may write into), so it is made with that mode and needs no
 * fstat and fchmod (a chown keeps a directory's set-group-ID). Returns the
 * new directory's IV and a descriptor of it (O_RDONLY), the caller's to keep
 * or close.
 */
export function mkdirWithState(
  codec: DirStateCodec,
  parent: number,
  name: string,
  mode: number,
  own: { uid: number; gid: number } | null,
  direct = false,
): { iv: Buffer; fd: number } {
  const tmp = codec.tempPrefix + tempNames.take(8).toString('hex');
  mkdiratSync(parent, tmp, direct ? mode & 0o1777 : 0o700);
  const { iv, content } = codec.create();
  let fd = -1;
  try {
    fd = openatSync(parent, tmp, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
    writeStateFile(fd, codec.fileName, content, own);
    if (own) fchownSync(fd, own.uid, own.gid);
    if (!direct) fchmodSync(fd, (mode & 0o1777) | (fstatSync(fd).mode & 0o2000));
    renameNoReplace(parent, tmp, name);
  } catch (err) {
    if (fd >= 0) closeSync(fd);
    removeTemp(codec, parent, tmp);
    throw err;
  }
  return { iv, fd };
}

function renameNoReplace(dir: number, from: string, to: string): void {
  try {
    renameat2Sync(dir, from, dir, to, RENAME_NOREPLACE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    // a lower filesystem without renameat2 flags: the engine is the only writer, so look, then rename
    try {
      lstatatSync(dir, to);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      renameatSync(dir, from, dir, to);
      return;
    }
    fail(E.EEXIST);
  }
}

function removeTemp(codec: DirStateCodec, parent: number, tmp: string): void {
  try {
    const fd = openatSync(parent, tmp, O_PATH | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
    try {
      unlinkatSync(fd, codec.fileName);
    } catch {
      /* not written */
    } finally {
      closeSync(fd);
    }
    unlinkatSync(parent, tmp, true);
  } catch {
    /* fsck reports a leftover */
  }
}

/**
 * Takes the state file out of the directory `name` in `parent`, which must
 * hold nothing else (ENOTEMPTY, as rmdir says); returns what puts it back
 * (for when the rmdir or rename that follows fails). `iv`: the directory's
 * IV when the engine knows it (the state file is then rebuilt from it, not
 * read). One descriptor of the directory serves the emptiness check and the
 * unlink: an rmdir costs open, getdents, unlinkat, close and the rmdir.
 */
export function takeStateOut(codec: DirStateCodec, parent: number, name: string, iv?: Buffer): () => void {
  const fd = openatSync(parent, name, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
  try {
    // checked first: a crash must never find a directory with entries and without its state
    for (const e of readdirFdSync(fd, name)) {
      const n = e.name.toString('latin1');
      if (n !== '.' && n !== '..' && n !== codec.fileName) fail(E.ENOTEMPTY);
    }
    const content = iv ? codec.contentOf(iv) : readStateFile(fd, codec.fileName, name);
    if (content === null) return () => undefined;
    try {
      unlinkatSync(fd, codec.fileName);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return () => undefined;
      throw err;
    }
    return () => {
      try {
        const again = openatSync(parent, name, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
        try {
          const st = fstatSync(again);
          writeStateFile(again, codec.fileName, content, { uid: st.uid, gid: st.gid });
        } finally {
          closeSync(again);
        }
      } catch {
        /* the directory went after all */
      }
    };
  } finally {
    closeSync(fd);
  }
}
