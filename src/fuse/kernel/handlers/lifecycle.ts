// The requests that concern the connection rather than a file: INIT (what
// the kernel and we agree on: docs/FUSE-BRIDGE.md, "INIT"), DESTROY, FORGET,
// BATCH_FORGET and INTERRUPT.
import { constants } from 'node:os';
import type { HandlerContext as HandlerContext } from '../handler-context.js';
import {
  FUSE_KERNEL_MINOR,
  FUSE_KERNEL_VERSION,
  INIT_OUT,
  Init,
  Init2,
  OUT_HEADER,
  readBatchForgetIn,
  readForgetIn,
  readInitIn,
  readInterruptIn,
  type Request,
} from '../protocol.js';

const E = constants.errno;
const PAGE = 4096;

export function init(s: HandlerContext, r: Request): boolean {
  const { major, minor, maxReadahead, flags: kflags, flags2: kflags2 } = readInitIn(r);
  if (major !== FUSE_KERNEL_VERSION || minor < 23) {
    // too old for the 64-byte init reply and max_pages: refuse the connection
    s.replyErr(r.unique, E.EPROTO);
    s.initFailed?.(new Error(`kernel FUSE protocol ${major}.${minor} is too old (need 7.23 or later)`));
    return false;
  }
  let want =
    Init.ASYNC_READ |
    Init.BIG_WRITES |
    Init.MAX_PAGES |
    Init.AUTO_INVAL_DATA |
    Init.PARALLEL_DIROPS |
    Init.CACHE_SYMLINKS |
    Init.ASYNC_DIO |
    Init.HANDLE_KILLPRIV_V2;
  if (s.kopts.readdirPlus !== false) want |= Init.DO_READDIRPLUS | Init.READDIRPLUS_AUTO;
  if (s.kopts.writebackCache) want |= Init.WRITEBACK_CACHE;
  // POSIX ACLs kept by the filesystem and checked by the kernel (which
  // implies default_permissions: asked only where that is on); SETXATTR_EXT
  // so the kernel can say when setting an ACL must drop set-group-ID
  if (s.ops.posixAcl && s.options.defaultPermissions !== false) want |= Init.POSIX_ACL | Init.DONT_MASK | Init.SETXATTR_EXT;
  // direct writers only where a shared mmap of their file still works
  s.directIo = s.kopts.directWriters !== false && (kflags2 & Init2.DIRECT_IO_ALLOW_MMAP) !== 0;
  if (s.directIo) want |= Init.INIT_EXT;
  // directories opened by the kernel alone, where nothing of ours needs the open
  const dirsAlone = s.kopts.kernelOpensDirs !== false && s.kopts.cacheDirs !== false && !s.ops.opendir && !s.ops.releasedir && !s.ops.fsyncdir;
  if (dirsAlone) want |= Init.NO_OPENDIR_SUPPORT;
  const flags = (want & kflags) >>> 0;
  s.kernelOpensDirs = (flags & Init.NO_OPENDIR_SUPPORT) !== 0;
  s.dontMask = (flags & Init.POSIX_ACL) !== 0 && (flags & Init.DONT_MASK) !== 0;
  s.setxattrExt = (flags & Init.SETXATTR_EXT) !== 0;
  const maxPages = flags & Init.MAX_PAGES ? s.maxIo / PAGE : 32;
  const o = s.out;
  o.fill(0, OUT_HEADER, OUT_HEADER + INIT_OUT);
  o.writeUInt32LE(FUSE_KERNEL_VERSION, OUT_HEADER);
  o.writeUInt32LE(Math.min(minor, FUSE_KERNEL_MINOR), OUT_HEADER + 4);
  o.writeUInt32LE(maxReadahead, OUT_HEADER + 8);
  o.writeUInt32LE(flags, OUT_HEADER + 12);
  o.writeUInt16LE(16, OUT_HEADER + 16); // max_background
  o.writeUInt16LE(12, OUT_HEADER + 18); // congestion_threshold
  o.writeUInt32LE(maxPages * PAGE, OUT_HEADER + 20); // max_write
  o.writeUInt32LE(1, OUT_HEADER + 24); // time_gran: nanoseconds
  o.writeUInt16LE(maxPages, OUT_HEADER + 28);
  if (s.directIo) o.writeUInt32LE(Init2.DIRECT_IO_ALLOW_MMAP, OUT_HEADER + 32); // flags2
  s.replyOk(r.unique, INIT_OUT);
  const done = s.initDone;
  s.initDone = null;
  s.initFailed = null;
  Promise.resolve()
    .then(() => s.ops.init?.())
    .then(
      () => done?.(),
      (err) => s.onUnexpected('init', '/', err),
    );
  return false;
}

export function destroy(s: HandlerContext, r: Request): boolean {
  s.replyOk(r.unique, 0);
  return false;
}

/** FORGET and BATCH_FORGET have no reply. */
export function forget(s: HandlerContext, r: Request): boolean {
  s.nodes.forget(r.nodeid, readForgetIn(r));
  return false;
}

export function batchForget(s: HandlerContext, r: Request): boolean {
  for (const f of readBatchForgetIn(r)) s.nodes.forget(f.nodeid, f.nlookup);
  return false;
}

/** The caller of request `target` got a signal (interrupts.ts decides; no reply of its own unless EAGAIN). */
export function interrupt(s: HandlerContext, r: Request): boolean {
  s.interrupts.interrupt(readInterruptIn(r), r.unique, s.curFd);
  return false;
}
