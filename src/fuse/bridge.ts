// The FUSE bridge contract: the one interface between a filesystem written in
// TypeScript and what carries FUSE requests to it. Two bridges implement it
// (docs/FUSE-BRIDGE.md): kernel/ speaks the kernel protocol on /dev/fuse
// itself (the default), fuse-native-bridge.ts goes through libfuse2 (a tested
// fallback). Everything above (the engine, the block-mode file server, the
// eCryptfs reader) uses only this file's types, so either bridge serves them.
//
// Contract for a filesystem (`FuseOps`):
// - Paths are absolute within the mount ('/', '/a/b'), as UTF-8 strings.
// - An operation returns its result, or a Promise of it, or throws (rejects)
//   an error that carries an errno: a `FuseError`, a Node `fs` error (its
//   `code`, e.g. 'ENOENT'), or anything with a numeric `errno` (either sign).
//   Anything else becomes EIO and is reported through `onUnexpectedError`.
//   Synchronous results are answered without a trip through the event loop
//   (measured faster for metadata work, ../shared/notes/fuse-native.md).
// - File handles: `open`/`create`/`opendir` return a handle (a positive
//   integer below 2^31, chosen by the filesystem); later calls pass it back.
//   0 means "no handle" and is never passed for a real open file.
// - Times are milliseconds since the epoch (the binding's precision).
//   `utimens` receives the real atime and mtime (fuse-native passes atime
//   twice; the bridge reads the mtime the kernel sent, see fuse-native-bridge.ts).
// - `fgetattr` receives the handle, so an open-but-unlinked or renamed file
//   still stats correctly (fuse-native alone would stat the path).
// - An operation left undefined answers ENOSYS (the kernel then falls back
//   or reports EOPNOTSUPP where POSIX says so).
// - Requests may arrive concurrently (the binding runs several FUSE threads);
//   synchronous operations are naturally serialized on the JS thread, async
//   ones must do their own locking.
// - Operations that make a new entry (`create`, `mknod`, `mkdir`, `symlink`)
//   receive the calling process's uid and gid (`Caller`) where the binding
//   knows them (the kernel bridge; fuse-native passes none): a filesystem run
//   by root for other users (allow_other) gives the entry to its caller, as
//   a local filesystem would.

import { constants } from 'node:os';

export interface FuseStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  ino: number;
  /**
   * Device of the file (optional): with `ino`, what makes two names one file
   * (the kernel bridge gives hard links one kernel inode).
   */
  dev?: number;
  rdev?: number;
  blksize?: number;
  blocks?: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

export interface FuseStatfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

/** A filesystem's statfs(2) (Node's `statfsSync`) as FUSE answers it: free inodes stand for available ones. */
export function fuseStatfsOf(s: { bsize: number; blocks: number; bfree: number; bavail: number; files: number; ffree: number }): FuseStatfs {
  return {
    bsize: s.bsize,
    frsize: s.bsize,
    blocks: s.blocks,
    bfree: s.bfree,
    bavail: s.bavail,
    files: s.files,
    ffree: s.ffree,
    favail: s.ffree,
    namemax: 255,
  };
}

type R<T> = T | Promise<T>;

/** A directory entry with the inode number stat reports for it. */
export interface DirEntry {
  name: string;
  ino: number;
  /** DT_* type (0 or absent: unknown). */
  type?: number;
}

/** The process a request came from (the kernel's fuse_in_header). */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
}

export interface FuseOps {
  init?(): R<void>;
  getattr(path: string): R<FuseStat>;
  fgetattr?(path: string, fh: number): R<FuseStat>;
  access?(path: string, mode: number): R<void>;
  statfs?(path: string): R<FuseStatfs>;
  /** Names, or entries with their inode numbers (then right from any offset a reader resumes at). */
  readdir?(path: string): R<Array<string | DirEntry>>;
  opendir?(path: string, flags: number): R<number>;
  releasedir?(path: string, fh: number): R<void>;
  fsyncdir?(path: string, datasync: boolean, fh: number): R<void>;
  open?(path: string, flags: number): R<number>;
  /**
   * open, and the file's attributes as of this open (what fgetattr of the new
   * handle would say at once), so the kernel bridge decides FOPEN_KEEP_CACHE
   * without asking again (the kernel bridge only; else `open` + `fgetattr`).
   */
  openWithAttr?(path: string, flags: number): R<{ fh: number; attr: FuseStat }>;
  create?(path: string, mode: number, caller?: Caller): R<number>;
  /** create, and the new file's attributes (what fgetattr of the handle would say at once): the kernel bridge only, as openWithAttr. */
  createWithAttr?(path: string, mode: number, caller?: Caller): R<{ fh: number; attr: FuseStat }>;
  /** Fills `buf` (its length is the request size) and returns the bytes read. */
  read?(path: string, fh: number, buf: Buffer, offset: number): R<number>;
  /** Writes `buf` and returns the bytes written. `buf` is valid only until the call ends. */
  write?(path: string, fh: number, buf: Buffer, offset: number): R<number>;
  flush?(path: string, fh: number): R<void>;
  fsync?(path: string, datasync: boolean, fh: number): R<void>;
  release?(path: string, fh: number): R<void>;
  truncate?(path: string, size: number): R<void>;
  ftruncate?(path: string, fh: number, size: number): R<void>;
  /** fallocate(2) on an open file; `mode` holds FALLOC_FL_* bits (the kernel bridge only). */
  fallocate?(path: string, fh: number, mode: number, offset: number, length: number): R<void>;
  /** lseek(2) with SEEK_DATA (3) or SEEK_HOLE (4); returns the new offset (the kernel bridge only). */
  lseek?(path: string, fh: number, offset: number, whence: number): R<number>;
  /** A time given as null is to be left as it is (UTIME_OMIT; the kernel bridge only, `touch -m`, tar). */
  utimens?(path: string, atimeMs: number | null, mtimeMs: number | null): R<void>;
  chmod?(path: string, mode: number): R<void>;
  chown?(path: string, uid: number, gid: number): R<void>;
  readlink?(path: string): R<string>;
  symlink?(target: string, path: string, caller?: Caller): R<void>;
  link?(existing: string, path: string): R<void>;
  mknod?(path: string, mode: number, rdev: number, caller?: Caller): R<void>;
  mkdir?(path: string, mode: number, caller?: Caller): R<void>;
  rmdir?(path: string): R<void>;
  unlink?(path: string): R<void>;
  /** `flags` (RENAME_NOREPLACE 1, RENAME_EXCHANGE 2) only when `renameFlags` is set. */
  rename?(from: string, to: string, flags?: number): R<void>;
  /** rename takes renameat2's flags itself (else the bridge answers NOREPLACE by a lookup, EXCHANGE with EINVAL). */
  renameFlags?: boolean;
  setxattr?(path: string, name: string, value: Buffer, flags: number): R<void>;
  /** Returns the value (the bridge answers size queries and ERANGE itself). */
  getxattr?(path: string, name: string): R<Buffer>;
  /** `caller` where the binding knows it (trusted.* names are listed to root only). */
  listxattr?(path: string, caller?: Caller): R<string[]>;
  /**
   * The filesystem stores POSIX ACLs (system.posix_acl_access/_default through
   * the xattr calls), keeps the mode in step with them and gives new entries
   * their parent's default ACL: the kernel bridge then asks for FUSE_POSIX_ACL
   * (the kernel checks ACLs itself) and FUSE_DONT_MASK (the caller's umask is
   * applied by the bridge, unless the parent has a default ACL).
   */
  posixAcl?: boolean;
  removexattr?(path: string, name: string): R<void>;
}

export interface MountOptions {
  /** Shown as the mount's source in /proc/mounts. */
  fsname: string;
  /** The mount type becomes fuse.<subtype>. */
  subtype?: string;
  /** Let other users in (needs user_allow_other in /etc/fuse.conf for non-root). */
  allowOther?: boolean;
  /** Let the kernel check permissions from the modes we report (default true). */
  defaultPermissions?: boolean;
  /** Seconds the kernel may cache attributes / names / negative lookups (default 1). */
  attrTimeout?: number;
  entryTimeout?: number;
  negativeTimeout?: number;
  /** Largest write request in bytes (default 131072; needs big_writes). */
  maxWrite?: number;
  /** Report the filesystem's inode numbers (default true). */
  useIno?: boolean;
  readOnly?: boolean;
  /** Log every request in libfuse (debug only). */
  debug?: boolean;
  /** Called with errors that carried no errno (answered with EIO). */
  onUnexpectedError?: (op: string, path: string, err: unknown) => void;
  /**
   * Run after each request's reply, before the next request is read (the
   * kernel bridge only; fuse-native ignores it, so give the filesystem its
   * after-reply work only with the kernel bridge).
   */
  afterReply?: () => void;
  /**
   * Which bridge carries the requests: 'fuse-native' (libfuse2 through the
   * fuse-native addon) or 'kernel' (the /dev/fuse protocol spoken directly,
   * src/fuse/kernel/; measured in docs/BENCHMARKS.md). Default 'kernel'.
   */
  bridge?: 'fuse-native' | 'kernel';
}

export interface FuseMount {
  readonly mountPoint: string;
  /** Unmounts (fusermount -u) and releases the binding; idempotent. */
  unmount(opts?: { lazy?: boolean }): Promise<void>;
  /**
   * Resolves once the connection is over and nothing of ours uses it: the
   * mount is gone (unmounted from here or from outside; detached lazily, once
   * its last user let go) or the connection was aborted. The kernel bridge
   * only: it learns it at once (read says ENODEV), where fuse-native tells
   * nobody.
   */
  readonly ended?: Promise<void>;
}

/** An error that carries a positive errno value (e.g. constants.errno.ENOENT). */
export class FuseError extends Error {
  constructor(
    readonly errno: number,
    message?: string,
  ) {
    super(message ?? `errno ${errno}`);
    this.name = 'FuseError';
  }
}

const errnoByCode = constants.errno as unknown as Record<string, number>;

/**
 * The positive errno an error carries (a FuseError, a Node fs error's `code`,
 * a numeric `errno` of either sign), or null: what both bridges answer with.
 */
export function errnoOf(err: unknown): number | null {
  if (err && typeof err === 'object') {
    const e = err as { errno?: unknown; code?: unknown };
    if (typeof e.code === 'string' && typeof errnoByCode[e.code] === 'number') return errnoByCode[e.code]!;
    if (typeof e.errno === 'number' && e.errno !== 0) return Math.abs(e.errno);
  }
  return null;
}
