// The kernel FUSE protocol (include/uapi/linux/fuse.h), the parts this bridge
// speaks: opcodes, flags and the byte layout of the request and reply structs
// (little-endian, x86_64/aarch64). Pure data and encoders over Buffers; no I/O.
import type { FuseStat, FuseStatfs } from '../bridge.js';
import { nameFromBytes } from '../../format/name-bytes.js';

export const FUSE_KERNEL_VERSION = 7;
/**
 * The minor version we answer with. 7.33 has max_pages, readdirplus,
 * cache_symlinks, handle_killpriv_v2 and the 64-byte init reply; the request
 * structs we parse have the same layout in every later minor unless a feature
 * flag asks for more: SETXATTR_EXT (7.33, asked for with POSIX ACLs) and
 * INIT_EXT are read where they apply, SECURITY_CTX is never asked for.
 */
export const FUSE_KERNEL_MINOR = 33;
export const FUSE_ROOT_ID = 1;

export const Op = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  NOTIFY_REPLY: 41,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
} as const;

export const OP_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k.toLowerCase()]));

/** FUSE_INIT flags (fuse_init_in/out.flags). */
export const Init = {
  ASYNC_READ: 1 << 0,
  POSIX_LOCKS: 1 << 1,
  ATOMIC_O_TRUNC: 1 << 3,
  BIG_WRITES: 1 << 5,
  DONT_MASK: 1 << 6,
  FLOCK_LOCKS: 1 << 10,
  AUTO_INVAL_DATA: 1 << 12,
  DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  ASYNC_DIO: 1 << 15,
  WRITEBACK_CACHE: 1 << 16,
  PARALLEL_DIROPS: 1 << 18,
  MAX_PAGES: 1 << 22,
  POSIX_ACL: 1 << 20,
  CACHE_SYMLINKS: 1 << 23,
  NO_OPENDIR_SUPPORT: 1 << 24,
  HANDLE_KILLPRIV_V2: 1 << 28,
  SETXATTR_EXT: 1 << 29,
  INIT_EXT: 1 << 30,
} as const;

/**
 * FUSE_INIT flags2 (bits 32-63 of the flags; fuse_init_in/out.flags2, read
 * only with INIT_EXT). DIRECT_IO_ALLOW_MMAP (Linux 6.6): a shared mmap of a
 * FOPEN_DIRECT_IO file works, the kernel keeping its pages coherent with the
 * direct writes (it invalidates them before each).
 */
export const Init2 = { DIRECT_IO_ALLOW_MMAP: 1 << 4 } as const;

/** fuse_setattr_in.valid bits. */
export const Fattr = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  LOCKOWNER: 1 << 9,
  CTIME: 1 << 10,
  KILL_SUIDGID: 1 << 11,
} as const;

export const FUSE_GETATTR_FH = 1;
/** Notification codes (sent with unique 0, the code in the error field). */
export const NOTIFY_INVAL_INODE = 2;
/** fuse_write_in.write_flags: the writer lacks CAP_FSETID, drop set-user/group-ID (killpriv v2). */
export const FUSE_WRITE_KILL_SUIDGID = 1 << 2;
/** fuse_setxattr_in.setxattr_flags (SETXATTR_EXT): an access ACL set by a caller outside the file's group and without CAP_FSETID. */
export const FUSE_SETXATTR_ACL_KILL_SGID = 1 << 0;
export const FUSE_FSYNC_FDATASYNC = 1;
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

export const IN_HEADER = 40;
export const OUT_HEADER = 16;
export const ATTR_SIZE = 88;
export const ENTRY_OUT = 40 + ATTR_SIZE;
export const ATTR_OUT = 16 + ATTR_SIZE;
export const OPEN_OUT = 16;
export const INIT_OUT = 64;
export const STATFS_OUT = 80;
export const DIRENT_BASE = 24;
export const WRITE_IN = 40;
/** The kernel refuses a read buffer smaller than this (FUSE_MIN_READ_BUFFER). */
export const MIN_READ_BUFFER = 8192;

export interface InHeader {
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
}

export function readInHeader(b: Buffer): InHeader {
  return {
    len: b.readUInt32LE(0),
    opcode: b.readUInt32LE(4),
    unique: b.readBigUInt64LE(8),
    nodeid: Number(b.readBigUInt64LE(16)),
    uid: b.readUInt32LE(24),
    gid: b.readUInt32LE(28),
    pid: b.readUInt32LE(32),
  };
}

export function writeOutHeader(b: Buffer, len: number, error: number, unique: bigint): void {
  b.writeUInt32LE(len, 0);
  b.writeInt32LE(error, 4);
  b.writeBigUInt64LE(unique, 8);
}

/**
 * A NUL-terminated name at `at` (bytes as src/format/name-bytes.ts maps them to
 * a string); returns it and the offset past the NUL.
 */
export function readCString(b: Buffer, at: number, end: number): [string, number] {
  let nul = b.indexOf(0, at);
  if (nul < 0 || nul > end) nul = end;
  return [nameFromBytes(b.subarray(at, nul)), nul + 1];
}

export function u64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 4294967296;
}

/** A signed 64-bit field (times: seconds before 1970 are negative). */
export function i64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readInt32LE(at + 4) * 4294967296;
}

function setI64(b: Buffer, at: number, n: number): void {
  const hi = Math.floor(n / 4294967296);
  b.writeUInt32LE(n - hi * 4294967296, at);
  b.writeInt32LE(hi, at + 4);
}

function setU64(b: Buffer, at: number, n: number): void {
  const v = n > 0 ? n : 0;
  b.writeUInt32LE((v % 4294967296) >>> 0, at);
  b.writeUInt32LE(Math.floor(v / 4294967296) >>> 0, at + 4);
}

/**
 * Splits milliseconds (FuseStat's unit, a double) into seconds and
 * nanoseconds. Near the present a double of milliseconds resolves ~0.12 us,
 * so the nanoseconds are rounded to whole microseconds: a time set with
 * microsecond precision (touch -d, tar, utimes) comes back exactly, not as
 * 123456055 ns. Before 1970 the seconds are negative and the nanoseconds
 * still count forward from them, as in a struct timespec.
 */
export function splitMs(ms: number): [number, number] {
  let sec = Math.floor(ms / 1000);
  let nsec = Math.round((ms - sec * 1000) * 1e3) * 1e3;
  if (nsec >= 1e9) {
    sec += 1;
    nsec -= 1e9;
  }
  return [sec, nsec];
}

export function joinMs(sec: number, nsec: number): number {
  return sec * 1000 + nsec / 1e6;
}

/** struct fuse_attr at `at`. */
export function writeAttr(b: Buffer, at: number, st: FuseStat): void {
  setU64(b, at, st.ino);
  setU64(b, at + 8, st.size);
  setU64(b, at + 16, st.blocks ?? Math.ceil(st.size / 512));
  const [as, an] = splitMs(st.atimeMs);
  const [ms, mn] = splitMs(st.mtimeMs);
  const [cs, cn] = splitMs(st.ctimeMs);
  setI64(b, at + 24, as);
  setI64(b, at + 32, ms);
  setI64(b, at + 40, cs);
  b.writeUInt32LE(an, at + 48);
  b.writeUInt32LE(mn, at + 52);
  b.writeUInt32LE(cn, at + 56);
  b.writeUInt32LE(st.mode >>> 0, at + 60);
  b.writeUInt32LE(st.nlink >>> 0, at + 64);
  b.writeUInt32LE(st.uid >>> 0, at + 68);
  b.writeUInt32LE(st.gid >>> 0, at + 72);
  b.writeUInt32LE((st.rdev ?? 0) >>> 0, at + 76);
  b.writeUInt32LE(st.blksize ?? 4096, at + 80);
  b.writeUInt32LE(0, at + 84);
}

/** Writes a timeout in seconds as u64 seconds at `secAt` and u32 nanoseconds at `nsecAt`. */
function writeTimeout(b: Buffer, secAt: number, nsecAt: number, seconds: number): void {
  const s = Math.floor(seconds);
  setU64(b, secAt, s);
  b.writeUInt32LE(Math.round((seconds - s) * 1e9), nsecAt);
}

/** struct fuse_entry_out at `at`; nodeid 0 is a negative entry (cached for entryTimeout). */
export function writeEntryOut(b: Buffer, at: number, nodeid: number, st: FuseStat | null, entryTimeout: number, attrTimeout: number): void {
  setU64(b, at, nodeid);
  setU64(b, at + 8, 0); // generation: node ids are never reused
  writeTimeout(b, at + 16, at + 32, entryTimeout);
  writeTimeout(b, at + 24, at + 36, st ? attrTimeout : 0);
  if (st) writeAttr(b, at + 40, st);
  else b.fill(0, at + 40, at + 40 + ATTR_SIZE);
}

/** struct fuse_attr_out at `at`. */
export function writeAttrOut(b: Buffer, at: number, st: FuseStat, attrTimeout: number): void {
  writeTimeout(b, at, at + 8, attrTimeout);
  b.writeUInt32LE(0, at + 12);
  writeAttr(b, at + 16, st);
}

/** fuse_open_out.open_flags: bypass the page cache for this handle. */
export const FOPEN_DIRECT_IO = 1;
/** fuse_open_out.open_flags: the file's cached pages are still right; do not drop them at this open. */
export const FOPEN_KEEP_CACHE = 2;
/** fuse_open_out.open_flags of a directory: the kernel may keep its listing (with KEEP_CACHE, across opens). */
export const FOPEN_CACHE_DIR = 8;

export function writeOpenOut(b: Buffer, at: number, fh: number, openFlags: number): void {
  setU64(b, at, fh);
  b.writeUInt32LE(openFlags, at + 8);
  b.writeUInt32LE(0, at + 12);
}

export function writeStatfsOut(b: Buffer, at: number, s: FuseStatfs): void {
  setU64(b, at, s.blocks);
  setU64(b, at + 8, s.bfree);
  setU64(b, at + 16, s.bavail);
  setU64(b, at + 24, s.files);
  setU64(b, at + 32, s.ffree);
  b.writeUInt32LE(s.bsize, at + 40);
  b.writeUInt32LE(s.namemax, at + 44);
  b.writeUInt32LE(s.frsize, at + 48);
  b.fill(0, at + 52, at + STATFS_OUT);
}

/** Size of a struct fuse_dirent holding `nameBytes`, padded to 8. */
export function direntSize(nameBytes: number): number {
  return (DIRENT_BASE + nameBytes + 7) & ~7;
}

/** struct fuse_dirent at `at`; returns its padded size. */
export function writeDirent(b: Buffer, at: number, ino: number, off: number, type: number, name: Buffer): number {
  const size = direntSize(name.length);
  setU64(b, at, ino);
  setU64(b, at + 8, off);
  b.writeUInt32LE(name.length, at + 16);
  b.writeUInt32LE(type, at + 20);
  name.copy(b, at + 24);
  b.fill(0, at + 24 + name.length, at + size);
  return size;
}

/** The DT_* type of a mode (for dirents). */
export function direntType(mode: number): number {
  return (mode >>> 12) & 0o17;
}

/** struct fuse_fallocate_in at `at` (FALLOCATE). */
export function readFallocateIn(b: Buffer, at: number): { fh: number; offset: number; length: number; mode: number } {
  return { fh: u64(b, at), offset: u64(b, at + 8), length: u64(b, at + 16), mode: b.readUInt32LE(at + 24) };
}

/** struct fuse_lseek_in at `at` (LSEEK: SEEK_DATA or SEEK_HOLE). */
export function readLseekIn(b: Buffer, at: number): { fh: number; offset: number; whence: number } {
  return { fh: u64(b, at), offset: u64(b, at + 8), whence: b.readUInt32LE(at + 16) };
}

export const LSEEK_OUT = 8;

/** struct fuse_lseek_out at `at`. */
export function writeLseekOut(b: Buffer, at: number, offset: number): void {
  setU64(b, at, offset);
}

// ---- request decoders: one per request struct, fields by name ----

/** One request as read: its header fields and where its body lies in `b`. */
export interface Request {
  readonly b: Buffer;
  /** Start of the body (after fuse_in_header). */
  readonly p: number;
  /** End of the request in `b`. */
  readonly end: number;
  readonly opcode: number;
  readonly unique: bigint;
  readonly nodeid: number;
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
}

/** The request in the first `n` bytes of `b`, or null when shorter than a header. */
export function readRequest(b: Buffer, n: number): Request | null {
  if (n < IN_HEADER) return null;
  return {
    b,
    p: IN_HEADER,
    end: Math.min(n, b.readUInt32LE(0)),
    opcode: b.readUInt32LE(4),
    unique: b.readBigUInt64LE(8),
    nodeid: u64(b, 16),
    uid: b.readUInt32LE(24),
    gid: b.readUInt32LE(28),
    pid: b.readUInt32LE(32),
  };
}

/** A request body holding only NUL-terminated names (LOOKUP, UNLINK, RMDIR, REMOVEXATTR: one; SYMLINK: name, target). */
export function readNames(r: Request, count: 1 | 2): string[] {
  const out: string[] = [];
  let at = r.p;
  for (let i = 0; i < count; i++) {
    const [s, next] = readCString(r.b, at, r.end);
    out.push(s);
    at = next;
  }
  return out;
}

/** fuse_init_in (flags2 only when INIT_EXT is set). */
export function readInitIn(r: Request): { major: number; minor: number; maxReadahead: number; flags: number; flags2: number } {
  const { b, p } = r;
  const flags = b.readUInt32LE(p + 12);
  return {
    major: b.readUInt32LE(p),
    minor: b.readUInt32LE(p + 4),
    maxReadahead: b.readUInt32LE(p + 8),
    flags,
    flags2: flags & Init.INIT_EXT ? b.readUInt32LE(p + 16) : 0,
  };
}

/** fuse_forget_in: the lookups to drop. */
export function readForgetIn(r: Request): number {
  return u64(r.b, r.p);
}

/** fuse_batch_forget_in and its fuse_forget_one entries. */
export function readBatchForgetIn(r: Request): Array<{ nodeid: number; nlookup: number }> {
  const { b, p, end } = r;
  const count = b.readUInt32LE(p);
  const out: Array<{ nodeid: number; nlookup: number }> = [];
  for (let i = 0, at = p + 8; i < count && at + 16 <= end; i++, at += 16) out.push({ nodeid: u64(b, at), nlookup: u64(b, at + 8) });
  return out;
}

/** fuse_interrupt_in: the unique of the interrupted request. */
export function readInterruptIn(r: Request): bigint {
  return r.b.readBigUInt64LE(r.p);
}

/** fuse_getattr_in: the handle when FUSE_GETATTR_FH is set, else 0. */
export function readGetattrIn(r: Request): { fh: number } {
  return { fh: r.b.readUInt32LE(r.p) & FUSE_GETATTR_FH ? u64(r.b, r.p + 8) : 0 };
}

export interface SetattrIn {
  valid: number;
  fh: number;
  size: number;
  atimeMs: number;
  mtimeMs: number;
  mode: number;
  uid: number;
  gid: number;
}

/** fuse_setattr_in (times in milliseconds). */
export function readSetattrIn(r: Request): SetattrIn {
  const { b, p } = r;
  const valid = b.readUInt32LE(p);
  return {
    valid,
    fh: valid & Fattr.FH ? u64(b, p + 8) : 0,
    size: u64(b, p + 16),
    atimeMs: joinMs(i64(b, p + 32), b.readUInt32LE(p + 56)),
    mtimeMs: joinMs(i64(b, p + 40), b.readUInt32LE(p + 60)),
    mode: b.readUInt32LE(p + 68),
    uid: b.readUInt32LE(p + 76),
    gid: b.readUInt32LE(p + 80),
  };
}

/** fuse_mknod_in + name. */
export function readMknodIn(r: Request): { mode: number; rdev: number; umask: number; name: string } {
  const { b, p, end } = r;
  return { mode: b.readUInt32LE(p), rdev: b.readUInt32LE(p + 4), umask: b.readUInt32LE(p + 8), name: readCString(b, p + 16, end)[0] };
}

/** fuse_mkdir_in + name. */
export function readMkdirIn(r: Request): { mode: number; umask: number; name: string } {
  const { b, p, end } = r;
  return { mode: b.readUInt32LE(p), umask: b.readUInt32LE(p + 4), name: readCString(b, p + 8, end)[0] };
}

/** fuse_rename_in (RENAME) or fuse_rename2_in (RENAME2) + both names. */
export function readRenameIn(r: Request): { newdir: number; flags: number; from: string; to: string } {
  const { b, p, end } = r;
  const two = r.opcode === Op.RENAME2;
  const [from, q] = readCString(b, p + (two ? 16 : 8), end);
  return { newdir: u64(b, p), flags: two ? b.readUInt32LE(p + 8) : 0, from, to: readCString(b, q, end)[0] };
}

/** fuse_link_in + the new name. */
export function readLinkIn(r: Request): { oldnodeid: number; name: string } {
  return { oldnodeid: u64(r.b, r.p), name: readCString(r.b, r.p + 8, r.end)[0] };
}

/** fuse_open_in (OPEN, OPENDIR). */
export function readOpenIn(r: Request): { flags: number } {
  return { flags: r.b.readUInt32LE(r.p) };
}

/** fuse_create_in + name. */
export function readCreateIn(r: Request): { flags: number; mode: number; umask: number; name: string } {
  const { b, p, end } = r;
  return { flags: b.readUInt32LE(p), mode: b.readUInt32LE(p + 4), umask: b.readUInt32LE(p + 8), name: readCString(b, p + 16, end)[0] };
}

/** fuse_read_in (READ, READDIR, READDIRPLUS). */
export function readReadIn(r: Request): { fh: number; offset: number; size: number } {
  const { b, p } = r;
  return { fh: u64(b, p), offset: u64(b, p + 8), size: b.readUInt32LE(p + 16) };
}

/** fuse_write_in and its data (a view into the request buffer). */
export function readWriteIn(r: Request): { fh: number; offset: number; writeFlags: number; data: Buffer } {
  const { b, p, end } = r;
  const size = b.readUInt32LE(p + 16);
  return {
    fh: u64(b, p),
    offset: u64(b, p + 8),
    writeFlags: b.readUInt32LE(p + 20),
    data: b.subarray(p + WRITE_IN, Math.min(end, p + WRITE_IN + size)),
  };
}

/** The handle that leads fuse_release_in, fuse_flush_in, fuse_fsync_in (and their DIR forms). */
export function readFh(r: Request): number {
  return u64(r.b, r.p);
}

/** fuse_fsync_in. */
export function readFsyncIn(r: Request): { fh: number; datasync: boolean } {
  return { fh: u64(r.b, r.p), datasync: (r.b.readUInt32LE(r.p + 8) & FUSE_FSYNC_FDATASYNC) !== 0 };
}

/** fuse_access_in. */
export function readAccessIn(r: Request): { mask: number } {
  return { mask: r.b.readUInt32LE(r.p) };
}

/**
 * fuse_setxattr_in + name + value (copied): 8 bytes (size, flags), or 16 once
 * SETXATTR_EXT is agreed (setxattr_flags and padding follow).
 */
export function readSetxattrIn(r: Request, ext: boolean): { name: string; value: Buffer; flags: number; setxattrFlags: number } {
  const { b, p, end } = r;
  const size = b.readUInt32LE(p);
  const [name, q] = readCString(b, p + (ext ? 16 : 8), end);
  return {
    name,
    value: Buffer.from(b.subarray(q, Math.min(end, q + size))),
    flags: b.readUInt32LE(p + 4),
    setxattrFlags: ext ? b.readUInt32LE(p + 8) : 0,
  };
}

/** fuse_getxattr_in (GETXATTR: + name; LISTXATTR: size only). */
export function readGetxattrIn(r: Request): { size: number; name: string } {
  const withName = r.opcode === Op.GETXATTR;
  return { size: r.b.readUInt32LE(r.p), name: withName ? readCString(r.b, r.p + 8, r.end)[0] : '' };
}
