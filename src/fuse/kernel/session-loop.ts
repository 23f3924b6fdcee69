// How requests are read from /dev/fuse (docs/FUSE-BRIDGE.md, "How requests
// are read"): with spinUs > 0, only the JS thread reads, from a non-blocking
// clone of the connection, right after each reply and for up to spinUs more
// while the line is busy; while the JS thread is idle the event loop's own
// epoll watches the clone (or, with a koffi that has no poll handles, a libuv
// pool thread polls it). With spinUs 0, several blocking reads are in flight on
// the pool instead. Each request read goes to `dispatch`, then `afterReply`.
import { closeSync, read as fsRead } from 'node:fs';
import { constants } from 'node:os';
import { cloneNonBlocking, readRaw, watchReadable, whenReadable, type ReadableWatch } from './kernel-mount.js';
import { IN_HEADER, WRITE_IN } from './protocol.js';

const E = constants.errno;
const PAGE = 4096;
const DRAIN_BUDGET_NS = 20_000_000n;

/** dispatch() flags: the request buffer is held by a pending operation (a new one is needed). */
export const HELD = 1;
/** dispatch() flags: the answer comes later, from the event loop (an operation's Promise). */
export const LATER = 2;

export interface LoopHooks {
  /** Answers request `b[0..n)` read from `fd`; returns HELD and LATER flags. */
  dispatch(b: Buffer, n: number, fd: number): number;
  /** After each request, before the next is read. */
  afterReply(): void;
  onUnexpected(op: string, path: string, err: unknown): void;
  /** The connection is gone (unmounted: err null) and nothing of ours is in flight. */
  ended(err: Error | null): void;
  /** First notice that the connection is closing (before in-flight work is done). */
  closing(err: Error | null): void;
}

export class SessionLoop {
  /** Work on the libuv pool that still uses the connection (reads, polls). */
  private running = 0;
  private closed = false;
  private done = false;
  private fastFd = -1;
  private fastBuf: Buffer | null = null;
  private readonly spin: bigint;
  /** drain() is running (kick must not start a second one). */
  private draining = false;
  /** The clone as the event loop watches it (null: a pool thread polls it, armPoll). */
  private watch: ReadableWatch | null = null;
  /** A setImmediate is queued to run what the last wake-up left to Promise jobs. */
  private jobsQueued = false;

  constructor(
    private readonly fd: number,
    private readonly maxIo: number,
    spinNs: number,
    private readonly readers: number,
    private readonly hooks: LoopHooks,
  ) {
    this.spin = BigInt(spinNs);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  start(): void {
    const size = IN_HEADER + WRITE_IN + this.maxIo + PAGE;
    if (this.spin > 0n) {
      this.fastFd = cloneNonBlocking(this.fd);
      this.fastBuf = Buffer.allocUnsafe(size);
      // requests are read only on the JS thread; the event loop's own epoll
      // watches the clone while the JS thread is idle (or, with a koffi
      // that cannot, a pool thread polls it), so nothing takes a request
      // from under the spin
      this.watch = watchReadable(this.fastFd, () => this.woken());
      if (!this.watch) this.armPoll();
      return;
    }
    for (let i = 0; i < Math.max(1, this.readers); i++) this.readLoop(Buffer.allocUnsafe(size));
  }

  private armPoll(): void {
    if (this.closed) {
      this.shutdown(null);
      return;
    }
    this.running++;
    whenReadable(this.fastFd, () => {
      this.running--;
      try {
        // nothing there after all (kick took it): no spin, back to the poll
        this.drain(false);
      } catch (e) {
        this.hooks.onUnexpected('dispatch', '', e);
      }
      this.armPoll();
    });
  }

  /**
   * The event loop saw the clone readable: answer what is there. This runs
   * outside Node's callback scope, so Promise jobs queued while answering
   * (an fsync's, the INIT reply's `ready`) would wait for the loop's next
   * callback; a setImmediate gives them one at once.
   */
  private woken(): void {
    try {
      if (!this.draining) this.drain(false);
    } catch (e) {
      try {
        this.hooks.onUnexpected('dispatch', '', e);
      } catch {
        /* nothing may escape into the loop */
      }
    }
    if (!this.jobsQueued) {
      this.jobsQueued = true;
      setImmediate(() => {
        this.jobsQueued = false;
      });
    }
  }

  private readLoop(buf: Buffer): void {
    if (this.closed) {
      this.shutdown(null);
      return;
    }
    this.running++;
    fsRead(this.fd, buf, 0, buf.length, null, (err, n) => {
      this.running--;
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // ENOENT: the request was interrupted before we read it; EINTR/EAGAIN: try again
        if (code === 'ENOENT' || code === 'EINTR' || code === 'EAGAIN') {
          this.readLoop(buf);
          return;
        }
        this.shutdown(code === 'ENODEV' ? null : err);
        return;
      }
      if (n === 0) {
        this.shutdown(null);
        return;
      }
      let next = buf;
      try {
        if (this.hooks.dispatch(buf, n, this.fd) & HELD) next = Buffer.allocUnsafe(buf.length); // buf is held by a pending operation
      } catch (e) {
        this.hooks.onUnexpected('dispatch', '', e);
      }
      this.hooks.afterReply();
      this.readLoop(next);
    });
  }

  /**
   * After a reply sent from the event loop (an operation's Promise settled:
   * fsync), looks for the caller's next request at once, as after any other
   * reply: an fsync-heavy writer (sqlite commits) otherwise waits for the
   * pool thread's poll to wake the event loop before each next request.
   */
  kick(): void {
    if (this.spin > 0n && !this.draining && !this.closed && this.fastFd >= 0) this.drain(true);
  }

  /**
   * Reads the clone without blocking and answers what is there, waiting up
   * to spinNs for the next request: a program doing one system call after
   * another sends its next request a few microseconds after our reply, and
   * catching it here saves the thread-pool wake-up (docs/BENCHMARKS.md).
   * Gives the event loop back once the line goes quiet, and every
   * DRAIN_BUDGET_NS under a steady stream (signals, timers, Promise results).
   * No spin after a request whose operation went asynchronous (fsync): its
   * caller waits for that answer, which only the event loop can send.
   */
  private drain(spinFirst = true): void {
    this.draining = true;
    try {
      this.drainClone(spinFirst);
    } finally {
      this.draining = false;
    }
  }

  private drainClone(spinFirst: boolean): void {
    let buf = this.fastBuf!;
    let last = process.hrtime.bigint();
    const until = last + DRAIN_BUDGET_NS;
    let spin = spinFirst ? this.spin : 0n;
    for (;;) {
      if (last > until) return;
      const n = readRaw(this.fastFd, buf);
      if (n > 0) {
        spin = this.spin;
        try {
          const how = this.hooks.dispatch(buf, n, this.fastFd);
          if (how & HELD) {
            buf = Buffer.allocUnsafe(buf.length);
            this.fastBuf = buf;
          }
          if (how & LATER) spin = 0n;
        } catch (e) {
          this.hooks.onUnexpected('dispatch', '', e);
        }
        this.hooks.afterReply();
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
      this.hooks.closing(err);
    }
    if (this.watch) {
      // off the loop's epoll before its descriptor is closed
      this.watch.close();
      this.watch = null;
    }
    if (this.running === 0 && !this.done) {
      // once only: a descriptor number closed twice may by then be someone else's
      this.done = true;
      try {
        closeSync(this.fd);
      } catch {
        /* closed */
      }
      if (this.fastFd >= 0)
        try {
          closeSync(this.fastFd);
        } catch {
          /* closed */
        }
      this.fastFd = -1;
      this.hooks.ended(err);
    }
  }
}
