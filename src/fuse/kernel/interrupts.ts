// FUSE_INTERRUPT: what the bridge does when the kernel says the process
// waiting for a request got a signal. Only a request whose operation returned
// a Promise can still be unanswered when its interrupt is read (a synchronous
// one is answered before the next request is read), so only those are
// tracked here.
//
// The protocol (fuse.h, Documentation/filesystems/fuse.rst): the kernel
// expects either the request's normal reply or EINTR, at most one of them;
// an interrupt for a request it has not seen yet may be answered with EAGAIN
// (the kernel queues it again), and an interrupt may be ignored outright.
// What we answer:
// - a request without side effects (reads, lookups, fsync …) is answered
//   EINTR at once; its operation's result, when it comes, is dropped;
// - a request with side effects (write, create, rename …) is answered EINTR
//   only once its caller is being killed (SIGKILL pending: nobody will see
//   either answer); for any other signal it runs to completion and is
//   answered normally, so a program that handles the signal and retries
//   never sees EINTR for something that happened (mkdir then EEXIST). The
//   kernel sends one interrupt per request, so such a request is watched
//   until it ends in case a SIGKILL follows the first signal.
import { Op } from './protocol.js';

/** Opcodes whose operation changes nothing a caller could see twice (EINTR for them is always safe). */
const WITHOUT_SIDE_EFFECTS: ReadonlySet<number> = new Set([
  Op.LOOKUP,
  Op.GETATTR,
  Op.READLINK,
  Op.READ,
  Op.STATFS,
  Op.FSYNC,
  Op.GETXATTR,
  Op.LISTXATTR,
  Op.FLUSH,
  Op.READDIR,
  Op.READDIRPLUS,
  Op.FSYNCDIR,
  Op.ACCESS,
  Op.LSEEK,
]);

/** How often a side-effect request interrupted by a lesser signal is checked for a SIGKILL that followed. */
const WATCH_MS = 200;
/** How long an interrupt for a request not read yet waits for it (several readers only) before EAGAIN. */
const UNSEEN_WAIT_MS = 10;

/** A request whose operation is still running. */
export interface PendingRequest {
  readonly unique: bigint;
  /** The descriptor its reply goes to. */
  readonly fd: number;
  /** The calling thread, as the kernel names it in the bridge's pid namespace (0: outside it). */
  readonly pid: number;
  readonly opcode: number;
  /** Answered EINTR already: the operation's result must not be sent. */
  interrupted: boolean;
  watch: NodeJS.Timeout | null;
}

export interface InterruptHooks {
  /** Replies EINTR to `p` on its descriptor. */
  answerEintr(p: PendingRequest): void;
  /** Replies EAGAIN to the INTERRUPT request `unique` read from `fd`. */
  answerAgain(unique: bigint, fd: number): void;
  /** True when thread `pid` is being killed (or gone). */
  dying(pid: number): boolean;
}

export class InterruptTable {
  private readonly pending = new Map<bigint, PendingRequest>();
  /** The highest request unique read so far (the kernel numbers requests in increasing order). */
  private highest = 0n;
  /** Requests answered EINTR (for tests and logs). */
  answered = 0;

  constructor(private readonly hooks: InterruptHooks) {}

  /** Every request read (interrupts aside) passes here, answered at once or not. */
  seen(unique: bigint): void {
    if (unique > this.highest) this.highest = unique;
  }

  /** A request whose answer will come later (its operation returned a Promise). */
  begin(unique: bigint, fd: number, pid: number, opcode: number): PendingRequest {
    const p: PendingRequest = { unique, fd, pid, opcode, interrupted: false, watch: null };
    this.pending.set(unique, p);
    return p;
  }

  /** The operation of `p` has settled; false when its result must be dropped (answered EINTR). */
  end(p: PendingRequest): boolean {
    this.pending.delete(p.unique);
    if (p.watch) clearInterval(p.watch);
    p.watch = null;
    return !p.interrupted;
  }

  get size(): number {
    return this.pending.size;
  }

  /** FUSE_INTERRUPT `unique` (read from `fd`) for request `target`. */
  interrupt(target: bigint, unique: bigint, fd: number): void {
    const p = this.pending.get(target);
    if (p) {
      this.decide(p);
      return;
    }
    if (target <= this.highest) return; // answered already: nothing to interrupt
    // not read yet (another reader holds it): look again shortly, then let the kernel queue the interrupt again
    setTimeout(() => {
      const q = this.pending.get(target);
      if (q) this.decide(q);
      else if (target > this.highest) this.hooks.answerAgain(unique, fd);
    }, UNSEEN_WAIT_MS).unref();
  }

  private decide(p: PendingRequest): void {
    if (p.interrupted || p.watch) return;
    if (WITHOUT_SIDE_EFFECTS.has(p.opcode) || this.hooks.dying(p.pid)) {
      this.cut(p);
      return;
    }
    p.watch = setInterval(() => {
      if (this.hooks.dying(p.pid)) this.cut(p);
    }, WATCH_MS);
    p.watch.unref();
  }

  private cut(p: PendingRequest): void {
    if (p.watch) clearInterval(p.watch);
    p.watch = null;
    p.interrupted = true;
    this.answered++;
    this.hooks.answerEintr(p);
  }
}
