// Positioned I/O on an open lower file: the one LowerIO behind the engine's
// FUSE operations, fsck and the eCryptfs tools that work without a mount.
import { fstatSync, ftruncateSync, readSync, writeSync } from 'node:fs';
import type { LowerIO, SeekWhence } from './volume-format.js';
import type { AfterReply } from './after-reply.js';
import type { SizeCell } from './lower-sizes.js';
import { BLOCK_LOWER } from '../format/block-offsets.js';
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  SEEK_DATA,
  SEEK_HOLE,
  fallocateSync,
  seekDataOrHoleSync,
  futimensSync,
  willNeedSync,
} from '../os/lower-fs-calls.js';

// Smaller writes (tar's 10 KiB records, most small files) stay inline: the
// overlap saves little there, and fallocate allocates blocks at once that
// delayed allocation would not, which made rm -rf of a fresh tree twice as
// slow in the canonical benchmark (docs/BENCHMARKS.md).
const AFTER_REPLY_MIN = 64 * 1024;

export class FdLowerIO implements LowerIO {
  /** An error of a write finished after its reply, for this file's next operation. */
  private deferredError: unknown = null;
  /** False once the lower filesystem has said it has no fallocate(2): writes stay inline. */
  private canReserve = true;

  /**
   * With `afterReply`, a write may finish after the kernel has its answer
   * (after-reply.ts). With `known`, the file's size is the cell's (shared by
   * every handle of the inode, lower-sizes.ts) and kept up to date by this
   * object's own writes; without it, size() asks fstat every time.
   */
  constructor(
    readonly fd: number,
    readonly lowerPath: string,
    private readonly afterReply?: AfterReply,
    private readonly log?: (line: string) => void,
    private readonly known: SizeCell | null = null,
  ) {}

  /**
   * Reserves the space of a write and queues `write` to run after the reply;
   * false (nothing queued) where that is not possible: no after-reply hook, or
   * a lower filesystem without fallocate. Throws what fallocate says (ENOSPC).
   */
  writeAfterReply(offset: number, length: number, write: () => void): boolean {
    if (!this.afterReply || !this.canReserve || length < AFTER_REPLY_MIN) return false;
    try {
      fallocateSync(this.fd, FALLOC_FL_KEEP_SIZE, offset, length, this.lowerPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EINVAL') {
        this.canReserve = false;
        return false;
      }
      throw err;
    }
    this.afterReply.defer(() => {
      try {
        write();
      } catch (err) {
        this.deferredError = err;
        this.log?.(`homecrypt: ${this.lowerPath}: a write failed after it was acknowledged: ${(err as Error).message}`);
      }
    });
    return true;
  }

  /** Runs a queued write first and throws its error, if it failed: every access goes through here. */
  settle(): void {
    this.afterReply?.run();
    const err = this.deferredError;
    if (err) {
      this.deferredError = null;
      throw err;
    }
  }

  pread(offset: number, length: number): Buffer {
    // zeroed, not allocUnsafe: a short read must not carry pooled memory
    // (other data of this process) in the returned buffer's backing store
    const buf = Buffer.alloc(length);
    const got = this.preadInto(buf, offset);
    return got === length ? buf : buf.subarray(0, got);
  }

  /** Reads until `target` is full or the file ends (readSync may return short). */
  preadInto(target: Buffer, offset: number): number {
    this.settle();
    let got = 0;
    while (got < target.length) {
      const n = readSync(this.fd, target, got, target.length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return got;
  }

  pwrite(data: Buffer, offset: number): void {
    this.settle();
    const known = this.known;
    if (known && offset + data.length > (known.tailAt ?? 0)) known.tailLen = -1; // the kept tail changes (or moves)
    let done = 0;
    try {
      while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, offset + done);
    } catch (err) {
      if (known && done > 0) known.size = -1; // part of it may have landed: ask next time
      throw err;
    }
    if (known && known.size >= 0 && offset + done > known.size) known.size = offset + done;
  }

  keepTail(at: number, bytes: Buffer): void {
    const known = this.known;
    if (!known) return;
    if (known.size !== at + bytes.length) {
      known.tailLen = -1;
      return;
    }
    // one lower block's room from the start: final blocks of every length then share one buffer
    if (!known.tail || known.tail.length < bytes.length) known.tail = Buffer.allocUnsafeSlow(Math.max(bytes.length, BLOCK_LOWER));
    bytes.copy(known.tail);
    known.tailAt = at;
    known.tailLen = bytes.length;
  }

  cachedTail(at: number, into: Buffer): boolean {
    this.settle();
    const known = this.known;
    if (!known?.tail || known.tailAt !== at || known.tailLen !== into.length || known.size !== at + into.length) return false;
    known.tail.copy(into, 0, 0, into.length);
    return true;
  }

  ftruncate(length: number): void {
    this.settle();
    const known = this.known;
    if (known) known.tailLen = -1;
    try {
      ftruncateSync(this.fd, length);
    } catch (err) {
      if (known) known.size = -1;
      throw err;
    }
    if (known) known.size = length;
  }

  size(): number {
    this.settle();
    const known = this.known;
    if (known && known.size >= 0) return known.size;
    const size = fstatSync(this.fd).size;
    if (known) known.size = size;
    return size;
  }

  get slotEmpty(): boolean | undefined {
    return this.known?.slotEmpty;
  }

  /** Without a cell (fsck, an inode number past 2^53) nothing is kept: the slot stays unknown. */
  set slotEmpty(empty: boolean | undefined) {
    if (this.known) this.known.slotEmpty = empty;
  }

  keepingTimes(change: () => void): void {
    this.settle();
    const st = fstatSync(this.fd, { bigint: true });
    change();
    futimensSync(this.fd, st.atimeNs, st.mtimeNs);
  }

  seek(offset: number, whence: SeekWhence): number {
    this.settle();
    return seekDataOrHoleSync(this.fd, offset, whence === 'data' ? SEEK_DATA : SEEK_HOLE, this.lowerPath);
  }

  reserve(offset: number, length: number): void {
    this.settle();
    fallocateSync(this.fd, FALLOC_FL_KEEP_SIZE, offset, length, this.lowerPath);
  }

  punch(offset: number, length: number): void {
    this.settle();
    if (this.known) this.known.tailLen = -1;
    fallocateSync(this.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length, this.lowerPath);
  }

  prefetch(offset: number, length: number): void {
    willNeedSync(this.fd, offset, length);
  }
}

/** For fsck, which must change nothing: a write through it is a bug, so it throws. */
export class ReadOnlyLowerIO extends FdLowerIO {
  override pwrite(): void {
    throw new Error('fsck changes nothing');
  }
  override ftruncate(): void {
    throw new Error('fsck changes nothing');
  }
  override reserve(): void {
    throw new Error('fsck changes nothing');
  }
  override punch(): void {
    throw new Error('fsck changes nothing');
  }
}
