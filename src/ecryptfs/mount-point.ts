// ~/.ecryptfs/Private.mnt is a file its user edits, and root acts on the mount
// point it names (clears ecryptfs-utils' links, sets its mode, records it to be
// mounted over at every login). So it is input: the path must lie in the
// user's home, and root reaches it only through directory descriptors opened
// one component at a time from the home with O_NOFOLLOW, so no symlink on the
// way (now or swapped in later) can lead root elsewhere; modes are set on the
// open descriptor (fchmod), never on the name.
import { closeSync, lstatSync, realpathSync, type Stats } from 'node:fs';
import { entryExists } from '../os/entry-exists.js';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';
import { RefusedError } from '../errors.js';
import { openDirsAt, openTrustedDir } from '../os/dir-fd.js';
import { ErrnoError } from '../os/libc.js';

function inside(home: string, path: string): boolean {
  return path === home || path.startsWith(`${home}/`);
}

/**
 * The mount point named by Private.mnt (its first line, `named`), checked to be
 * in `home`. A home restored or moved elsewhere keeps its old absolute path
 * there: when that path no longer exists, the same name in this home is taken.
 */
export function mountPointInHome(home: string, named: string, file: string): string {
  const clean = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p);
  if (!isAbsolute(named) || named.includes('\0')) throw new RefusedError(`${file} names "${named}", not an absolute path; refusing it as a mount point`);
  const path = clean(normalize(named));
  if (inside(home, path)) return path;
  const moved = join(home, basename(path));
  if (!entryExists(path) && inside(home, moved) && moved !== home) return moved;
  throw new RefusedError(`${file} names ${named}, which is not inside ${home}; a mount point must be in the user's home (refusing to act on it as root)`);
}

/**
 * Opens the mount point's directory from the home down, never following a
 * symlink; null when it does not exist. The home's parent must be a folder
 * only root can change (as /home is), the home itself is opened O_NOFOLLOW.
 */
export function openMountPoint(home: string, mountPoint: string): number | null {
  if (!inside(home, mountPoint)) throw new RefusedError(`${mountPoint} is not inside ${home}`);
  // the home's parent is root's (/home): resolving its links is safe, and openTrustedDir checks that it is root's
  const parent = realpathSync(dirname(home));
  const names = [basename(home), ...mountPoint.slice(home.length).split('/').filter(Boolean)];
  const fd = openTrustedDir(parent);
  try {
    return openDirsAt(fd, names, parent);
  } catch (err) {
    if (!(err instanceof ErrnoError)) throw err;
    if (err.code === 'ENOENT') return null;
    if (err.code === 'ELOOP' || err.code === 'ENOTDIR') {
      throw new RefusedError(
        `${err.what} is a symbolic link or not a directory; the mount point ${mountPoint} must be reached through real directories of the home (refusing to act on it as root)`,
      );
    }
    throw err;
  }
}

/** Runs fn on the open mount point (nothing when it does not exist). */
export function withMountPoint<T>(home: string, mountPoint: string, fn: (fd: number) => T): T | null {
  const fd = openMountPoint(home, mountPoint);
  if (fd === null) return null;
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/** lstat of an entry of an open directory (through /proc/self/fd: the entry itself is not followed). */
export function lstatIn(dirFd: number, name: string): Stats | null {
  try {
    return lstatSync(`/proc/self/fd/${dirFd}/${name}`);
  } catch {
    return null;
  }
}
