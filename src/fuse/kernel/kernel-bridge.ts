// The purpose-built FUSE bridge: speaks the kernel FUSE protocol on /dev/fuse
// directly (the approach of go-fuse), with no libfuse in between. Serves any
// FuseOps (bridge.ts), so the engine runs on it unchanged.
//
// Cut like go-fuse's: session-loop.ts reads requests, protocol.ts decodes
// them (one typed decoder per request struct), handlers/ answers them (one
// small handler per opcode, handlers/table.ts maps opcodes to them), and this
// file holds the session they share: the node table and handles, the reply
// writers, and `run`, which calls an operation and answers with its result
// or errno. A synchronous operation is answered before the next request is
// looked at (no event-loop turn; a few small objects per request: the
// decoded request and its fields); a Promise result is answered when it
// settles, unless FUSE_INTERRUPT came first (interrupts.ts). What
// fuse-native gets wrong is right here by construction: SETATTR carries atime
// and mtime (or UTIME_OMIT as an absent bit) in nanoseconds, GETATTR carries
// the handle, and times reach the kernel in nanoseconds.
import { writeSync } from 'node:fs';
import { constants } from 'node:os';
import { HomecryptError } from '../../errors.js';
import { errnoOf, type FuseMount, type FuseOps, type FuseStat, type MountOptions } from '../bridge.js';
import { Errno, isPromise, type DirHandle, type HandlerContext } from './handler-context.js';
import type { KernelBridgeOptions } from './kernel-options.js';
import { fatalSignalPending, mountAsRoot, mountWithFusermount, setReadahead, unmountKernel } from './kernel-mount.js';
import { NodeTable, keepsCache, opensDirect, type Node } from './node-table.js';
import { DirCookies } from './dir-cookies.js';
import { InterruptTable } from './interrupts.js';
import { HELD, LATER, SessionLoop } from './session-loop.js';
import { HANDLERS } from './handlers/table.js';
import {
  ENTRY_OUT,
  FOPEN_DIRECT_IO,
  FOPEN_KEEP_CACHE,
  MIN_READ_BUFFER,
  NOTIFY_INVAL_INODE,
  OP_NAMES,
  OUT_HEADER,
  Op,
  readRequest,
  writeEntryOut,
  writeOutHeader,
} from './protocol.js';

const E = constants.errno;

const PAGE = 4096;

/**
 * One FUSE connection. Its state and helpers are public for the handlers in
 * handlers/, which see them as a HandlerContext (handler-context.ts); nothing
 * outside src/fuse/kernel uses more than `ready`, `ended`, `counts` and
 * `interrupts`.
 */
export class KernelSession implements HandlerContext {
  readonly nodes = new NodeTable();
  readonly dirs = new Map<number, DirHandle>();
  private readonly cookiesOf = new WeakMap<Node, DirCookies>();
  private readonly listings = new WeakMap<Node, DirHandle>();
  nextDirFh = 1;
  /** FUSE_DONT_MASK granted: the mode of a new entry arrives without the caller's umask (handlers/entries.ts). */
  dontMask = false;
  /** OPENDIR answered ENOSYS: the kernel opens directories alone (handlers/directories.ts). */
  kernelOpensDirs = false;
  /** Direct writers (opensDirect) in use: asked for and the kernel allows their shared mmaps. */
  directIo = false;
  /** FUSE_SETXATTR_EXT granted: the 16-byte fuse_setxattr_in (handlers/attributes.ts). */
  setxattrExt = false;
  /** FuseOps handle → its node, for handle-based getattr of unlinked files. */
  readonly fileNode = new Map<number, Node>();
  readonly out: Buffer;
  readonly readBufs: Buffer[] = [];
  readonly maxIo: number;
  readonly entryTimeout: number;
  readonly attrTimeout: number;
  readonly negativeTimeout: number;
  readonly onUnexpected: (op: string, path: string, err: unknown) => void;
  initDone: (() => void) | null = null;
  initFailed: ((e: Error) => void) | null = null;
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
  /** The descriptor the request being answered came from. */
  curFd: number;
  /** The request being dispatched was registered as answered later (`later`). */
  private wentLater = false;
  private readonly loop: SessionLoop;

  constructor(
    private readonly fd: number,
    readonly ops: FuseOps,
    readonly options: MountOptions,
    readonly kopts: KernelBridgeOptions,
  ) {
    this.curFd = fd;
    this.maxIo = Math.max(PAGE * 32, Math.min(kopts.maxIo ?? 1 << 20, PAGE * 256)) & ~(PAGE - 1);
    this.out = Buffer.alloc(OUT_HEADER + this.maxIo);
    this.entryTimeout = options.entryTimeout ?? 1;
    this.attrTimeout = options.attrTimeout ?? 1;
    this.negativeTimeout = options.negativeTimeout ?? 1;
    this.onUnexpected =
      options.onUnexpectedError ??
      ((op, path, err) => {
        process.stderr.write(`homecrypt: ${op} ${path}: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
      });
    this.ready = new Promise((res, rej) => {
      this.initDone = res;
      this.initFailed = rej;
    });
    this.interrupts = new InterruptTable({
      answerEintr: (p) => this.replyTo(p.fd, p.unique, E.EINTR),
      answerAgain: (unique, fd) => this.replyTo(fd, unique, E.EAGAIN),
      dying: fatalSignalPending,
    });
    this.ended = new Promise((res) => {
      this.endDone = res;
    });
    this.loop = new SessionLoop(fd, this.maxIo, Math.round((kopts.spinUs ?? 50) * 1000), kopts.readers ?? 2, {
      dispatch: (b, n, from) => {
        this.curFd = from;
        this.wentLater = false;
        const held = this.dispatch(b, n);
        return (held ? HELD : 0) | (this.wentLater ? LATER : 0);
      },
      afterReply: () => this.afterReply(),
      onUnexpected: this.onUnexpected,
      closing: (err) => {
        if (err) this.onUnexpected('read /dev/fuse', '', err);
        this.initFailed?.(new Error('the FUSE connection ended before it was initialised'));
      },
      ended: () => {
        this.endDone?.();
        this.endDone = null;
      },
    });
  }

  start(): void {
    this.loop.start();
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

  // ---- the dispatcher ----

  /** Decodes and answers one request; true when `b` must not be reused yet. */
  dispatch(b: Buffer, n: number): boolean {
    const r = readRequest(b, n);
    if (!r) return false;
    const name = OP_NAMES[r.opcode] ?? `op${r.opcode}`;
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    this.curOp = r.opcode;
    this.curPid = r.pid;
    if (r.opcode !== Op.INTERRUPT) this.interrupts.seen(r.unique);
    const handler = HANDLERS[r.opcode];
    if (!handler) {
      // COPY_FILE_RANGE, IOCTL, POLL, BMAP …: the kernel falls back or reports EOPNOTSUPP
      this.replyErr(r.unique, E.ENOSYS);
      return false;
    }
    try {
      return handler(this, r);
    } catch (err) {
      this.replyErr(r.unique, this.fail(name, '', err));
      return false;
    }
  }

  // ---- replies ----

  send(len: number, buf: Buffer = this.out): void {
    // the connection is gone (a result that settled after its end, an interrupt's timer): its
    // descriptors may be closed and their numbers another file's by now
    if (this.loop.isClosed) return;
    try {
      writeSync(this.curFd, buf, 0, len);
    } catch (err) {
      // ENOENT: the request was interrupted and is gone; ENODEV: unmounted
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENODEV') this.onUnexpected('reply', '', err);
    }
  }

  replyErr(unique: bigint, errno: number): void {
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
  later(unique: bigint): () => boolean {
    this.wentLater = true;
    const p = this.interrupts.begin(unique, this.curFd, this.curPid, this.curOp);
    return () => {
      this.curFd = p.fd;
      return this.interrupts.end(p);
    };
  }

  /** Replies with `len` payload bytes already written at this.out[16..]. */
  replyOk(unique: bigint, len: number): void {
    writeOutHeader(this.out, OUT_HEADER + len, 0, unique);
    this.send(OUT_HEADER + len);
  }

  fail(op: string, path: string, err: unknown): number {
    if (err instanceof Errno) return err.errno;
    const n = errnoOf(err);
    if (n !== null) return n;
    this.onUnexpected(op, path, err);
    return E.EIO;
  }

  /**
   * Runs `fn`; answers with `reply(result)` (which writes the payload into
   * this.out and returns its length) or with the errno. Returns true when the
   * request buffer is still in use (a Promise is pending). `dropped` undoes
   * what a result answered EINTR meanwhile would leave behind.
   */
  run<T>(unique: bigint, op: string, path: string, fn: () => T | Promise<T>, reply: (v: T) => number, dropped?: (v: T) => void): boolean {
    let v: T | Promise<T>;
    try {
      v = fn();
    } catch (err) {
      this.replyErr(unique, this.fail(op, path, err));
      return false;
    }
    if (isPromise(v)) {
      const settled = this.later(unique);
      v.then(
        (r) => {
          if (settled()) this.finish(unique, op, path, r, reply);
          else dropped?.(r);
          this.loop.kick();
        },
        (err) => {
          if (settled()) this.replyErr(unique, this.fail(op, path, err));
          this.loop.kick();
        },
      );
      return true;
    }
    this.finish(unique, op, path, v, reply);
    return false;
  }

  finish<T>(unique: bigint, op: string, path: string, v: T, reply: (v: T) => number): void {
    let len: number;
    try {
      len = reply(v);
    } catch (err) {
      this.replyErr(unique, this.fail(op, path, err));
      return;
    }
    if (len >= 0) this.replyOk(unique, len);
  }

  /** Chains `next` after `v` without a trip through the event loop when `v` is synchronous. */
  then<A, B>(v: A | Promise<A>, next: (a: A) => B | Promise<B>): B | Promise<B> {
    return isPromise(v) ? v.then(next) : next(v);
  }

  /** Runs clean-up work nobody waits for; its errors only go to the log. */
  quietly(op: string, path: string, fn: () => unknown): void {
    try {
      const v = fn();
      if (isPromise(v))
        v.catch((err) => {
          if (errnoOf(err) === null) this.onUnexpected(op, path, err);
        });
    } catch (err) {
      if (errnoOf(err) === null) this.onUnexpected(op, path, err);
    }
  }

  // ---- nodes and handles ----

  dirCookies(node: Node): DirCookies {
    let c = this.cookiesOf.get(node);
    if (!c) this.cookiesOf.set(node, (c = new DirCookies()));
    return c;
  }

  listingOf(node: Node): DirHandle {
    let d = this.listings.get(node);
    if (!d) this.listings.set(node, (d = { node, fsFh: 0, names: null, cookies: null }));
    return d;
  }

  node(id: number): Node {
    const n = this.nodes.get(id);
    if (!n) throw new Errno(E.ESTALE);
    return n;
  }

  pathOf(id: number): string {
    const n = this.node(id);
    if (n.path === null) throw new Errno(E.ENOENT);
    return n.path;
  }

  childPath(parent: number, name: string): string {
    if (name.length === 0 || name.includes('/')) throw new Errno(E.EINVAL);
    return NodeTable.child(this.pathOf(parent), name);
  }

  /**
   * Attributes of a node: by path, or by one of its handles once it is
   * detached; with neither (a removed directory some process has as its cwd:
   * the kernel asks before letting it look up "..") the last ones, with no
   * links left, as a local filesystem answers for it.
   */
  statNode(n: Node, fh: number): FuseStat | Promise<FuseStat> {
    if (fh && this.ops.fgetattr) return this.ops.fgetattr(n.lastPath, fh);
    if (n.path !== null) return this.ops.getattr(n.path);
    const any = n.fhs.values().next();
    if (!any.done && this.ops.fgetattr) return this.ops.fgetattr(n.lastPath, any.value);
    if (n.attr) return { ...n.attr, nlink: 0 };
    throw new Errno(E.ENOENT);
  }

  /** Writes an entry reply for `path` (one more kernel reference); returns its length. */
  entry(path: string, st: FuseStat, at = OUT_HEADER): number {
    const n = this.nodes.ref(path, st.mode, st.ino, st.dev, st.nlink);
    n.attr = st;
    n.freshUntil = performance.now() + 1000 * Math.min(this.entryTimeout, this.attrTimeout);
    writeEntryOut(this.out, at, n.id, st, this.entryTimeout, this.attrTimeout);
    return ENTRY_OUT;
  }

  /**
   * Records a new handle; returns its FOPEN flags: direct I/O by opensDirect's
   * rule (unless turned off), else KEEP_CACHE by keepsCache's, from the
   * file's attributes as of this open (`st`, or asked of the handle).
   */
  opened(n: Node, fh: number, flags: number, st?: FuseStat): number {
    const direct = this.directIo && opensDirect(n, flags);
    n.fhs.add(fh);
    if (direct) n.directFhs.add(fh);
    this.fileNode.set(fh, n);
    if (direct) {
      n.cacheStamp = null; // its writes bypass the cached pages
      return FOPEN_DIRECT_IO;
    }
    if (this.kopts.keepCache === false) return 0;
    return keepsCache(n, st ?? this.attrsOfHandle(n, fh)) ? FOPEN_KEEP_CACHE : 0;
  }

  /** The attributes of open handle `fh` when the filesystem gives them at once (else null: the pages are dropped). */
  private attrsOfHandle(n: Node, fh: number): FuseStat | null {
    if (!this.ops.fgetattr) return null;
    try {
      const v = this.ops.fgetattr(n.lastPath, fh);
      return isPromise(v) ? null : v;
    } catch {
      return null;
    }
  }

  /** Closes a handle opened for a request answered EINTR meanwhile (the kernel will send no RELEASE for it). */
  dropHandle(path: string, fh: number): void {
    if (fh && this.ops.release) this.quietly('release', path, () => this.ops.release!(path, fh));
  }

  /**
   * Tells the kernel to forget the attributes it caches for node `id`
   * (FUSE_NOTIFY_INVAL_INODE with a negative offset: attributes only, no
   * pages): a WRITE reply carries none, so a mode the write changed would
   * otherwise show stale until the attribute timeout.
   */
  invalidateAttrs(id: number): void {
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

  /** The largest READ or WRITE the connection carries. */
  get maxIoBytes(): number {
    return this.maxIo;
  }

  /** Starts teardown from our side: nothing more is read once the kernel says ENODEV. */
  get isClosed(): boolean {
    return this.loop.isClosed;
  }
}

/**
 * Mounts `ops` at `mountPoint` over the kernel protocol and resolves once the
 * kernel has initialised the connection.
 */
export async function mountKernel(
  mountPoint: string,
  ops: FuseOps,
  options: MountOptions,
  kopts: KernelBridgeOptions = {},
): Promise<FuseMount & { session: KernelSession; ended: Promise<void> }> {
  if (options.maxWrite !== undefined && kopts.maxIo === undefined) kopts = { ...kopts, maxIo: options.maxWrite };
  const req = {
    mountPoint,
    fsname: options.fsname,
    subtype: options.subtype,
    allowOther: options.allowOther,
    defaultPermissions: options.defaultPermissions,
    readOnly: options.readOnly,
    uid: kopts.uid,
    gid: kopts.gid,
  };
  let fd: number;
  try {
    fd = process.getuid?.() === 0 ? mountAsRoot(req) : await mountWithFusermount(req);
  } catch (err) {
    // fusermount3's refusals come typed, naming the mount point, with what to do
    if (err instanceof HomecryptError) throw err;
    const e = new Error(
      `FUSE mount at ${mountPoint} failed: ${(err as Error).message} (is /dev/fuse usable, and the mount point a directory of yours not in use?)`,
    );
    (e as Error & { code?: unknown }).code = (err as NodeJS.ErrnoException).code;
    throw e;
  }
  const session = new KernelSession(fd, ops, options, kopts);
  session.start();
  try {
    await session.ready;
  } catch (err) {
    try {
      await unmountKernel(mountPoint, true);
    } catch {
      /* not mounted */
    }
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

export type { KernelBridgeOptions } from './kernel-options.js';
