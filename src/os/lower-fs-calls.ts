// libc calls Node's fs lacks, for the engine's lower directory: mknod(2) (fifos,
// sockets, device nodes), the l*xattr(2) family (never following symlinks) and
// fallocate(2) (space reserved before a write is acknowledged), utimensat(2)
// (Node's utimes turns a time before 1970 into "now"), getdents64(2) (Node's
// readdir gives no inode numbers, and names only as UTF-8).
// Errors are thrown as objects with `errno` (positive) and `code`, like fs errors.
import koffi from 'koffi';
import { closeSync, constants as fsc, openSync } from 'node:fs';
import { constants } from 'node:os';

type Fn = (...args: unknown[]) => number;
let libc: { mknod: Fn; lgetxattr: Fn; lsetxattr: Fn; llistxattr: Fn; lremovexattr: Fn; fallocate: Fn; utimensat: Fn; getdents64: Fn; renameat2: Fn } | null = null;

function lib() {
  if (libc) return libc;
  const l = koffi.load('libc.so.6');
  libc = {
    mknod: l.func('int mknod(const char *path, uint32_t mode, uint64_t dev)') as unknown as Fn,
    lgetxattr: l.func('long lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)') as unknown as Fn,
    lsetxattr: l.func('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)') as unknown as Fn,
    llistxattr: l.func('long llistxattr(const char *path, _Out_ uint8_t *list, size_t size)') as unknown as Fn,
    lremovexattr: l.func('int lremovexattr(const char *path, const char *name)') as unknown as Fn,
    fallocate: l.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)') as unknown as Fn,
    utimensat: l.func('int utimensat(int dirfd, const char *path, const uint8_t *times, int flags)') as unknown as Fn,
    getdents64: l.func('long getdents64(int fd, _Out_ uint8_t *buf, size_t size)') as unknown as Fn,
    renameat2: l.func('int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)') as unknown as Fn,
  };
  return libc;
}

const codeOf = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v as number, k]));

function check(call: string, path: string, r: number): number {
  if (r >= 0) return r;
  const errno = koffi.errno();
  const err = new Error(`${call} ${path}: errno ${errno}`) as Error & { errno: number; code?: string };
  err.errno = errno;
  err.code = codeOf.get(errno);
  throw err;
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

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

/**
 * Sets atime and mtime of `path` (a symlink itself, never its target), each
 * as [seconds, nanoseconds]; seconds may be negative (before 1970).
 */
export function lutimensSync(path: string, atime: [number, number], mtime: [number, number]): void {
  const ts = Buffer.alloc(32);
  ts.writeBigInt64LE(BigInt(atime[0]), 0);
  ts.writeBigInt64LE(BigInt(atime[1]), 8);
  ts.writeBigInt64LE(BigInt(mtime[0]), 16);
  ts.writeBigInt64LE(BigInt(mtime[1]), 24);
  check('utimensat', path, lib().utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW));
}

export interface LowerDirent {
  /** The name's bytes. */
  name: Buffer;
  ino: number;
  /** DT_* type (0: unknown). */
  type: number;
}

/** Every entry of directory `path` ('.' and '..' included), in the directory's order. */
export function readdirRawSync(path: string): LowerDirent[] {
  const fd = openSync(path, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
  const out: LowerDirent[] = [];
  const buf = Buffer.alloc(64 * 1024);
  try {
    for (;;) {
      const n = check('getdents64', path, lib().getdents64(fd, buf, buf.length));
      if (n === 0) return out;
      // struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, name (NUL-terminated)
      for (let at = 0; at < n;) {
        const reclen = buf.readUInt16LE(at + 16);
        const nameEnd = buf.indexOf(0, at + 19);
        out.push({
          ino: Number(buf.readBigUInt64LE(at)),
          type: buf[at + 18]!,
          name: Buffer.from(buf.subarray(at + 19, nameEnd < 0 || nameEnd > at + reclen ? at + reclen : nameEnd)),
        });
        at += reclen;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** renameat2(2) with its flags (RENAME_NOREPLACE 1, RENAME_EXCHANGE 2), paths from the working directory. */
export function renameat2Sync(from: string, to: string, flags: number): void {
  check('renameat2', from, lib().renameat2(AT_FDCWD, from, AT_FDCWD, to, flags));
}
