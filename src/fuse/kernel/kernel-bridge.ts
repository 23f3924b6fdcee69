// The purpose-built FUSE bridge: speaks the kernel FUSE protocol on /dev/fuse
// directly (the approach of go-fuse), with no libfuse in between. Serves any
// FuseOps (bridge.ts), so the engine runs on it unchanged.
//
// How a request travels: the JS thread reads it from a non-blocking clone of
// the connection (right after its last reply, spinning briefly; or when a
// libuv pool thread polling the clone says it is readable), decodes it, calls
// the operation, and writes the reply with one write(2). With spinUs 0,
// several blocking reads are in flight on the pool instead.
// A synchronous operation is answered before the next request is looked at
// (no event-loop turn, no allocation on the hot path); a Promise result is
// answered when it settles. What fuse-native gets wrong is right here by
// construction: SETATTR carries atime and mtime (or UTIME_OMIT as an absent
// bit) in nanoseconds, GETATTR carries the handle, and times reach the kernel
// in nanoseconds.
import { closeSync, constants as fsc, read as fsRead, write as fsWrite, writeSync } from 'node:fs';
import { constants } from 'node:os';
import type { Caller, DirEntry, FuseMount, FuseOps, FuseStat, MountOptions } from '../bridge.js';
import {
  cloneNonBlocking, fatalSignalPending, mountAsRoot, mountWithFusermount, readRaw, setReadahead, unmountKernel, whenReadable,
} from './kernel-mount.js';
import { NodeTable, opensDirect, type Node } from './node-table.js';
import { InterruptTable } from './interrupts.js';
import { bytesOfName } from '../../format/name-bytes.js';
import {
  ATTR_OUT, ENTRY_OUT, FOPEN_DIRECT_IO, FUSE_FSYNC_FDATASYNC, FUSE_GETATTR_FH, FUSE_WRITE_KILL_SUIDGID, FUSE_KERNEL_MINOR, FUSE_KERNEL_VERSION, FUSE_ROOT_ID, Fattr,
  IN_HEADER, INIT_OUT, Init, Init2, MIN_READ_BUFFER, NOTIFY_INVAL_INODE, OPEN_OUT, OP_NAMES, OUT_HEADER, Op, RENAME_EXCHANGE, RENAME_NOREPLACE,
  STATFS_OUT, WRITE_IN, direntSize, direntType, i64, joinMs, readCString, u64, writeAttrOut, writeDirent, writeEntryOut,
  writeOpenOut, writeOutHeader, writeStatfsOut, readFallocateIn, readLseekIn, writeLseekOut, LSEEK_OUT,
} from './protocol.js';

const E = constants.errno;
const NUL = Buffer.of(0);
const errnoByCode = E as unknown as Record<string, number>;

/** Options only the kernel bridge has (all optional). */
export interface KernelBridgeOptions {
  /** With spinUs 0: reads of /dev/fuse in flight (libuv thread-pool slots taken; default 2). */
  readers?: number;
  /** Largest READ/WRITE in bytes, a multiple of 4096 (default 1 MiB, via max_pages). */
  maxIo?: number;
  /** Offer READDIRPLUS (names with attributes in one reply; kernel-chosen use). Default true. */
  readdirPlus?: boolean;
  /**
   * After answering, keep reading a non-blocking clone of the connection for
   * this many microseconds before going back to the event loop (0: never; default 50).
   */
  spinUs?: number;
  /**
   * Readahead of the mount in KiB when mounted as root (default: the largest
   * request, 1 MiB; 0 leaves the kernel's 128 KiB).
   */
  readaheadKib?: number;
  /**
   * Ask for FUSE_WRITEBACK_CACHE (default false): writes land in the kernel's
   * page cache and reach the filesystem later, merged into requests of up to
   * maxIo, or at fsync/flush/close. The kernel then owns mtime and the size, so
   * only for filesystems that accept that (the block engine's one fixed-size
   * file: a loop device sends fsync on every flush the filesystem above asks for).
   */
  writebackCache?: boolean;
  /**
   * Write-only opens of files nobody else has open bypass the page cache
   * (node-table.ts, opensDirect; default true; used only where the kernel
   * offers DIRECT_IO_ALLOW_MMAP, so that shared mmaps of such files work).
   */
  directWriters?: boolean;
  /** The user the mount belongs to when root mounts for someone (login path). */
  uid?: number;
  gid?: number;
}

function errnoOf(err: unknown): number | null {
  if (err && typeof err === 'object') {
    const e = err as { errno?: unknown; code?: unknown };
    if (typeof e.code === 'string' && typeof errnoByCode[e.code] === 'number') return errnoByCode[e.code]!;
    if (typeof e.errno === 'number' && e.errno !== 0) return Math.abs(e.errno);
  }
  return null;
}

/** The requesting process, from the fuse_in_header of request `b`. */
function callerOf(b: Buffer): Caller {
  return { uid: b.readUInt32LE(24), gid: b.readUInt32LE(28), pid: b.readUInt32LE(32) };
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

interface DirHandle {
  node: Node;
  fsFh: number;
  names: Array<string | DirEntry> | null;
}

/** Thrown inside a handler to answer with an errno. */
class Errno {
  constructor(readonly errno: number) {}
}

const PAGE = 4096;
const DRAIN_BUDGET_NS = 20_000_000n;
// READ replies this large are written from a libuv pool thread: copying them
// into the reader's pages takes ~0.2 ms a MiB, which then overlaps the
// decryption of the next READ readahead has queued (docs/BENCHMARKS.md)
const ASYNC_REPLY_MIN = 256 * 1024;

export class KernelSession {
  private readonly nodes = new NodeTable();
  private readonly dirs = new Map<number, DirHandle>();
  private nextDirFh = 1;
  /** Direct writers (opensDirect) in use: asked for and the kernel allows their shared mmaps. */
  private directIo = false;
  /** FuseOps handle → its node, for handle-based getattr of unlinked files. */
  private readonly fileNode = new Map<number, Node>();
  private readonly out: Buffer;
  private readonly readBufs: Buffer[] = [];
  private readonly maxIo: number;
  private readonly spinNs: number;
  private readonly entryTimeout: number;
  private readonly attrTimeout: number;
  private readonly negativeTimeout: number;
  private readonly onUnexpected: (op: string, path: string, err: unknown) => void;
  private running = 0;
  private closed = false;
  private initDone: (() => void) | null = null;
  private initFailed: ((e: Error) => void) | null = null;
  private endDone: (() => void) | null = null;
  readonly ended: Promise<void>;
  readonly ready: Promise<void>;
  /** Requests answered, by opcode name (for benchmarks and tests). */
  readonly counts = new Map<string, number>();
  /** Requests whose operation returned a Promise, and what FUSE_INTERRUPT does to them (interrupts.ts). */
  readonly interrupts: InterruptTable;
  /** Opcode and calling thread of the request being dispatched. */
  private curOp = 0;
  private curPid = 0;

  constructor(private readonly fd: number, private readonly ops: FuseOps, private readonly options: MountOptions,
    private readonly kopts: KernelBridgeOptions) {
    this.curFd = fd;
    this.spinNs = Math.round((kopts.spinUs ?? 50) * 1000);
    this.maxIo = Math.max(PAGE * 32, Math.min(kopts.maxIo ?? 1 << 20, PAGE * 256)) & ~(PAGE - 1);
    this.out = Buffer.alloc(OUT_HEADER + this.maxIo);
    this.entryTimeout = options.entryTimeout ?? 1;
    this.attrTimeout = options.attrTimeout ?? 1;
    this.negativeTimeout = options.negativeTimeout ?? 1;
    this.onUnexpected = options.onUnexpectedError ?? ((op, path, err) => {
      process.stderr.write(`homecrypt: ${op} ${path}: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    });
    this.ready = new Promise((res, rej) => { this.initDone = res; this.initFailed = rej; });
    this.interrupts = new InterruptTable({
      answerEintr: (p) => this.replyTo(p.fd, p.unique, E.EINTR),
      answerAgain: (unique, fd) => this.replyTo(fd, unique, E.EAGAIN),
      dying: fatalSignalPending,
    });
    this.ended = new Promise((res) => { this.endDone = res; });
  }

  /** The descriptor the request being answered came from. */
  private curFd: number;
  /** The non-blocking clone drained synchronously between event-loop turns (-1: none). */
  private fastFd = -1;
  private fastBuf: Buffer | null = null;

  start(): void {
    const size = IN_HEADER + WRITE_IN + this.maxIo + PAGE;
    if (this.spinNs > 0) {
      this.fastFd = cloneNonBlocking(this.fd);
      this.fastBuf = Buffer.allocUnsafe(size);
    }
    if (this.spinNs > 0) {
      // Requests are read only on the JS thread, from the non-blocking clone;
      // a pool thread merely waits for the clone to become readable, and only
      // while the JS thread is idle, so it never takes a request from under
      // the spin (which would leave that request waiting out the spin).
      this.armPoll();
      return;
    }
    const n = Math.max(1, this.kopts.readers ?? 2);
    for (let i = 0; i < n; i++) this.readLoop(Buffer.allocUnsafe(size));
  }

  private armPoll(): void {
    if (this.closed) { this.shutdown(null); return; }
    this.running++;
    whenReadable(this.fastFd, () => {
      this.running--;
      try {
        this.drain();
      } catch (e) {
        this.onUnexpected('dispatch', '', e);
      }
      this.armPoll();
    });
  }

  private readLoop(buf: Buffer): void {
    if (this.closed) { this.shutdown(null); return; }
    this.running++;
    fsRead(this.fd, buf, 0, buf.length, null, (err, n) => {
      this.running--;
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // ENOENT: the request was interrupted before we read it; EINTR/EAGAIN: try again
        if (code === 'ENOENT' || code === 'EINTR' || code === 'EAGAIN') { this.readLoop(buf); return; }
        this.shutdown(code === 'ENODEV' ? null : err);
        return;
      }
      if (n === 0) { this.shutdown(null); return; }
      let next = buf;
      this.curFd = this.fd;
      try {
        if (this.dispatch(buf, n)) next = Buffer.allocUnsafe(buf.length); // buf is held by a pending operation
      } catch (e) {
        this.onUnexpected('dispatch', '', e);
      }
      this.afterReply();
      this.readLoop(next);
    });
  }

  /**
   * Reads the clone without blocking and answers what is there, waiting up
   * to spinNs for the next request: a program doing one system call after
   * another (tar, ls -lR) sends its next request a few microseconds after our
   * reply, and catching it here saves the thread-pool wake-up (measured in
   * docs/BENCHMARKS.md). Gives the event loop back once the line goes quiet.
   */
  private drain(): void {
    let buf = this.fastBuf!;
    let last = process.hrtime.bigint();
    const spin = BigInt(this.spinNs);
    // a steady stream of requests must not starve the event loop (signals,
    // timers, Promise results): give it a turn every DRAIN_BUDGET_NS
    const until = last + DRAIN_BUDGET_NS;
    for (;;) {
      if (last > until) return;
      const n = readRaw(this.fastFd, buf);
      if (n > 0) {
        this.curFd = this.fastFd;
        try {
          if (this.dispatch(buf, n)) { buf = Buffer.allocUnsafe(buf.length); this.fastBuf = buf; }
        } catch (e) {
          this.onUnexpected('dispatch', '', e);
        }
        this.afterReply();
        last = process.hrtime.bigint();
        continue;
      }
      if (n === -E.EAGAIN || n === -E.ENOENT || n === -E.EINTR) {
        if (process.hrtime.bigint() - last < spin) continue;
        return;
      }
      // ENODEV: unmounted (anything else: the connection is unusable)
      this.shutdown(n === -E.ENODEV ? null : new Error(`read /dev/fuse: errno ${-n}`));
      return;
    }
  }

  private shutdown(err: Error | null): void {
    if (!this.closed) {
      this.closed = true;
      if (err) this.onUnexpected('read /dev/fuse', '', err);
      this.initFailed?.(new Error('the FUSE connection ended before it was initialised'));
    }
    if (this.running === 0 && this.endDone) {
      // once only: a descriptor number closed twice may by then be someone else's
      try { closeSync(this.fd); } catch { /* closed */ }
      if (this.fastFd >= 0) try { closeSync(this.fastFd); } catch { /* closed */ }
      this.fastFd = -1;
      this.endDone();
      this.endDone = null;
    }
  }

  /** The filesystem's after-reply work (MountOptions.afterReply): after each request, before the next is read. */
  private afterReply(): void {
    const job = this.options.afterReply;
    if (!job) return;
    try {
      job();
    } catch (e) {
      this.onUnexpected('after reply', '', e);
    }
  }

  // ---- replies ----

  private send(len: number, buf: Buffer = this.out): void {
    try {
      writeSync(this.curFd, buf, 0, len);
    } catch (err) {
      // ENOENT: the request was interrupted and is gone; ENODEV: unmounted
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENODEV') this.onUnexpected('reply', '', err);
    }
  }

  /**
   * Writes a reply from a libuv pool thread; `release` runs once it is
   * written (the buffer is the caller's until then). The connection stays
   * open until every such write is done.
   */
  private sendAsync(len: number, buf: Buffer, release: () => void): void {
    const fd = this.curFd;
    this.running++;
    fsWrite(fd, buf, 0, len, null, (err) => {
      this.running--;
      release();
      const code = err?.code;
      if (err && code !== 'ENOENT' && code !== 'ENODEV') this.onUnexpected('reply', '', err);
      if (this.closed) this.shutdown(null);
    });
  }

  private replyErr(unique: bigint, errno: number): void {
    writeOutHeader(this.out, OUT_HEADER, -errno, unique);
    this.send(OUT_HEADER);
  }

  /** An error reply on descriptor `fd`, outside the request being dispatched (interrupts). */
  private replyTo(fd: number, unique: bigint, errno: number): void {
    const cur = this.curFd;
    this.curFd = fd;
    this.replyErr(unique, errno);
    this.curFd = cur;
  }

  /**
   * Registers the request being dispatched as answered later; the returned
   * function restores its descriptor when its operation settles, and returns
   * false when the result must be dropped (the request was answered EINTR).
   */
  private later(unique: bigint): () => boolean {
    const p = this.interrupts.begin(unique, this.curFd, this.curPid, this.curOp);
    return () => {
      this.curFd = p.fd;
      return this.interrupts.end(p);
    };
  }

  /** Replies with `len` payload bytes already written at this.out[16..]. */
  private replyOk(unique: bigint, len: number): void {
    writeOutHeader(this.out, OUT_HEADER + len, 0, unique);
    this.send(OUT_HEADER + len);
  }

  private fail(op: string, path: string, err: unknown): number {
    if (err instanceof Errno) return err.errno;
    const n = errnoOf(err);
    if (n !== null) return n;
    this.onUnexpected(op, path, err);
    return E.EIO;
  }

  /**
   * Runs `fn`; answers with `reply(result)` (which writes the payload into
   * this.out and returns its length) or with the errno. Returns true when the
   * request buffer is still in use (a Promise is pending).
   */
  private run<T>(unique: bigint, op: string, path: string, fn: () => T | Promise<T>, reply: (v: T) => number,
    dropped?: (v: T) => void): boolean {
    let v: T | Promise<T>;
    try {
      v = fn();
    } catch (err) {
      this.replyErr(unique, this.fail(op, path, err));
      return false;
    }
    if (isPromise(v)) {
      // the reply goes to the descriptor the request came from; `dropped`
      // undoes what a result answered EINTR meanwhile would leave behind
      const settled = this.later(unique);
      v.then((r) => { if (settled()) this.finish(unique, op, path, r, reply); else dropped?.(r); },
        (err) => { if (settled()) this.replyErr(unique, this.fail(op, path, err)); });
      return true;
    }
    this.finish(unique, op, path, v, reply);
    return false;
  }

  private finish<T>(unique: bigint, op: string, path: string, v: T, reply: (v: T) => number): void {
    let len: number;
    try {
      len = reply(v);
    } catch (err) {
      this.replyErr(unique, this.fail(op, path, err));
      return;
    }
    if (len >= 0) this.replyOk(unique, len);
  }

  // ---- nodes ----

  private node(id: number): Node {
    const n = this.nodes.get(id);
    if (!n) throw new Errno(E.ESTALE);
    return n;
  }

  private pathOf(id: number): string {
    const n = this.node(id);
    if (n.path === null) throw new Errno(E.ENOENT);
    return n.path;
  }

  private childPath(parent: number, name: string): string {
    if (name.length === 0 || name.includes('/')) throw new Errno(E.EINVAL);
    return NodeTable.child(this.pathOf(parent), name);
  }

  /**
   * Attributes of a node: by path, or by one of its handles once it is
   * detached; with neither (a removed directory some process has as its cwd:
   * the kernel asks before letting it look up "..") the last ones, with no
   * links left, as a local filesystem answers for it.
   */
  private statNode(n: Node, fh: number): FuseStat | Promise<FuseStat> {
    if (fh && this.ops.fgetattr) return this.ops.fgetattr(n.lastPath, fh);
    if (n.path !== null) return this.ops.getattr(n.path);
    const any = n.fhs.values().next();
    if (!any.done && this.ops.fgetattr) return this.ops.fgetattr(n.lastPath, any.value);
    if (n.attr) return { ...n.attr, nlink: 0 };
    throw new Errno(E.ENOENT);
  }

  /** Writes an entry reply for `path` (one more kernel reference); returns its length. */
  private entry(path: string, st: FuseStat, at = OUT_HEADER): number {
    const n = this.nodes.ref(path, st.mode, st.ino, st.dev);
    n.attr = st;
    writeEntryOut(this.out, at, n.id, st, this.entryTimeout, this.attrTimeout);
    return ENTRY_OUT;
  }

  /** Records a new handle; returns its FOPEN flags (direct I/O by opensDirect's rule, unless turned off). */
  private opened(n: Node, fh: number, flags: number): number {
    const direct = this.directIo && opensDirect(n, flags);
    n.fhs.add(fh);
    if (direct) n.directFhs.add(fh);
    this.fileNode.set(fh, n);
    return direct ? FOPEN_DIRECT_IO : 0;
  }

  // ---- the request dispatcher ----

  /** Decodes and answers one request; true when `b` must not be reused yet. */
  private dispatch(b: Buffer, n: number): boolean {
    if (n < IN_HEADER) return false;
    const opcode = b.readUInt32LE(4);
    const unique = b.readBigUInt64LE(8);
    const nodeid = u64(b, 16);
    const end = Math.min(n, b.readUInt32LE(0));
    const p = IN_HEADER;
    const ops = this.ops;
    const name = OP_NAMES[opcode] ?? `op${opcode}`;
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    this.curOp = opcode;
    this.curPid = b.readUInt32LE(32);
    if (opcode !== Op.INTERRUPT) this.interrupts.seen(unique);
    const none = (): number => 0;
    try {
      switch (opcode) {
        case Op.INIT: return this.init(b, unique);
        case Op.DESTROY: this.replyOk(unique, 0); return false;
        case Op.FORGET: this.nodes.forget(nodeid, u64(b, p)); return false;
        case Op.BATCH_FORGET: {
          const count = b.readUInt32LE(p);
          for (let i = 0, at = p + 8; i < count && at + 16 <= end; i++, at += 16) this.nodes.forget(u64(b, at), u64(b, at + 8));
          return false;
        }
        case Op.INTERRUPT:
          // fuse_interrupt_in: the unique of the request whose caller got a signal
          this.interrupts.interrupt(b.readBigUInt64LE(p), unique, this.curFd);
          return false;
        case Op.LOOKUP: {
          const [nm] = readCString(b, p, end);
          const path = this.childPath(nodeid, nm);
          let v: FuseStat | Promise<FuseStat>;
          try {
            v = ops.getattr(path);
          } catch (err) {
            return this.lookupFailed(unique, path, err);
          }
          if (isPromise(v)) {
            const settled = this.later(unique);
            v.then((st) => { if (settled()) this.finish(unique, 'lookup', path, st, (s) => this.entry(path, s)); },
              (err) => { if (settled()) this.lookupFailed(unique, path, err); });
            return false;
          }
          this.replyOk(unique, this.entry(path, v));
          return false;
        }
        case Op.GETATTR: {
          const nd = this.node(nodeid);
          const fh = (b.readUInt32LE(p) & FUSE_GETATTR_FH) ? u64(b, p + 8) : 0;
          return this.run(unique, 'getattr', nd.lastPath, () => this.statNode(nd, fh), (st) => {
            nd.attr = st;
            writeAttrOut(this.out, OUT_HEADER, st, this.attrTimeout);
            return ATTR_OUT;
          });
        }
        case Op.SETATTR: return this.setattr(b, p, unique, nodeid);
        case Op.READLINK: {
          if (!ops.readlink) throw new Errno(E.ENOSYS);
          const path = this.pathOf(nodeid);
          return this.run(unique, 'readlink', path, () => ops.readlink!(path), (t) => bytesOfName(t).copy(this.out, OUT_HEADER));
        }
        case Op.SYMLINK: {
          if (!ops.symlink) throw new Errno(E.ENOSYS);
          const [nm, q] = readCString(b, p, end);
          const [target] = readCString(b, q, end);
          const path = this.childPath(nodeid, nm);
          return this.run(unique, 'symlink', path, () => this.then(ops.symlink!(target, path, callerOf(b)), () => ops.getattr(path)),
            (st) => this.entry(path, st));
        }
        case Op.MKNOD: {
          if (!ops.mknod) throw new Errno(E.ENOSYS);
          const mode = b.readUInt32LE(p);
          const rdev = b.readUInt32LE(p + 4);
          const [nm] = readCString(b, p + 16, end);
          const path = this.childPath(nodeid, nm);
          return this.run(unique, 'mknod', path, () => this.then(ops.mknod!(path, mode, rdev, callerOf(b)), () => ops.getattr(path)),
            (st) => this.entry(path, st));
        }
        case Op.MKDIR: {
          if (!ops.mkdir) throw new Errno(E.ENOSYS);
          const mode = b.readUInt32LE(p);
          const [nm] = readCString(b, p + 8, end);
          const path = this.childPath(nodeid, nm);
          return this.run(unique, 'mkdir', path, () => this.then(ops.mkdir!(path, mode, callerOf(b)), () => ops.getattr(path)),
            (st) => this.entry(path, st));
        }
        case Op.UNLINK:
        case Op.RMDIR: {
          const fn = opcode === Op.UNLINK ? ops.unlink : ops.rmdir;
          if (!fn) throw new Errno(E.ENOSYS);
          const [nm] = readCString(b, p, end);
          const path = this.childPath(nodeid, nm);
          return this.run(unique, name, path, () => fn.call(ops, path), () => {
            this.nodes.detach(path);
            return 0;
          });
        }
        case Op.RENAME:
        case Op.RENAME2: {
          if (!ops.rename) throw new Errno(E.ENOSYS);
          const newdir = u64(b, p);
          const flags = opcode === Op.RENAME2 ? b.readUInt32LE(p + 8) : 0;
          const [from, q] = readCString(b, p + (opcode === Op.RENAME2 ? 16 : 8), end);
          const [to] = readCString(b, q, end);
          const a = this.childPath(nodeid, from);
          const z = this.childPath(newdir, to);
          if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) throw new Errno(E.EINVAL);
          if (flags && ops.renameFlags) {
            return this.run(unique, 'rename', a, () => ops.rename!(a, z, flags), () => {
              if (flags & RENAME_EXCHANGE) this.nodes.exchange(a, z); else this.nodes.rename(a, z);
              return 0;
            });
          }
          if (flags & RENAME_EXCHANGE) throw new Errno(E.EINVAL);
          return this.run(unique, 'rename', a, () => {
            if (flags & RENAME_NOREPLACE) return this.then(this.exists(z), (there) => {
              if (there) throw new Errno(E.EEXIST);
              return ops.rename!(a, z);
            });
            return ops.rename!(a, z);
          }, () => {
            this.nodes.rename(a, z);
            return 0;
          });
        }
        case Op.LINK: {
          if (!ops.link) throw new Errno(E.ENOSYS);
          const old = this.pathOf(u64(b, p));
          const [nm] = readCString(b, p + 8, end);
          const path = this.childPath(nodeid, nm);
          return this.run(unique, 'link', path, () => this.then(ops.link!(old, path), () => ops.getattr(path)),
            (st) => this.entry(path, st));
        }
        case Op.OPEN: {
          if (!ops.open) throw new Errno(E.ENOSYS);
          const nd = this.node(nodeid);
          const path = this.pathOf(nodeid);
          const flags = b.readUInt32LE(p);
          return this.run(unique, 'open', path, () => ops.open!(path, flags), (fh) => {
            writeOpenOut(this.out, OUT_HEADER, fh, this.opened(nd, fh, flags));
            return OPEN_OUT;
          }, (fh) => this.dropHandle(path, fh));
        }
        case Op.CREATE: return this.create(b, p, end, unique, nodeid);
        case Op.READ: {
          if (!ops.read) throw new Errno(E.ENOSYS);
          const fh = u64(b, p);
          const offset = u64(b, p + 8);
          const size = Math.min(b.readUInt32LE(p + 16), this.maxIo);
          const path = this.fileNode.get(fh)?.lastPath ?? '';
          // the operation reads straight into a reply buffer (pooled; kept while a Promise is pending)
          const out = this.readBufs.pop() ?? Buffer.allocUnsafe(OUT_HEADER + this.maxIo);
          const release = () => { this.readBufs.push(out); };
          const done = (got: number): void => {
            const len = Math.max(0, Math.min(got, size));
            writeOutHeader(out, OUT_HEADER + len, 0, unique);
            if (OUT_HEADER + len >= ASYNC_REPLY_MIN) { this.sendAsync(OUT_HEADER + len, out, release); return; }
            this.send(OUT_HEADER + len, out);
            release();
          };
          let v: number | Promise<number>;
          try {
            v = ops.read(path, fh, out.subarray(OUT_HEADER, OUT_HEADER + size), offset);
          } catch (err) {
            release();
            this.replyErr(unique, this.fail('read', path, err));
            return false;
          }
          if (isPromise(v)) {
            const settled = this.later(unique);
            v.then((got) => { if (settled()) done(got); else release(); },
              (err) => { release(); if (settled()) this.replyErr(unique, this.fail('read', path, err)); });
            return false;
          }
          done(v);
          return false;
        }
        case Op.WRITE: {
          if (!ops.write) throw new Errno(E.ENOSYS);
          const fh = u64(b, p);
          const offset = u64(b, p + 8);
          const size = b.readUInt32LE(p + 16);
          const nd = this.fileNode.get(fh);
          const path = nd?.lastPath ?? '';
          const data = b.subarray(p + WRITE_IN, Math.min(end, p + WRITE_IN + size));
          const kill = nd && (b.readUInt32LE(p + 20) & FUSE_WRITE_KILL_SUIDGID) !== 0;
          return this.run(unique, 'write', path, () => (kill
            ? this.then(this.killSuidgid(nd, fh), (changed) => {
              if (changed) this.invalidateAttrs(nd.id);
              return ops.write!(path, fh, data, offset);
            })
            : ops.write!(path, fh, data, offset)), (written) => {
            this.out.writeUInt32LE(written, OUT_HEADER);
            this.out.writeUInt32LE(0, OUT_HEADER + 4);
            return 8;
          });
        }
        case Op.STATFS: {
          if (!ops.statfs) throw new Errno(E.ENOSYS);
          const path = this.nodes.get(nodeid)?.path ?? '/';
          return this.run(unique, 'statfs', path, () => ops.statfs!(path), (s) => {
            writeStatfsOut(this.out, OUT_HEADER, s);
            return STATFS_OUT;
          });
        }
        case Op.RELEASE: {
          const fh = u64(b, p);
          const nd = this.fileNode.get(fh);
          this.fileNode.delete(fh);
          if (nd) this.nodes.closed(nd, fh);
          if (!ops.release) { this.replyOk(unique, 0); return false; }
          return this.run(unique, 'release', nd?.lastPath ?? '', () => ops.release!(nd?.lastPath ?? '', fh), none);
        }
        case Op.FLUSH: {
          if (!ops.flush) throw new Errno(E.ENOSYS);
          const fh = u64(b, p);
          const path = this.fileNode.get(fh)?.lastPath ?? '';
          return this.run(unique, 'flush', path, () => ops.flush!(path, fh), none);
        }
        case Op.FSYNC: {
          if (!ops.fsync) throw new Errno(E.ENOSYS);
          const fh = u64(b, p);
          const path = this.fileNode.get(fh)?.lastPath ?? '';
          const ds = (b.readUInt32LE(p + 8) & FUSE_FSYNC_FDATASYNC) !== 0;
          return this.run(unique, 'fsync', path, () => ops.fsync!(path, ds, fh), none);
        }
        case Op.OPENDIR: {
          const nd = this.node(nodeid);
          const path = this.pathOf(nodeid);
          const flags = b.readUInt32LE(p);
          return this.run(unique, 'opendir', path, () => (ops.opendir ? ops.opendir(path, flags) : 0), (fsFh) => {
            const fh = this.nextDirFh++;
            this.dirs.set(fh, { node: nd, fsFh, names: null });
            writeOpenOut(this.out, OUT_HEADER, fh, 0);
            return OPEN_OUT;
          }, (fsFh) => { if (ops.releasedir) this.quietly('releasedir', path, () => ops.releasedir!(path, fsFh)); });
        }
        case Op.READDIR:
        case Op.READDIRPLUS: return this.readdir(b, p, unique, opcode === Op.READDIRPLUS);
        case Op.RELEASEDIR: {
          const d = this.dirs.get(u64(b, p));
          this.dirs.delete(u64(b, p));
          if (!d || !ops.releasedir) { this.replyOk(unique, 0); return false; }
          return this.run(unique, 'releasedir', d.node.lastPath, () => ops.releasedir!(d.node.lastPath, d.fsFh), none);
        }
        case Op.FSYNCDIR: {
          const d = this.dirs.get(u64(b, p));
          if (!d || !ops.fsyncdir) throw new Errno(E.ENOSYS);
          const ds = (b.readUInt32LE(p + 8) & FUSE_FSYNC_FDATASYNC) !== 0;
          return this.run(unique, 'fsyncdir', d.node.lastPath, () => ops.fsyncdir!(d.node.lastPath, ds, d.fsFh), none);
        }
        case Op.ACCESS: {
          if (!ops.access) throw new Errno(E.ENOSYS);
          const path = this.pathOf(nodeid);
          const mask = b.readUInt32LE(p);
          return this.run(unique, 'access', path, () => ops.access!(path, mask), none);
        }
        case Op.SETXATTR: {
          if (!ops.setxattr) throw new Errno(E.ENOSYS);
          const size = b.readUInt32LE(p);
          const flags = b.readUInt32LE(p + 4);
          const [nm, q] = readCString(b, p + 8, end);
          const value = Buffer.from(b.subarray(q, Math.min(end, q + size)));
          const path = this.pathOf(nodeid);
          return this.run(unique, 'setxattr', path, () => ops.setxattr!(path, nm, value, flags), none);
        }
        case Op.GETXATTR: {
          if (!ops.getxattr) throw new Errno(E.ENOSYS);
          const size = b.readUInt32LE(p);
          const [nm] = readCString(b, p + 8, end);
          const path = this.pathOf(nodeid);
          return this.run(unique, 'getxattr', path, () => ops.getxattr!(path, nm), (v) => this.sized(v, size));
        }
        case Op.LISTXATTR: {
          if (!ops.listxattr) throw new Errno(E.ENOSYS);
          const size = b.readUInt32LE(p);
          const path = this.pathOf(nodeid);
          return this.run(unique, 'listxattr', path, () => ops.listxattr!(path),
            (names) => this.sized(Buffer.concat(names.map((x) => Buffer.concat([bytesOfName(x), NUL]))), size));
        }
        case Op.REMOVEXATTR: {
          if (!ops.removexattr) throw new Errno(E.ENOSYS);
          const [nm] = readCString(b, p, end);
          const path = this.pathOf(nodeid);
          return this.run(unique, 'removexattr', path, () => ops.removexattr!(path, nm), none);
        }
        case Op.FALLOCATE: {
          if (!ops.fallocate) throw new Errno(E.ENOSYS); // the kernel then answers EOPNOTSUPP itself
          const { fh, offset, length, mode } = readFallocateIn(b, p);
          const path = this.fileNode.get(fh)?.lastPath ?? '';
          return this.run(unique, 'fallocate', path, () => ops.fallocate!(path, fh, mode, offset, length), none);
        }
        case Op.LSEEK: {
          if (!ops.lseek) throw new Errno(E.ENOSYS); // the kernel then treats the whole file as data
          const { fh, offset, whence } = readLseekIn(b, p);
          const path = this.fileNode.get(fh)?.lastPath ?? '';
          return this.run(unique, 'lseek', path, () => ops.lseek!(path, fh, offset, whence), (at) => {
            writeLseekOut(this.out, OUT_HEADER, at);
            return LSEEK_OUT;
          });
        }
        default:
          // COPY_FILE_RANGE, IOCTL, POLL, BMAP …: the kernel falls back or reports EOPNOTSUPP
          this.replyErr(unique, E.ENOSYS);
          return false;
      }
    } catch (err) {
      this.replyErr(unique, this.fail(name, '', err));
      return false;
    }
  }

  /**
   * What the kernel leaves to us with HANDLE_KILLPRIV_V2 (so that it need not
   * ask GETXATTR security.capability before every write): a write or truncate
   * by a process without CAP_FSETID, or a chown, drops set-user-ID, and
   * set-group-ID when group-executable, as a local filesystem does. (No
   * file capabilities to drop: the engine stores no security.* attributes.)
   * By path: an unlinked file keeps its bits (the mount is nosuid anyway).
   */
  private killSuidgid(nd: Node, fh: number): boolean | Promise<boolean> {
    const ops = this.ops;
    if (!ops.chmod || nd.path === null) return false;
    const path = nd.path;
    return this.then(this.statNode(nd, fh), (st) => {
      const drop = (st.mode & 0o4000) | ((st.mode & 0o2010) === 0o2010 ? 0o2000 : 0);
      return drop ? this.then(ops.chmod!(path, st.mode & 0o7777 & ~drop), () => true) : false;
    });
  }

  /**
   * Tells the kernel to forget the attributes it caches for node `id`
   * (FUSE_NOTIFY_INVAL_INODE with a negative offset: attributes only, no
   * pages): a WRITE reply carries none, so a mode the write changed would
   * otherwise show stale until the attribute timeout.
   */
  private invalidateAttrs(id: number): void {
    const b = Buffer.alloc(OUT_HEADER + 24);
    writeOutHeader(b, b.length, NOTIFY_INVAL_INODE, 0n);
    b.writeBigUInt64LE(BigInt(id), OUT_HEADER);
    b.writeBigInt64LE(-1n, OUT_HEADER + 8);
    b.writeBigInt64LE(0n, OUT_HEADER + 16);
    try {
      writeSync(this.fd, b, 0, b.length);
    } catch (err) {
      // ENOENT: the kernel no longer knows the node (nothing cached to drop)
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.onUnexpected('notify', '', err);
    }
  }

  /** Closes a handle opened for a request answered EINTR meanwhile (the kernel will send no RELEASE for it). */
  private dropHandle(path: string, fh: number): void {
    if (fh && this.ops.release) this.quietly('release', path, () => this.ops.release!(path, fh));
  }

  /** Runs clean-up work nobody waits for; its errors only go to the log. */
  private quietly(op: string, path: string, fn: () => unknown): void {
    try {
      const v = fn();
      if (isPromise(v)) v.catch((err) => { if (errnoOf(err) === null) this.onUnexpected(op, path, err); });
    } catch (err) {
      if (errnoOf(err) === null) this.onUnexpected(op, path, err);
    }
  }

  /** Chains `next` after `v` without a trip through the event loop when `v` is synchronous. */
  private then<A, B>(v: A | Promise<A>, next: (a: A) => B | Promise<B>): B | Promise<B> {
    return isPromise(v) ? v.then(next) : next(v);
  }

  private exists(path: string): boolean | Promise<boolean> {
    try {
      const v = this.ops.getattr(path);
      return isPromise(v) ? v.then(() => true, (e) => (errnoOf(e) === E.ENOENT ? false : Promise.reject(e))) : true;
    } catch (e) {
      if (errnoOf(e) === E.ENOENT) return false;
      throw e;
    }
  }

  /** A getxattr/listxattr value: its size when asked for 0 bytes, ERANGE when too big. */
  private sized(v: Buffer, size: number): number {
    if (size === 0) {
      this.out.writeUInt32LE(v.length, OUT_HEADER);
      this.out.writeUInt32LE(0, OUT_HEADER + 4);
      return 8;
    }
    if (v.length > size) throw new Errno(E.ERANGE);
    v.copy(this.out, OUT_HEADER);
    return v.length;
  }

  private lookupFailed(unique: bigint, path: string, err: unknown): boolean {
    const errno = this.fail('lookup', path, err);
    if (errno === E.ENOENT && this.negativeTimeout > 0) {
      // a negative entry: the kernel remembers the name is absent
      writeEntryOut(this.out, OUT_HEADER, 0, null, this.negativeTimeout, 0);
      this.replyOk(unique, ENTRY_OUT);
    } else {
      this.replyErr(unique, errno);
    }
    return false;
  }

  private init(b: Buffer, unique: bigint): boolean {
    const major = b.readUInt32LE(IN_HEADER);
    const minor = b.readUInt32LE(IN_HEADER + 4);
    const maxReadahead = b.readUInt32LE(IN_HEADER + 8);
    const kflags = b.readUInt32LE(IN_HEADER + 12);
    if (major !== FUSE_KERNEL_VERSION || minor < 23) {
      // too old for the 64-byte init reply and max_pages: refuse the connection
      this.replyErr(unique, E.EPROTO);
      this.initFailed?.(new Error(`kernel FUSE protocol ${major}.${minor} is too old (need 7.23 or later)`));
      return false;
    }
    let want = Init.ASYNC_READ | Init.BIG_WRITES | Init.MAX_PAGES | Init.AUTO_INVAL_DATA | Init.PARALLEL_DIROPS
      | Init.CACHE_SYMLINKS | Init.ASYNC_DIO | Init.HANDLE_KILLPRIV_V2;
    if (this.kopts.readdirPlus !== false) want |= Init.DO_READDIRPLUS | Init.READDIRPLUS_AUTO;
    if (this.kopts.writebackCache) want |= Init.WRITEBACK_CACHE;
    // flags2 follows flags in the request when the kernel sets INIT_EXT
    const kflags2 = kflags & Init.INIT_EXT ? b.readUInt32LE(IN_HEADER + 16) : 0;
    // direct writers only where a shared mmap of their file still works
    this.directIo = this.kopts.directWriters !== false && (kflags2 & Init2.DIRECT_IO_ALLOW_MMAP) !== 0;
    if (this.directIo) want |= Init.INIT_EXT;
    const flags = (want & kflags) >>> 0;
    const maxPages = flags & Init.MAX_PAGES ? this.maxIo / PAGE : 32;
    const o = this.out;
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
    if (this.directIo) o.writeUInt32LE(Init2.DIRECT_IO_ALLOW_MMAP, OUT_HEADER + 32); // flags2
    this.replyOk(unique, INIT_OUT);
    const done = this.initDone;
    this.initDone = null;
    this.initFailed = null;
    Promise.resolve().then(() => this.ops.init?.()).then(() => done?.(), (err) => this.onUnexpected('init', '/', err));
    return false;
  }

  private setattr(b: Buffer, p: number, unique: bigint, nodeid: number): boolean {
    const ops = this.ops;
    const nd = this.node(nodeid);
    const valid = b.readUInt32LE(p);
    const fh = valid & Fattr.FH ? u64(b, p + 8) : 0;
    const size = u64(b, p + 16);
    const atime = joinMs(i64(b, p + 32), b.readUInt32LE(p + 56));
    const mtime = joinMs(i64(b, p + 40), b.readUInt32LE(p + 60));
    const mode = b.readUInt32LE(p + 68);
    const uid = b.readUInt32LE(p + 76);
    const gid = b.readUInt32LE(p + 80);
    const path = nd.path;
    const where = nd.lastPath;
    const needPath = (): string => {
      if (path === null) throw new Errno(E.ENOENT);
      return path;
    };
    const steps: Array<() => void | Promise<void>> = [];
    if (valid & Fattr.MODE) {
      if (!ops.chmod) throw new Errno(E.ENOSYS);
      steps.push(() => ops.chmod!(needPath(), mode & 0o7777));
    }
    if (valid & (Fattr.UID | Fattr.GID)) {
      if (!ops.chown) throw new Errno(E.ENOSYS);
      steps.push(() => ops.chown!(needPath(), valid & Fattr.UID ? uid : -1, valid & Fattr.GID ? gid : -1));
    }
    if (valid & Fattr.SIZE) {
      if (fh && ops.ftruncate) steps.push(() => ops.ftruncate!(where, fh, size));
      else if (ops.truncate) steps.push(() => ops.truncate!(needPath(), size));
      else throw new Errno(E.ENOSYS);
    }
    if (valid & (Fattr.ATIME | Fattr.MTIME)) {
      if (!ops.utimens) throw new Errno(E.ENOSYS);
      // UTIME_OMIT arrives as an absent bit: keep that time as it is
      const both = (valid & Fattr.ATIME) && (valid & Fattr.MTIME);
      steps.push(() => {
        const p0 = needPath();
        if (both) return ops.utimens!(p0, atime, mtime);
        return this.then(ops.getattr(p0), (cur) =>
          ops.utimens!(p0, valid & Fattr.ATIME ? atime : cur.atimeMs, valid & Fattr.MTIME ? mtime : cur.mtimeMs));
      });
    }
    if ((valid & Fattr.KILL_SUIDGID) && !(valid & Fattr.MODE)) steps.push(() => this.then(this.killSuidgid(nd, fh), () => undefined));
    let i = 0;
    const next = (): void | Promise<void> => {
      while (i < steps.length) {
        const r = steps[i++]!();
        if (isPromise(r)) return r.then(next);
      }
    };
    return this.run(unique, 'setattr', where, () => this.then(next(), () => this.statNode(nd, fh)), (st) => {
      nd.attr = st;
      writeAttrOut(this.out, OUT_HEADER, st, this.attrTimeout);
      return ATTR_OUT;
    });
  }

  private create(b: Buffer, p: number, end: number, unique: bigint, nodeid: number): boolean {
    const ops = this.ops;
    if (!ops.create) throw new Errno(E.ENOSYS);
    const flags = b.readUInt32LE(p);
    const mode = b.readUInt32LE(p + 4);
    const [nm] = readCString(b, p + 16, end);
    const path = this.childPath(nodeid, nm);
    const caller = callerOf(b);
    const make = (): number | Promise<number> => {
      try {
        const r = ops.create!(path, mode, caller);
        return isPromise(r) ? r.catch((e) => this.createExisting(e, path, flags)) : r;
      } catch (e) {
        return this.createExisting(e, path, flags);
      }
    };
    let fh = 0;
    return this.run(unique, 'create', path, () => this.then(make(), (h) => {
      fh = h;
      return ops.fgetattr ? ops.fgetattr(path, h) : ops.getattr(path);
    }), (st) => {
      const len = this.entry(path, st);
      writeOpenOut(this.out, OUT_HEADER + len, fh, this.opened(this.nodes.atPath(path)!, fh, flags));
      return len + OPEN_OUT;
    }, () => this.dropHandle(path, fh));
  }

  /** CREATE of a name that exists after all (a stale negative entry): open it, as open(2) would. */
  private createExisting(err: unknown, path: string, flags: number): number | Promise<number> {
    if (errnoOf(err) !== E.EEXIST || (flags & fsc.O_EXCL ? 1 : 0) || !this.ops.open) throw err;
    return this.then(this.ops.open(path, flags), (fh) => {
      if (!(flags & fsc.O_TRUNC)) return fh;
      const t = this.ops.ftruncate ? this.ops.ftruncate(path, fh, 0) : this.ops.truncate?.(path, 0);
      return this.then(t, () => fh);
    });
  }

  private readdir(b: Buffer, p: number, unique: bigint, plus: boolean): boolean {
    const d = this.dirs.get(u64(b, p));
    if (!d) throw new Errno(E.EBADF);
    const offset = u64(b, p + 8);
    const size = Math.min(b.readUInt32LE(p + 16), this.out.length - OUT_HEADER);
    const load = (): Array<string | DirEntry> | Promise<Array<string | DirEntry>> => {
      if (d.names && offset > 0) return d.names;
      if (!this.ops.readdir) throw new Errno(E.ENOSYS);
      if (d.node.path === null) throw new Errno(E.ENOENT);
      return this.ops.readdir(d.node.path);
    };
    return this.run(unique, plus ? 'readdirplus' : 'readdir', d.node.lastPath, load, (names) => {
      d.names = names;
      const dir = d.node.path ?? d.node.lastPath;
      let at = OUT_HEADER;
      const limit = OUT_HEADER + size;
      for (let i = offset; i < names.length; i++) {
        const e = names[i]!;
        const nm = typeof e === 'string' ? e : e.name;
        const bytes = bytesOfName(nm);
        const need = (plus ? ENTRY_OUT : 0) + direntSize(bytes.length);
        if (at + need > limit) break;
        const dot = nm === '.' || nm === '..';
        if (plus) {
          let st: FuseStat | null = null;
          if (!dot) {
            try {
              const v = this.ops.getattr(NodeTable.child(dir, nm));
              if (!isPromise(v)) st = v; // an async filesystem gets plain entries' attributes by LOOKUP
            } catch { /* vanished meanwhile: a plain entry */ }
          }
          if (st) {
            this.entry(NodeTable.child(dir, nm), st, at);
          } else {
            writeEntryOut(this.out, at, 0, null, 0, 0);
          }
          at += ENTRY_OUT;
          at += writeDirent(this.out, at, st ? st.ino : typeof e === 'string' ? 0xffffffff : e.ino, i + 1,
            st ? direntType(st.mode) : typeof e === 'string' ? 0 : e.type ?? 0, bytes);
        } else if (typeof e !== 'string') {
          at += writeDirent(this.out, at, e.ino, i + 1, e.type ?? 0, bytes);
        } else {
          const known = dot ? undefined : this.nodes.atPath(NodeTable.child(dir, nm));
          at += writeDirent(this.out, at, 0xffffffff, i + 1, known ? known.type >>> 12 : 0, bytes);
        }
      }
      return at - OUT_HEADER;
    });
  }

  /** The largest READ or WRITE the connection carries. */
  get maxIoBytes(): number {
    return this.maxIo;
  }

  /** Starts teardown from our side: nothing more is read once the kernel says ENODEV. */
  get isClosed(): boolean {
    return this.closed;
  }
}

/**
 * Mounts `ops` at `mountPoint` over the kernel protocol and resolves once the
 * kernel has initialised the connection.
 */
export async function mountKernel(mountPoint: string, ops: FuseOps, options: MountOptions,
  kopts: KernelBridgeOptions = {}): Promise<FuseMount & { session: KernelSession; ended: Promise<void> }> {
  if (options.maxWrite !== undefined && kopts.maxIo === undefined) kopts = { ...kopts, maxIo: options.maxWrite };
  const req = {
    mountPoint, fsname: options.fsname, subtype: options.subtype, allowOther: options.allowOther,
    defaultPermissions: options.defaultPermissions, readOnly: options.readOnly, uid: kopts.uid, gid: kopts.gid,
  };
  let fd: number;
  try {
    fd = process.getuid?.() === 0 ? mountAsRoot(req) : await mountWithFusermount(req);
  } catch (err) {
    const e = new Error(`FUSE mount at ${mountPoint} failed: ${(err as Error).message} (is /dev/fuse usable, and the mount point a directory of yours not in use?)`);
    (e as Error & { code?: unknown }).code = (err as NodeJS.ErrnoException).code;
    throw e;
  }
  const session = new KernelSession(fd, ops, options, kopts);
  session.start();
  try {
    await session.ready;
  } catch (err) {
    try { await unmountKernel(mountPoint, true); } catch { /* not mounted */ }
    throw err;
  }
  if (process.getuid?.() === 0 && kopts.readaheadKib !== 0) setReadahead(mountPoint, kopts.readaheadKib ?? session.maxIoBytes / 1024);
  let mounted = true;
  return {
    mountPoint,
    session,
    ended: session.ended,
    async unmount(u = {}) {
      if (!mounted) return;
      if (!session.isClosed) {
        try {
          await unmountKernel(mountPoint, !!u.lazy);
        } catch (err) {
          if (!session.isClosed) throw err;
        }
      }
      mounted = false;
      if (!u.lazy) {
        await session.ended;
        return;
      }
      // A lazy unmount ends the connection only when the last open file is
      // closed; do not keep the caller (and the keys it holds) waiting for
      // that: once it exits, the kernel fails those files with ENOTCONN.
      await Promise.race([session.ended, new Promise((r) => setTimeout(r, 1000).unref())]);
    },
  };
}

export { MIN_READ_BUFFER };
