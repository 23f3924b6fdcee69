// libc calls Node's fs lacks, for the engine's lower directory: mknod(2) (fifos,
// sockets, device nodes), the l*xattr(2) family (never following symlinks) and
// fallocate(2) (space reserved before a write is acknowledged).
// Errors are thrown as objects with `errno` (positive) and `code`, like fs errors.
import { checked as check, libcFn, type LibcFn as Fn } from './libc.js';

let libc: { mknod: Fn; lgetxattr: Fn; lsetxattr: Fn; llistxattr: Fn; lremovexattr: Fn; fallocate: Fn } | null = null;

function lib() {
  if (libc) return libc;
  libc = {
    mknod: libcFn('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    lgetxattr: libcFn('long lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)'),
    lsetxattr: libcFn('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)'),
    llistxattr: libcFn('long llistxattr(const char *path, _Out_ uint8_t *list, size_t size)'),
    lremovexattr: libcFn('int lremovexattr(const char *path, const char *name)'),
    fallocate: libcFn('int fallocate(int fd, int mode, int64_t offset, int64_t len)'),
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

const FALLOC_FL_KEEP_SIZE = 1;

/**
 * Allocates [offset, offset+length) of an open file without changing its size
 * (FALLOC_FL_KEEP_SIZE): later writes there cannot run out of space.
 */
export function reserveSpaceSync(fd: number, offset: number, length: number, path: string): void {
  check('fallocate', path, lib().fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length));
}
