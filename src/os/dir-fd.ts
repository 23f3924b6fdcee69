// Acting as root next to directories a user controls without ever resolving a
// path the user could change under us: every step is relative to an open
// directory descriptor, the last component is never followed (O_NOFOLLOW,
// AT_SYMLINK_NOFOLLOW), and ownership and modes are set on the open
// descriptor (fchown/fchmod), not on a name. Used only where root truly must
// act (a folder in root-owned /home/.homecrypt, the rename of a home in
// /home); everything inside a user's folders is done as the user instead
// (src/session/user-worker-client.ts).
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, readdirSync, type Stats } from 'node:fs';
import { basename, dirname } from 'node:path';
import { RefusedError } from '../errors.js';
import { checked, errnoError, libcFn, type LibcFn } from './libc.js';
import { cName } from './c-name.js';
import { nameFromBytes } from '../format/name-bytes.js';

let fns: { openat: LibcFn; mkdirat: LibcFn; unlinkat: LibcFn; renameat: LibcFn } | null = null;
function lib() {
  if (!fns) {
    fns = {
      // openat is variadic; on the supported ABIs the mode travels like a fixed int argument
      openat: libcFn('int openat(int dirfd, const char *path, int flags, uint32_t mode)'),
      mkdirat: libcFn('int mkdirat(int dirfd, const char *path, uint32_t mode)'),
      unlinkat: libcFn('int unlinkat(int dirfd, const char *path, int flags)'),
      renameat: libcFn('int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)'),
    };
  }
  return fns;
}

const AT_REMOVEDIR = 0x200;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | 0o2000000; // O_CLOEXEC

/**
 * A single path component: no slash, not "." or "..", so *at() calls stay in
 * their directory; as the C argument that names its bytes (c-name.ts).
 */
function component(name: string): string | Buffer {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new RefusedError(`not a single file name: ${JSON.stringify(name)}`);
  }
  return cName(name);
}

/** Opens the directory `name` inside dirFd, refusing a symlink (ELOOP/ENOTDIR). */
export function openDirAt(dirFd: number, name: string, what = name): number {
  return checked('openat', what, lib().openat(dirFd, component(name), DIR_FLAGS, 0));
}

/** True when a directory owned by root can only be changed by root (no group/other write unless sticky). */
function rootOnly(st: Stats): boolean {
  return st.uid === 0 && ((st.mode & 0o022) === 0 || (st.mode & 0o1000) !== 0);
}

/**
 * The walk every path takes here: the directories `names`, each opened inside
 * the one before (openDirAt: never a symlink), from the open directory `fd`
 * at path `where`. The walk takes `fd` over: each descriptor is closed once
 * the next is open, and whatever it holds when a step fails. `check` sees
 * each directory (and its path) before the walk steps into it, so what it
 * trusts is what the next step is opened in. A failed step throws the
 * ErrnoError of openat, whose `what` is the path it failed at.
 */
export function openDirsAt(fd: number, names: readonly string[], where: string, check?: (fd: number, at: string) => void): number {
  let at = where;
  try {
    for (const name of names) {
      check?.(fd, at);
      at = at.endsWith('/') ? `${at}${name}` : `${at}/${name}`;
      const next = openDirAt(fd, name, at);
      closeSync(fd);
      fd = next;
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Opens an absolute directory path component by component from "/", never
 * following a symlink, and requiring each directory on the way to be one only
 * root can change (a sticky /tmp is fine: nobody else can rename in it). The
 * result names the same directory whatever a user does afterwards.
 */
export function openTrustedDir(path: string): number {
  if (!path.startsWith('/')) throw new RefusedError(`${path}: an absolute path is needed`);
  const root = checked('open', '/', lib().openat(-100, '/', DIR_FLAGS, 0));
  return openDirsAt(
    root,
    path.split('/').filter((p) => p.length > 0),
    '/',
    (fd, at) => {
      const st = fstatSync(fd);
      if (!rootOnly(st)) throw new RefusedError(`${at} can be changed by uid ${st.uid} or others; refusing to act as root below it`);
    },
  );
}

/**
 * A user's home opened in its parent, which must be a folder only root can
 * change (as /home is): the home itself is never reached through a link, so
 * what root then reads in it by descriptor is in that very home.
 */
export function openHomeDir(home: string): number {
  return withFd(openTrustedDir(dirname(home)), (pfd) => openDirAt(pfd, basename(home), home));
}

/** Runs fn with an open descriptor, closing it after. */
export function withFd<T>(fd: number, fn: (fd: number) => T): T {
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates directory `name` in dirFd (or takes the one there, if it is a real
 * directory), then sets owner and mode on the opened descriptor. Returns the
 * open descriptor of that directory.
 */
export function makeOwnedDirAt(dirFd: number, name: string, owner: { uid: number; gid: number }, mode: number, what = name): number {
  const r = lib().mkdirat(dirFd, component(name), 0o700);
  if (r < 0) {
    const err = errnoError('mkdirat', what);
    if (err.code !== 'EEXIST') throw err;
  }
  const fd = openDirAt(dirFd, name, what);
  try {
    const st = fstatSync(fd);
    if (st.uid !== 0 && st.uid !== owner.uid) throw new RefusedError(`${what} belongs to uid ${st.uid}; refusing to hand it to uid ${owner.uid}`);
    fchownSync(fd, owner.uid, owner.gid);
    fchmodSync(fd, mode);
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Removes the empty directory `name` in dirFd (rmdir never follows a symlink; a non-empty one fails ENOTEMPTY). */
export function rmdirAt(dirFd: number, name: string, what = name): void {
  checked('unlinkat', what, lib().unlinkat(dirFd, component(name), AT_REMOVEDIR));
}

/** Removes the non-directory `name` in dirFd (a symlink itself, never its target). */
export function unlinkAt(dirFd: number, name: string, what = name): void {
  checked('unlinkat', what, lib().unlinkat(dirFd, component(name), 0));
}

/** rename(2) between two open directories (the entries themselves, never followed). */
export function renameAt(fromFd: number, from: string, toFd: number, to: string, what = `${from} → ${to}`): void {
  checked('renameat', what, lib().renameat(fromFd, component(from), toFd, component(to)));
}

/**
 * The names in an open directory (read through /proc/self/fd, which names the
 * open file, not a path), each in the form of format/name-bytes.ts, so that a
 * name that is not UTF-8 can be given back to the calls above.
 */
export function readdirFd(dirFd: number): string[] {
  return readdirSync(`/proc/self/fd/${dirFd}`, { encoding: 'buffer' }).map(nameFromBytes);
}

/**
 * Deletes `name` inside dirFd and everything below it, walking by descriptor:
 * each subdirectory is opened O_NOFOLLOW relative to its parent's descriptor,
 * so a directory swapped for a symlink mid-walk is removed as a link (or the
 * walk fails on it), and nothing outside the tree is ever reached.
 */
export function removeTreeAt(dirFd: number, name: string, what = name): void {
  const r = lib().unlinkat(dirFd, component(name), 0);
  if (r === 0) return;
  const err = errnoError('unlinkat', what);
  if (err.code === 'ENOENT') return;
  if (err.code !== 'EISDIR' && err.code !== 'EPERM') throw err; // Linux gives EISDIR for a directory
  const sub = openDirAt(dirFd, name, what);
  try {
    for (const child of readdirFd(sub)) removeTreeAt(sub, child, `${what}/${child}`);
  } finally {
    closeSync(sub);
  }
  rmdirAt(dirFd, name, what);
}

/** fstat of an open descriptor (re-exported so callers need only this module for fd work). */
export { fstatSync as fstatFd, fchownSync as fchownFd, fchmodSync as fchmodFd };
