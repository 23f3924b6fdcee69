// libc calls Node's fs lacks, for the engine's lower directory: mknod(2) (fifos,
// sockets, device nodes), the l*xattr(2) family (never following symlinks),
// fallocate(2) (space reserved before a write is acknowledged; holes punched)
// and lseek(2) with SEEK_DATA/SEEK_HOLE.
// Errors are thrown as objects with `errno` (positive) and `code`, like fs errors.
import { constants } from 'node:os';
import { checked as check, lastErrno, libcFn, type LibcFn as Fn } from './libc.js';

let libc: { mknod: Fn; lgetxattr: Fn; lsetxattr: Fn; llistxattr: Fn; lremovexattr: Fn; fallocate: Fn; lseek: Fn } | null = null;

function lib() {
  if (libc) return libc;
  libc = {
    mknod: libcFn('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    lgetxattr: libcFn('long lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)'),
    lsetxattr: libcFn('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)'),
    llistxattr: libcFn('long llistxattr(const char *path, _Out_ uint8_t *list, size_t size)'),
    lremovexattr: libcFn('int lremovexattr(const char *path, const char *name)'),
    fallocate: libcFn('int fallocate(int fd, int mode, int64_t offset, int64_t len)'),
    lseek: libcFn('int64_t lseek(int fd, int64_t offset, int whence)'),
  };
  return libc;
}

export function mknodSync(path: string, mode: number, dev: number): void {
  check('mknod', path, lib().mknod(path, mode, dev));
}

export function lgetxattrSync(path: string, name: string): Buffer {
  const size = check('lgetxattr', path, lib().lgetxattr(path, name, null, 0));
  const buf = Buffer.alloc(size);
  const n = check('lgetxattr', path, lib().lgetxattr(path, name, buf, size));
  return buf.subarray(0, n);
}

export function lsetxattrSync(path: string, name: string, value: Buffer, flags: number): void {
  check('lsetxattr', path, lib().lsetxattr(path, name, value, value.length, flags));
}

export function llistxattrSync(path: string): string[] {
  const size = check('llistxattr', path, lib().llistxattr(path, null, 0));
  if (size === 0) return [];
  const buf = Buffer.alloc(size);
  const n = check('llistxattr', path, lib().llistxattr(path, buf, size));
  return buf.subarray(0, n).toString('utf8').split('\0').filter((s) => s.length > 0);
}

export function lremovexattrSync(path: string, name: string): void {
  check('lremovexattr', path, lib().lremovexattr(path, name));
}

export const FALLOC_FL_KEEP_SIZE = 1;
export const FALLOC_FL_PUNCH_HOLE = 2;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

/**
 * fallocate(2) with `mode` (FALLOC_FL_*). With KEEP_SIZE alone: allocates
 * [offset, offset+length) without changing the size, so later writes there
 * cannot run out of space.
 */
export function fallocateSync(fd: number, mode: number, offset: number, length: number, path: string): void {
  check('fallocate', path, lib().fallocate(fd, mode, offset, length));
}

/** lseek(2) with SEEK_DATA or SEEK_HOLE; -1 for ENXIO (nothing of that kind at or after `offset`). */
export function seekDataOrHoleSync(fd: number, offset: number, whence: typeof SEEK_DATA | typeof SEEK_HOLE, path: string): number {
  const r = Number(lib().lseek(fd, offset, whence));
  if (r < 0 && lastErrno() === constants.errno.ENXIO) return -1;
  return check('lseek', path, r);
}
