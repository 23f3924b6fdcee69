// The content of one homecrypt file (format v1, docs/FORMAT-FILES.md): reads,
// writes, size changes, holes, SEEK_DATA/SEEK_HOLE and fallocate over
// authenticated 4 KiB blocks. Growing a file by more than a block leaves the
// blocks in between as holes of the lower file (all-zero lower bytes, which
// read as zeros only in a file whose authenticated header says it may hold
// holes); the final block is always sealed, so the size stays authentic.
import { AuthenticationError } from '../errors.js';
import { BLOCK_LOWER, BLOCK_OVERHEAD, BLOCK_PLAIN, BlockLayout, LAYOUT_V1, MAX_FILE_SIZE, blockPlainLength, lastBlockOf } from '../format/block-offsets.js';
import { isHoleBlock, openBlockAt, sealBlockInto } from '../format/content.js';
import type { FileCipher, LowerIO, SeekWhence } from './volume-format.js';
import type { WriteJournal } from './write-journal.js';
import { E, fail } from './errno.js';

/** What the content needs of the file's header: its authenticated "may hold holes" flag. */
export interface SparseFlag {
  /** Reads the header and authenticates it; true when the file may hold holes. */
  get(io: LowerIO): boolean;
  /** Re-seals the header with the flag on or off (off: only when it is on). */
  set(io: LowerIO, on: boolean): void;
}

/** The header's answer, asked at most once per operation, and only when a hole is met. */
interface Holes {
  allowed?: boolean;
}

const PLAIN_SCRATCH = Buffer.alloc(BLOCK_PLAIN);
/** A block being merged on a partial write (old bytes + new). */
const MERGE_BLOCK = Buffer.alloc(BLOCK_PLAIN);
const ZERO_PLAIN = Buffer.alloc(BLOCK_PLAIN);
/** Blocks an lseek reads to tell holes from data before it answers conservatively. */
const SEEK_READ_BUDGET = 256;
/**
 * A READ this large is the kernel's readahead of a streaming reader: the lower
 * bytes of the next one are asked for before this one is read, so the lower
 * disk works while this one is decrypted (a cold `dd` read, docs/BENCHMARKS.md).
 */
const PREFETCH_MIN = 128 * 1024;

// One reusable buffer for sealed bytes read from the lower file: operations
// run one at a time on the JS thread, and this spares a large allocation (and
// its garbage) per request.
let scratchBuf = Buffer.allocUnsafe(64 * BLOCK_LOWER);
function scratch(length: number): Buffer {
  if (scratchBuf.length < length) scratchBuf = Buffer.allocUnsafe(length);
  return scratchBuf.subarray(0, length);
}
let sealScratchBuf = Buffer.allocUnsafe(64 * BLOCK_LOWER);
function sealScratch(length: number): Buffer {
  if (sealScratchBuf.length < length) sealScratchBuf = Buffer.allocUnsafe(length);
  return sealScratchBuf.subarray(0, length);
}

export class BlockCipher implements FileCipher {
  readonly maxSize = MAX_FILE_SIZE;

  /**
   * `layout`: where the blocks start (format 1 or 2). `journal` (format 2):
   * every change to lower bytes that already hold sealed data is announced
   * by a write record first (write-journal.ts), so a kill leaves a whole file.
   */
  constructor(
    readonly keyId: string,
    private readonly key: Buffer,
    private readonly fileId: Buffer,
    private readonly sparse: SparseFlag,
    private readonly layout: BlockLayout = LAYOUT_V1,
    private readonly journal?: WriteJournal,
  ) {}

  /** The slot is emptied when the handle closes (a done record would make every later open look closer). */
  release(io: LowerIO): void {
    this.journal?.release(io);
  }

  plaintextSize(lowerSize: number): number {
    return this.layout.plaintextSizeOf(lowerSize);
  }

  private holesAllowed(io: LowerIO, h: Holes): boolean {
    return (h.allowed ??= this.sparse.get(io));
  }

  /** Opens block `b` (sealed at src[at, at+len)) into `out` at `outAt`; a permitted hole gives zeros. */
  private openAt(io: LowerIO, h: Holes, b: number, final: boolean, src: Buffer, at: number, len: number, out: Buffer, outAt: number): number {
    if (!final && isHoleBlock(src, at, len) && this.holesAllowed(io, h)) {
      out.fill(0, outAt, outAt + BLOCK_PLAIN);
      return BLOCK_PLAIN;
    }
    return openBlockAt(this.key, this.fileId, b, final, src, at, len, out, outAt);
  }

  read(io: LowerIO, offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(Math.max(0, length));
    return out.subarray(0, this.readInto(io, offset, out));
  }

  readInto(io: LowerIO, offset: number, target: Buffer): number {
    const size = this.layout.plaintextSizeOf(io.size());
    if (offset >= size || target.length === 0) return 0;
    const end = Math.min(size, offset + target.length);
    const first = Math.floor(offset / BLOCK_PLAIN);
    const last = Math.floor((end - 1) / BLOCK_PLAIN);
    const final = lastBlockOf(size);
    const lowerLen = (last - first) * BLOCK_LOWER + blockPlainLength(size, last) + BLOCK_OVERHEAD;
    if (target.length >= PREFETCH_MIN && last < final && io.prefetch) {
      io.prefetch(this.layout.lowerOffsetOfBlock(last + 1), (last - first + 1) * BLOCK_LOWER);
    }
    const sealed = scratch(lowerLen);
    if (io.preadInto(sealed, this.layout.lowerOffsetOfBlock(first)) < lowerLen) throw new AuthenticationError('file is shorter than its blocks');
    const h: Holes = {};
    let w = 0;
    for (let b = first; b <= last; b++) {
      const at = (b - first) * BLOCK_LOWER;
      const len = blockPlainLength(size, b) + BLOCK_OVERHEAD;
      const from = b === first ? offset - b * BLOCK_PLAIN : 0;
      const to = Math.min(len - BLOCK_OVERHEAD, end - b * BLOCK_PLAIN);
      if (from === 0 && to === len - BLOCK_OVERHEAD) {
        // a whole block: straight into the caller's buffer
        this.openAt(io, h, b, b === final, sealed, at, len, target, w);
        w += to;
      } else {
        const n = this.openAt(io, h, b, b === final, sealed, at, len, PLAIN_SCRATCH, 0);
        w += PLAIN_SCRATCH.copy(target, w, from, Math.min(to, n));
      }
    }
    return w;
  }

  verify(io: LowerIO): void {
    const size = this.layout.plaintextSizeOf(io.size());
    if (size === 0) {
      const sealed = io.pread(this.layout.lowerOffsetOfBlock(0), BLOCK_OVERHEAD);
      openBlockAt(this.key, this.fileId, 0, true, sealed, 0, sealed.length, PLAIN_SCRATCH, 0);
      return;
    }
    // the data regions only: what SEEK_DATA skips is holes, zeros by construction
    // (at least a block each time: a conservative answer may name a hole as data)
    for (let off = 0; off < size;) {
      const from = this.seek(io, off, 'data');
      const end = Math.max(this.seek(io, from, 'hole'), Math.min(size, from + BLOCK_PLAIN));
      for (let at = from; at < end; at += 1 << 20) this.read(io, at, Math.min(1 << 20, end - at));
      off = end;
    }
  }

  /**
   * Rewrites blocks [first, last] of a file growing from `size` to `newSize`, with `data` at `offset`.
   * `lowerSize`: the lower file's size when the caller has just read it (saves
   * an fstat). `afterReply`: the lower write may follow the reply (only a
   * WRITE's own data: a truncate's SETATTR reads the size back at once).
   */
  private rewrite(
    io: LowerIO,
    size: number,
    newSize: number,
    first: number,
    last: number,
    offset: number,
    data: Buffer | null,
    lowerSize?: number,
    afterReply = false,
  ): void {
    io.settle?.(); // a queued write of this file first: it is still in the scratch buffers below
    const finalNew = lastBlockOf(newSize);
    const out = sealScratch((last - first + 1) * BLOCK_LOWER);
    let w = 0;
    // old blocks we need to merge with, read in one go (none when the data covers every block)
    const oldLast = size > 0 ? Math.min(last, lastBlockOf(size)) : -1;
    let old: Buffer | null = null;
    const oldFinal = lastBlockOf(size);
    const covered = data !== null && offset <= first * BLOCK_PLAIN && offset + data.length >= last * BLOCK_PLAIN + blockPlainLength(newSize, last);
    if (oldLast >= first && !covered) {
      const len = (oldLast - first) * BLOCK_LOWER + blockPlainLength(size, oldLast) + BLOCK_OVERHEAD;
      // into the read scratch (not used again before this write ends)
      old = scratch(len);
      const at = this.layout.lowerOffsetOfBlock(first);
      // an append after a partial final block: that block as the last write left it, if kept
      if (!io.cachedTail?.(at, old) && io.preadInto(old, at) < len) throw new AuthenticationError('file is shorter than its blocks');
    }
    const h: Holes = {};
    const block = MERGE_BLOCK;
    for (let b = first; b <= last; b++) {
      const bStart = b * BLOCK_PLAIN;
      const plainLen = blockPlainLength(newSize, b);
      const dStart = data ? Math.max(offset, bStart) : 0;
      const dEnd = data ? Math.min(offset + data.length, bStart + plainLen) : 0;
      let plain: Buffer;
      if (data && dStart === bStart && dEnd === bStart + plainLen) {
        plain = data.subarray(dStart - offset, dEnd - offset); // fully overwritten: no need to read
      } else {
        plain = block.subarray(0, plainLen);
        plain.fill(0);
        if (old && b <= oldLast) {
          const at = (b - first) * BLOCK_LOWER;
          const len = blockPlainLength(size, b) + BLOCK_OVERHEAD;
          this.openAt(io, h, b, b === oldFinal, old, at, len, block, 0);
        }
        if (data && dEnd > dStart) data.copy(plain, dStart - bStart, dStart - offset, dEnd - offset);
      }
      w += sealBlockInto(this.key, this.fileId, b, b === finalNew, plain, out, w);
    }
    // One pwrite: the old final block re-sealed and the new blocks land
    // together, so a killed daemon leaves a torn file only inside one syscall.
    // If the disk fills up midway, the old bytes go back (in place: no space
    // needed) and the lower file is cut to its old length: nothing is lost.
    const start = this.layout.lowerOffsetOfBlock(first);
    const oldEnd = lowerSize ?? io.size();
    const grows = start + w > oldEnd && oldEnd > start;
    // An empty file's old bytes are its empty final block, and any seal of one
    // is that same content: made afresh below (a new file's first write reads
    // nothing back), and only if a record or a failed write needs it. Else the
    // old blocks read for merging are usually exactly the bytes to keep.
    const wasEmpty = size === 0 && oldEnd - start === BLOCK_OVERHEAD;
    let saved = grows && !wasEmpty ? (old && start + old.length === oldEnd ? old : io.pread(start, oldEnd - start)) : null;
    const oldBytes = (): Buffer | null => {
      if (!saved && grows) {
        saved = Buffer.allocUnsafe(BLOCK_OVERHEAD);
        sealBlockInto(this.key, this.fileId, 0, true, ZERO_PLAIN.subarray(0, 0), saved, 0);
      }
      return saved;
    };
    const commit = () => {
      if (this.journal && oldEnd > start && this.journal.needsRecord(io, start, w)) {
        const doneTag = out.subarray(w - 16, w);
        if (covered && start + w <= oldEnd) {
          // Whole blocks replaced in place: the record holds the new sealed
          // bytes (redo), so the old ones need not be read. A kill before the
          // record is whole leaves the old blocks untouched; after it, the
          // next open finishes the write (docs/FORMAT-FILES.md, "Format 2").
          this.journal.record(io, { sizeTo: oldEnd, restoreAt: start, bytes: out.subarray(0, w), doneAt: start + w, doneTag });
        } else {
          // what the write changes in place goes back if it is cut short (undo)
          const inPlace = Math.min(start + w, oldEnd) - start;
          const kept = grows ? oldBytes() : null;
          const undo =
            old && old.length >= inPlace ? old.subarray(0, inPlace) : kept && kept.length >= inPlace ? kept.subarray(0, inPlace) : io.pread(start, inPlace);
          this.journal.record(io, { sizeTo: oldEnd, restoreAt: start, bytes: undo, doneAt: start + w, doneTag });
        }
      }
      try {
        io.pwrite(out.subarray(0, w), start);
        // the new final block, if this write ends the file: the next append's old bytes
        if (last === finalNew && start + w >= oldEnd && io.keepTail) {
          const tailLen = blockPlainLength(newSize, last) + BLOCK_OVERHEAD;
          io.keepTail(start + w - tailLen, out.subarray(w - tailLen, w));
        }
      } catch (err) {
        if (start + w > oldEnd) {
          try {
            const back = oldBytes();
            if (back) io.pwrite(back, start);
            io.ftruncate(oldEnd);
          } catch {
            /* the error below says what happened */
          }
        }
        throw err;
      }
    };
    // With the space reserved, the copy into the lower file may follow the
    // reply (the writer's next request overlaps it); else it happens here.
    if (!afterReply || !io.writeAfterReply?.(start, w, commit)) commit();
  }

  write(io: LowerIO, offset: number, data: Buffer): void {
    if (data.length === 0) return;
    if (offset + data.length > MAX_FILE_SIZE) fail(E.EFBIG);
    let lowerSize: number | undefined = io.size();
    let size = this.layout.plaintextSizeOf(lowerSize);
    const startBlock = Math.floor(offset / BLOCK_PLAIN);
    if (offset > size && startBlock >= lastBlockOf(size) + 2) {
      // a gap of whole blocks past EOF: holes, with the write's first block
      // as the new final one (re-sealed with the data just below)
      const grown = startBlock * BLOCK_PLAIN + 1;
      this.grow(io, size, grown);
      size = grown;
      lowerSize = undefined;
    }
    const newSize = Math.max(size, offset + data.length);
    const lo = Math.min(offset, size);
    let first = Math.floor(lo / BLOCK_PLAIN);
    if (newSize > size && size > 0) first = Math.min(first, lastBlockOf(size)); // old final loses its flag
    const last = Math.floor((Math.max(offset + data.length, newSize > size ? newSize : 0) - 1) / BLOCK_PLAIN);
    if (this.journal) {
      // one write record holds the old bytes of one block: the blocks before
      // the last one rewritten in place go one at a time (the size unchanged)
      const lastInPlace = Math.min(last, lastBlockOf(size));
      for (; first < lastInPlace; first++) this.rewrite(io, size, size, first, first, offset, data, lowerSize);
    }
    this.rewrite(io, size, newSize, first, last, offset, data, lowerSize, true);
  }

  /**
   * Grows the file from `size` to `newSize`. Within the next block: the old
   * final block is re-sealed with zeros after its data. Further: the old final
   * block is re-sealed as a whole block (or left as a hole when it held only
   * zeros), the new final block is sealed at its place, and the blocks in
   * between are a hole of the lower file: no time and no space for the gap.
   */
  private grow(io: LowerIO, size: number, newSize: number): void {
    const oldFinal = lastBlockOf(size);
    const newFinal = lastBlockOf(newSize);
    if (newFinal < oldFinal + 2) {
      this.rewrite(io, size, newSize, oldFinal, newFinal, size, null);
      return;
    }
    io.settle?.();
    const start = this.layout.lowerOffsetOfBlock(oldFinal);
    const saved = io.pread(start, io.size() - start);
    const n = openBlockAt(this.key, this.fileId, oldFinal, true, saved, 0, saved.length, MERGE_BLOCK, 0);
    MERGE_BLOCK.fill(0, n);
    const keepOld = !MERGE_BLOCK.subarray(0, n).equals(ZERO_PLAIN.subarray(0, n));
    this.sparse.set(io, true); // before the first hole exists
    const out = sealScratch(2 * BLOCK_LOWER);
    const o = keepOld ? sealBlockInto(this.key, this.fileId, oldFinal, false, MERGE_BLOCK, out, 0) : 0;
    const w = sealBlockInto(this.key, this.fileId, newFinal, true, ZERO_PLAIN.subarray(0, blockPlainLength(newSize, newFinal)), out, BLOCK_LOWER);
    const newAt = this.layout.lowerOffsetOfBlock(newFinal);
    this.journal?.record(io, {
      sizeTo: start + saved.length,
      restoreAt: start,
      bytes: saved,
      doneAt: newAt + w,
      doneTag: out.subarray(BLOCK_LOWER + w - 16, BLOCK_LOWER + w),
    });
    try {
      if (keepOld) io.pwrite(out.subarray(0, o), start);
      else io.ftruncate(start);
      io.pwrite(out.subarray(BLOCK_LOWER, BLOCK_LOWER + w), newAt);
    } catch (err) {
      // ENOSPC, or EFBIG from a lower filesystem with a smaller limit: the old file back
      try {
        io.ftruncate(start);
        io.pwrite(saved, start);
      } catch {
        /* the error below says what happened */
      }
      throw err;
    }
  }

  truncate(io: LowerIO, newSize: number): void {
    if (newSize > MAX_FILE_SIZE) fail(E.EFBIG);
    const size = this.layout.plaintextSizeOf(io.size());
    if (newSize === size) return;
    if (newSize > size) {
      this.grow(io, size, newSize);
      return;
    }
    // shrink: re-seal the new final block (partial or the empty block), then cut
    const b = lastBlockOf(newSize);
    const keep = blockPlainLength(newSize, b);
    const len = blockPlainLength(size, b) + BLOCK_OVERHEAD;
    const sealed = io.pread(this.layout.lowerOffsetOfBlock(b), len);
    if (newSize > 0) this.openAt(io, {}, b, b === lastBlockOf(size), sealed, 0, sealed.length, PLAIN_SCRATCH, 0);
    const out = Buffer.allocUnsafe(keep + BLOCK_OVERHEAD);
    sealBlockInto(this.key, this.fileId, b, true, PLAIN_SCRATCH.subarray(0, keep), out, 0);
    // the cut and the new final block: replayed whole if a kill falls between them
    const newLower = this.layout.lowerSizeOf(newSize);
    this.journal?.record(io, {
      sizeTo: newLower,
      restoreAt: this.layout.lowerOffsetOfBlock(b),
      bytes: out,
      doneAt: newLower,
      doneTag: out.subarray(out.length - 16),
    });
    io.ftruncate(newLower);
    io.pwrite(out, this.layout.lowerOffsetOfBlock(b));
    // an empty file has no holes: every block it gets from now on is authenticated again
    if (newSize === 0) this.sparse.set(io, false);
  }

  /**
   * SEEK_DATA / SEEK_HOLE. A hole is a block whose lower bytes are all zero
   * (in a file that may hold holes); the lower file's own SEEK_DATA/SEEK_HOLE
   * skips runs of unallocated or wholly allocated blocks, and the blocks at
   * their edges are read. Past SEEK_READ_BUDGET reads the answer is the
   * conservative one POSIX allows (a hole reported as data).
   */
  seek(io: LowerIO, offset: number, whence: SeekWhence): number {
    const size = this.layout.plaintextSizeOf(io.size());
    if (offset >= size) fail(E.ENXIO);
    const wantHole = whence === 'hole';
    if (!this.holesAllowed(io, {})) return wantHole ? size : offset;
    const final = lastBlockOf(size);
    const buf = scratch(BLOCK_LOWER);
    let budget = SEEK_READ_BUDGET;
    let b = Math.floor(offset / BLOCK_PLAIN);
    while (b < final) {
      const at = this.layout.lowerOffsetOfBlock(b);
      const next = io.seek?.(at, whence);
      if (next !== undefined) {
        // data: none of b's lower bytes allocated (a hole); hole: all of them (data)
        const skip = wantHole ? next >= at + BLOCK_LOWER : next < 0 || next >= at + BLOCK_LOWER;
        if (skip) {
          b = next < 0 ? final : Math.max(b + 1, this.layout.blockAtLowerOffset(next));
          continue;
        }
      }
      if (budget-- === 0) break;
      const hole = isHoleBlock(buf, 0, io.preadInto(buf, at));
      if (hole === wantHole) return Math.max(offset, b * BLOCK_PLAIN);
      b++;
    }
    return wantHole ? size : Math.max(offset, Math.min(b, final) * BLOCK_PLAIN);
  }

  /**
   * fallocate: the lower bytes of every block in the range are allocated
   * (KEEP_SIZE on the lower file, so past EOF the space waits for the blocks
   * that will be written there); without keepSize the file then grows, with
   * holes, which the allocated lower bytes keep: writes there cannot fail for
   * want of space.
   */
  allocate(io: LowerIO, offset: number, length: number, keepSize: boolean): void {
    const end = offset + length;
    if (end > MAX_FILE_SIZE) fail(E.EFBIG);
    if (!io.reserve) fail(E.EOPNOTSUPP);
    const from = this.layout.lowerOffsetOfBlock(Math.floor(offset / BLOCK_PLAIN));
    io.reserve(from, this.layout.lowerOffsetOfBlock(Math.ceil(end / BLOCK_PLAIN)) - from);
    const size = this.layout.plaintextSizeOf(io.size());
    if (!keepSize && end > size) this.grow(io, size, end);
  }

  /**
   * FALLOC_FL_PUNCH_HOLE (with KEEP_SIZE): whole blocks inside the range
   * become holes of the lower file (its space freed); the parts of blocks at
   * the edges, and the final block, are re-sealed with zeros.
   */
  punchHole(io: LowerIO, offset: number, length: number): void {
    const size = this.layout.plaintextSizeOf(io.size());
    const end = Math.min(size, offset + length);
    if (offset >= end) return;
    const holeFrom = Math.ceil(offset / BLOCK_PLAIN);
    const holeTo = Math.min(Math.floor(end / BLOCK_PLAIN), lastBlockOf(size)); // the final block stays sealed
    if (holeFrom >= holeTo) {
      this.write(io, offset, Buffer.alloc(end - offset));
      return;
    }
    if (!io.punch) fail(E.EOPNOTSUPP);
    this.sparse.set(io, true);
    io.settle?.();
    this.journal?.clear(io); // an older record must not put back bytes of what is punched
    io.punch(this.layout.lowerOffsetOfBlock(holeFrom), (holeTo - holeFrom) * BLOCK_LOWER);
    if (offset < holeFrom * BLOCK_PLAIN) this.write(io, offset, ZERO_PLAIN.subarray(0, holeFrom * BLOCK_PLAIN - offset));
    if (holeTo * BLOCK_PLAIN < end) this.write(io, holeTo * BLOCK_PLAIN, ZERO_PLAIN.subarray(0, end - holeTo * BLOCK_PLAIN));
  }
}
