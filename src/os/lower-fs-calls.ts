// libc calls Node's fs lacks, for the engine's lower directory: the *at family
// (every lower operation names its entry relative to a directory descriptor,
// so no lower path is ever longer than one name: the plaintext tree may be as
// deep as the kernel allows, though each lower name is longer than its
// plaintext one), statx, the l*xattr(2) family (never following symlinks),
// fallocate(2) (space reserved before a write is acknowledged; holes punched)
// lseek(2) with SEEK_DATA/SEEK_HOLE, utimensat(2) (Node's utimes turns a time
// before 1970 into "now"), getdents64(2) (Node's readdir gives no inode
// numbers, and names only as UTF-8) and renameat2(2) (exchange, no-replace).
// Names are bytes: a name or path given here reaches the kernel as the bytes
// it stands for (c-name.ts), and names read back (symlink targets, xattr
// names; getdents64 gives raw bytes) come back in the same string form
// (format/name-bytes.ts), so a name that is not UTF-8 is never mangled.
// Errors are thrown as objects with `errno` (positive) and `code`, like fs errors.
import { closeSync, constants as fsc } from 'node:fs';
import { constants } from 'node:os';
import { checked as check, errnoError, lastErrno, libcFn, type LibcFn as Fn } from './libc.js';
import { cName } from './c-name.js';
import { bytesOfName, nameFromBytes } from '../format/name-bytes.js';
import { addressesAvailable, addressOf } from '../crypto/buffer-address.js';

const NUL = Buffer.of(0);

interface Libc {
  lgetxattr: Fn;
  lsetxattr: Fn;
  llistxattr: Fn;
  lremovexattr: Fn;
  fallocate: Fn;
  lseek: Fn;
  openat: Fn;
  statx: Fn;
  mkdirat: Fn;
  mknodat: Fn;
  unlinkat: Fn;
  renameat: Fn;
  linkat: Fn;
  symlinkat: Fn;
  readlinkat: Fn;
  fchmodat: Fn;
  fchownat: Fn;
  utimensat: Fn;
  futimens: Fn;
  faccessat: Fn;
  getdents64: Fn;
  renameat2: Fn;
  fadvise: Fn;
  fcntl: Fn;
  openat2: Fn & { async: (...args: unknown[]) => void };
  preadv2: Fn;
  getxattrat: Fn;
  fchmodat2: Fn;
}
let libc: Libc | null = null;

function lib(): Libc {
  if (libc) return libc;
  libc = {
    lgetxattr: libcFn('long lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)'),
    lsetxattr: libcFn('int lsetxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)'),
    llistxattr: libcFn('long llistxattr(const char *path, _Out_ uint8_t *list, size_t size)'),
    lremovexattr: libcFn('int lremovexattr(const char *path, const char *name)'),
    fallocate: libcFn('int fallocate(int fd, int mode, int64_t offset, int64_t len)'),
    lseek: libcFn('int64_t lseek(int fd, int64_t offset, int whence)'),
    // openat is variadic; on the supported ABIs the mode travels like a fixed int argument
    openat: libcFn('int openat(int dirfd, const char *path, int flags, uint32_t mode)'),
    statx: libcFn('int statx(int dirfd, const char *path, int flags, uint32_t mask, void *buf)'),
    mkdirat: libcFn('int mkdirat(int dirfd, const char *path, uint32_t mode)'),
    mknodat: libcFn('int mknodat(int dirfd, const char *path, uint32_t mode, uint64_t dev)'),
    unlinkat: libcFn('int unlinkat(int dirfd, const char *path, int flags)'),
    renameat: libcFn('int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)'),
    linkat: libcFn('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)'),
    symlinkat: libcFn('int symlinkat(const char *target, int newdirfd, const char *linkpath)'),
    readlinkat: libcFn('long readlinkat(int dirfd, const char *path, void *buf, size_t size)'),
    fchmodat: libcFn('int fchmodat(int dirfd, const char *path, uint32_t mode, int flags)'),
    fchownat: libcFn('int fchownat(int dirfd, const char *path, uint32_t owner, uint32_t group, int flags)'),
    utimensat: libcFn('int utimensat(int dirfd, const char *path, void *times, int flags)'),
    // glibc's utimensat refuses a NULL path (EINVAL); futimens is the call on a descriptor
    futimens: libcFn('int futimens(int fd, void *times)'),
    faccessat: libcFn('int faccessat(int dirfd, const char *path, int mode, int flags)'),
    getdents64: libcFn('long getdents64(int fd, _Out_ uint8_t *buf, size_t size)'),
    renameat2: libcFn('int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)'),
    // returns the error number itself (0 on success), not -1 and errno
    fadvise: libcFn('int posix_fadvise(int fd, int64_t offset, int64_t len, int advice)'),
    fcntl: libcFn('int fcntl(int fd, int cmd, int arg)'),
    // openat2(2) has no glibc wrapper: syscall(2), whose variadic arguments travel like fixed ones on the supported ABIs
    openat2: libcFn('long syscall(long number, int dirfd, const uint8_t *path, const uint8_t *how, size_t size)') as Libc['openat2'],
    // the iovec array is passed as bytes holding the data buffer's address (buffer-address.ts)
    preadv2: libcFn('long preadv2(int fd, const uint8_t *iov, int iovcnt, int64_t offset, int flags)'),
    // getxattrat(2) (Linux 6.13) has no glibc wrapper either
    getxattrat: libcFn('long syscall(long number, int dirfd, const char *path, unsigned int atFlags, const char *name, const uint8_t *args, size_t size)'),
    // fchmodat2(2) (Linux 6.6) neither, in bookworm's glibc
    fchmodat2: libcFn('long syscall(long number, int dirfd, const char *path, uint32_t mode, int flags)'),
  };
  return libc;
}

/** The current directory as a dirfd: with an absolute path, an *at call is the plain call. */
export const AT_FDCWD = -100;
/** A descriptor that only names a directory (for *at calls), with no read permission needed. */
export const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_REMOVEDIR = 0x200;

/** openat(2); the descriptor is close-on-exec, as Node's own are. */
export function openatSync(dir: number, name: string, flags: number, mode = 0): number {
  return check('openat', name, lib().openat(dir, cName(name), flags | O_CLOEXEC, mode));
}

/** What the engine reads of a lower entry's attributes (fs.Stats has these too). */
export interface LowerStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  ino: number;
  dev: number;
  rdev: number;
  blocks: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

const STATX_BASIC_STATS = 0x7ff;
const statxBuf = Buffer.alloc(256);

const u64 = (b: Buffer, at: number) => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 0x100000000;
const ms = (b: Buffer, at: number) => (b.readUInt32LE(at) + b.readInt32LE(at + 4) * 0x100000000) * 1000 + b.readUInt32LE(at + 8) / 1e6;

/** glibc's dev_t of major:minor (makedev), as fs.Stats reports `dev`. */
function devT(major: number, minor: number): number {
  return (minor & 0xff) + (major & 0xfff) * 0x100 + Math.floor(minor / 0x100) * 0x100000 + Math.floor(major / 0x1000) * 0x100000000000;
}

/** lstat of `name` in `dir` (statx: one struct layout on every architecture). */
export function lstatatSync(dir: number, name: string): LowerStat {
  const b = statxBuf;
  check('statx', name, lib().statx(dir, cName(name), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, b));
  const rmaj = b.readUInt32LE(128);
  const rmin = b.readUInt32LE(132);
  return {
    nlink: b.readUInt32LE(16),
    uid: b.readUInt32LE(20),
    gid: b.readUInt32LE(24),
    mode: b.readUInt16LE(28),
    ino: u64(b, 32),
    size: u64(b, 40),
    blocks: u64(b, 48),
    atimeMs: ms(b, 64),
    ctimeMs: ms(b, 96),
    mtimeMs: ms(b, 112),
    // the kernel's 32-bit device encoding (what FUSE carries)
    rdev: ((rmin & 0xff) | ((rmaj & 0xfff) << 8) | ((rmin & ~0xff) << 12)) >>> 0,
    dev: devT(b.readUInt32LE(136), b.readUInt32LE(140)),
  };
}

export function mkdiratSync(dir: number, name: string, mode: number): void {
  check('mkdirat', name, lib().mkdirat(dir, cName(name), mode));
}

export function mknodatSync(dir: number, name: string, mode: number, dev: number): void {
  check('mknodat', name, lib().mknodat(dir, cName(name), mode, dev));
}

export function unlinkatSync(dir: number, name: string, removeDir = false): void {
  check(removeDir ? 'rmdir' : 'unlinkat', name, lib().unlinkat(dir, cName(name), removeDir ? AT_REMOVEDIR : 0));
}

export function renameatSync(fromDir: number, from: string, toDir: number, to: string): void {
  check('renameat', from, lib().renameat(fromDir, cName(from), toDir, cName(to)));
}

export function linkatSync(fromDir: number, from: string, toDir: number, to: string): void {
  check('linkat', from, lib().linkat(fromDir, cName(from), toDir, cName(to), 0));
}

export function symlinkatSync(target: string, dir: number, name: string): void {
  check('symlinkat', name, lib().symlinkat(cName(target), dir, cName(name)));
}

const linkBuf = Buffer.alloc(4096);

export function readlinkatSync(dir: number, name: string): string {
  const n = check('readlinkat', name, lib().readlinkat(dir, cName(name), linkBuf, linkBuf.length));
  return nameFromBytes(linkBuf.subarray(0, n));
}

/** A system call newer than some kernels this runs on (false once the older way is to be kept to). */
interface NewerCall {
  available: boolean;
}

/**
 * After a newer call failed (-1, its errno still the last): the older way,
 * from then on too when the kernel lacks the call (ENOSYS). EPERM may be the
 * call's own answer or a seccomp filter older than the call (a container's):
 * the older way tells them apart, and is kept to when it answers otherwise.
 * Null for any other error: the newer call's own, for the caller to throw.
 */
function olderWayAfter<T>(call: NewerCall, older: () => T): { value: T } | null {
  const errno = lastErrno();
  if (errno === constants.errno.ENOSYS) {
    call.available = false;
    return { value: older() };
  }
  if (errno !== constants.errno.EPERM) return null;
  try {
    const value = older();
    call.available = false;
    return { value };
  } catch (err) {
    if ((err as { errno?: number }).errno !== constants.errno.EPERM) call.available = false;
    throw err;
  }
}

const SYS_FCHMODAT2 = 452; // x86_64 and aarch64 alike (the unified syscall table)
const fchmodat2Call: NewerCall = { available: true };

/**
 * chmod of `name` in `dir`, never through a symlink: a symlink put in its
 * place fails with EOPNOTSUPP, and the mode of whatever a planted link points
 * to is never changed. By fchmodat2(2) where the kernel has it: one call,
 * where bookworm's glibc opens the entry O_PATH|O_NOFOLLOW, checks its type
 * and chmods /proc/self/fd/N (four calls, and /proc mounted). Elsewhere
 * (Linux before 6.6) glibc's way.
 */
export function fchmodatSync(dir: number, name: string, mode: number): void {
  const byGlibc = () => void check('fchmodat', name, lib().fchmodat(dir, cName(name), mode, AT_SYMLINK_NOFOLLOW));
  if (!fchmodat2Call.available) return byGlibc();
  if (Number(lib().fchmodat2(SYS_FCHMODAT2, dir, cName(name), mode, AT_SYMLINK_NOFOLLOW)) === 0) return;
  if (!olderWayAfter(fchmodat2Call, byGlibc)) throw errnoError('fchmodat', name);
}

/** lchown of `name` in `dir`; -1 leaves that id as it is. */
export function fchownatSync(dir: number, name: string, uid: number, gid: number): void {
  check('fchownat', name, lib().fchownat(dir, cName(name), uid >>> 0, gid >>> 0, AT_SYMLINK_NOFOLLOW));
}

const timesBuf = Buffer.alloc(32);

function putTimespec(b: Buffer, at: number, msSinceEpoch: number): void {
  const sec = Math.floor(msSinceEpoch / 1000);
  const nsec = Math.min(999_999_999, Math.round((msSinceEpoch - sec * 1000) * 1e6));
  b.writeBigInt64LE(BigInt(sec), at);
  b.writeBigInt64LE(BigInt(nsec), at + 8);
}

/** tv_nsec of a time utimensat(2) leaves as it is */
const UTIME_OMIT = (1 << 30) - 2;

/**
 * lutimes of `name` in `dir`, milliseconds since the epoch (negative: before
 * 1970); a time given as null is left exactly as it is (UTIME_OMIT), so
 * `touch -m` keeps the nanoseconds of the atime and costs no stat first.
 */
export function utimensatSync(dir: number, name: string, atimeMs: number | null, mtimeMs: number | null): void {
  if (atimeMs === null) timesBuf.writeBigInt64LE(BigInt(UTIME_OMIT), 8);
  else putTimespec(timesBuf, 0, atimeMs);
  if (mtimeMs === null) timesBuf.writeBigInt64LE(BigInt(UTIME_OMIT), 24);
  else putTimespec(timesBuf, 16, mtimeMs);
  check('utimensat', name, lib().utimensat(dir, cName(name), timesBuf, AT_SYMLINK_NOFOLLOW));
}

/** futimens(2): sets `fd`'s access and modification times to exact nanoseconds since the epoch. */
export function futimensSync(fd: number, atimeNs: bigint, mtimeNs: bigint): void {
  const b = Buffer.alloc(32);
  for (const [at, ns] of [
    [0, atimeNs],
    [16, mtimeNs],
  ] as const) {
    const sec = ns / 1_000_000_000n - (ns % 1_000_000_000n < 0n ? 1n : 0n);
    b.writeBigInt64LE(sec, at);
    b.writeBigInt64LE(ns - sec * 1_000_000_000n, at + 8);
  }
  check('futimens', String(fd), lib().futimens(fd, b));
}

export function faccessatSync(dir: number, name: string, mode: number): void {
  // a symlink is checked as itself: whether its target exists is not told
  check('faccessat', name, lib().faccessat(dir, cName(name), mode, AT_SYMLINK_NOFOLLOW));
}

export function lgetxattrSync(path: string, name: string): Buffer {
  const size = check('lgetxattr', path, lib().lgetxattr(cName(path), cName(name), null, 0));
  const buf = Buffer.alloc(size);
  const n = check('lgetxattr', path, lib().lgetxattr(cName(path), cName(name), buf, size));
  return buf.subarray(0, n);
}

const SYS_GETXATTRAT = 464; // x86_64 and aarch64 alike (the unified syscall table)
const getxattratCall: NewerCall = { available: true };
const xattrArgs = Buffer.alloc(16); // struct xattr_args { u64 value; u32 size; u32 flags; }
const xattrValue = Buffer.alloc(1024); // an ACL of a hundred entries; a larger value is asked its size first

/**
 * lgetxattr of `name` in `dir` (never following a symlink), by getxattrat(2)
 * where the kernel has it: no walk through /proc/self/fd/DIR/NAME, which
 * costs more than the call when `ls -l` asks every entry's ACL. Elsewhere
 * (Linux before 6.13) lgetxattr of that /proc path.
 */
export function getxattratSync(dir: number, name: string, attr: string): Buffer {
  const byPath = () => lgetxattrSync(dir === AT_FDCWD ? name : `/proc/self/fd/${dir}/${name}`, attr);
  if (!getxattratCall.available || !addressesAvailable()) return byPath();
  let r = getxattrat(dir, name, attr, xattrValue);
  if (r >= 0) return Buffer.from(xattrValue.subarray(0, r));
  if (lastErrno() !== constants.errno.ERANGE) {
    const older = olderWayAfter(getxattratCall, byPath);
    if (older) return older.value;
    throw errnoError('getxattrat', name);
  }
  const size = check('getxattrat', name, getxattrat(dir, name, attr, null));
  const buf = Buffer.alloc(size);
  r = check('getxattrat', name, getxattrat(dir, name, attr, buf));
  return buf.subarray(0, r);
}

function getxattrat(dir: number, name: string, attr: string, into: Buffer | null): number {
  xattrArgs.writeBigUInt64LE(into && into.length ? BigInt(addressOf(into)) : 0n, 0);
  xattrArgs.writeUInt32LE(into ? into.length : 0, 8);
  xattrArgs.writeUInt32LE(0, 12);
  return Number(lib().getxattrat(SYS_GETXATTRAT, dir, cName(name), AT_SYMLINK_NOFOLLOW, cName(attr), xattrArgs, xattrArgs.length));
}

export function lsetxattrSync(path: string, name: string, value: Buffer, flags: number): void {
  check('lsetxattr', path, lib().lsetxattr(cName(path), cName(name), value, value.length, flags));
}

export function llistxattrSync(path: string): string[] {
  const size = check('llistxattr', path, lib().llistxattr(cName(path), null, 0));
  if (size === 0) return [];
  const buf = Buffer.alloc(size);
  const n = check('llistxattr', path, lib().llistxattr(cName(path), buf, size));
  const names: string[] = [];
  for (let at = 0; at < n;) {
    let end = buf.indexOf(0, at);
    if (end < 0 || end > n) end = n;
    if (end > at) names.push(nameFromBytes(buf.subarray(at, end)));
    at = end + 1;
  }
  return names;
}

export function lremovexattrSync(path: string, name: string): void {
  check('lremovexattr', path, lib().lremovexattr(cName(path), cName(name)));
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

export const POSIX_FADV_WILLNEED = 3;

const F_DUPFD_CLOEXEC = 1030;

/** A second descriptor of what `fd` is open on (close-on-exec). */
export function dupFdSync(fd: number): number {
  return check('fcntl', String(fd), lib().fcntl(fd, F_DUPFD_CLOEXEC, 0));
}

const SYS_OPENAT2 = 437; // x86_64 and aarch64 alike (the unified syscall table)
const RESOLVE_NO_SYMLINKS = 0x04;
const RESOLVE_BENEATH = 0x08;

/**
 * openat2(2) of `path` (a relative path of a few names) below `dir` on a
 * libuv pool thread, never through a symlink (nor '..' out of `dir`):
 * calls `done` on the JS thread with the new descriptor (close-on-exec), or
 * -1 when it could not be opened (any reason: a kernel without openat2
 * too). `dir` must stay open until `done` is called.
 */
export function openBeneathAsync(dir: number, path: string, flags: number, done: (fd: number) => void): void {
  const name = Buffer.concat([bytesOfName(path), NUL]);
  const how = Buffer.alloc(24); // struct open_how { u64 flags; u64 mode; u64 resolve; }
  how.writeBigUInt64LE(BigInt(flags | O_CLOEXEC), 0);
  how.writeBigUInt64LE(BigInt(RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH), 16);
  lib().openat2.async(SYS_OPENAT2, dir, name, how, how.length, (err: unknown, fd: unknown) => {
    void name; // both kept alive until the call returns
    void how;
    done(err || typeof fd !== 'number' ? -1 : fd);
  });
}

/**
 * posix_fadvise(2) WILLNEED: starts reading [offset, offset+length) into the
 * page cache and returns without waiting for it. A hint: false when the
 * kernel refused it, which changes nothing.
 */
export function willNeedSync(fd: number, offset: number, length: number): boolean {
  return Number(lib().fadvise(fd, offset, length, POSIX_FADV_WILLNEED)) === 0;
}

const RWF_NOWAIT = 0x08;
const iovBuf = Buffer.alloc(16); // struct iovec { void *base; size_t len; }

/**
 * pread(2) of what is in the page cache only (preadv2 with RWF_NOWAIT): the
 * bytes read, or -1 when reading them would wait for the device (EAGAIN: not
 * cached) or the kernel or filesystem cannot tell (any failure: the caller
 * then reads as usual, and learns the real error there).
 */
export function preadCachedSync(fd: number, buf: Buffer, offset: number): number {
  if (buf.length === 0 || !addressesAvailable()) return -1;
  // two 32-bit halves: no BigInt made per call
  const at = addressOf(buf);
  iovBuf.writeUInt32LE(at % 0x1_0000_0000, 0);
  iovBuf.writeUInt32LE(Math.floor(at / 0x1_0000_0000), 4);
  iovBuf.writeUInt32LE(buf.length, 8);
  const n = Number(lib().preadv2(fd, iovBuf, 1, offset, RWF_NOWAIT));
  return n >= 0 ? n : -1;
}

/** lseek(2) with SEEK_DATA or SEEK_HOLE; -1 for ENXIO (nothing of that kind at or after `offset`). */
export function seekDataOrHoleSync(fd: number, offset: number, whence: typeof SEEK_DATA | typeof SEEK_HOLE, path: string): number {
  const r = Number(lib().lseek(fd, offset, whence));
  if (r < 0 && lastErrno() === constants.errno.ENXIO) return -1;
  return check('lseek', path, r);
}

export interface LowerDirent {
  /** The name's bytes. */
  name: Buffer;
  ino: number;
  /** DT_* type (0: unknown). */
  type: number;
}

const direntBuf = Buffer.alloc(64 * 1024);

/** Every entry of directory `name` in `dir` ('.' and '..' included), in the directory's order. */
export function readdiratSync(dir: number, name: string): LowerDirent[] {
  const fd = openatSync(dir, name, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
  try {
    return readdirFdSync(fd, name);
  } finally {
    closeSync(fd);
  }
}

/**
 * Every entry of the directory open (readable) as `fd`, from its start: the
 * descriptor is rewound first when `rewind` (it was listed before); `name`
 * for errors.
 */
export function readdirFromStartSync(fd: number, name: string, rewind: boolean): LowerDirent[] {
  if (rewind) check('lseek', name, Number(lib().lseek(fd, 0, 0)));
  return readdirFdSync(fd, name);
}

/** Every entry of the directory open as `fd` (read from its current position); `name` for errors. */
export function readdirFdSync(fd: number, name: string): LowerDirent[] {
  const out: LowerDirent[] = [];
  const buf = direntBuf;
  for (;;) {
    const n = check('getdents64', name, Number(lib().getdents64(fd, buf, buf.length)));
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
}

/** renameat2(2) with its flags (RENAME_NOREPLACE 1, RENAME_EXCHANGE 2). */
export function renameat2Sync(fromDir: number, from: string, toDir: number, to: string, flags: number): void {
  check('renameat2', from, lib().renameat2(fromDir, cName(from), toDir, cName(to), flags));
}
