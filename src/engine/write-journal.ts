// Crash safety of format-2 files: before a write changes lower bytes that
// already hold sealed data (re-sealing a block in place, cutting the file),
// it leaves a write record in the file's slot (format/write-record.ts) that
// puts the file back (or forward) to a whole state. A kill can tear a pwrite
// at any page boundary and can fall between two syscalls; the record is
// written whole before the change starts, and a torn record does not
// authenticate (the change had not started). The first open after a crash
// applies a record whose write did not finish (its last tag is not in place).
//
// One change needs no record: a single pwrite that lies within one page, when
// the slot is known to be empty. A kill cannot tear it (the premise above),
// so it lands whole or not at all; and no record is there whose doneTag it
// could overwrite (an older, finished record whose tag the write replaced
// would look unfinished, and the next open would undo that write and this
// one). A new small file's first write is such a change: that is most files
// of an untar, which no longer pay a record and the slot's emptying at close.
import type { LowerIO } from './volume-format.js';
import {
  RECORD_AT,
  RECORD_HEAD_BYTES,
  RECORD_MAGIC,
  RECORD_OVERHEAD,
  encodeWriteRecordInto,
  openWriteRecord,
  recordCapacity,
  writeRecordLength,
  type WriteRecord,
} from '../format/write-record.js';

// Records are written one at a time on the JS thread (and before the change
// they cover starts): one buffer serves them all, no allocation per write.
let recordBuf = Buffer.allocUnsafe(RECORD_OVERHEAD + 4124);
function recordScratch(length: number): Buffer {
  if (recordBuf.length < length) recordBuf = Buffer.allocUnsafe(length);
  return recordBuf;
}

/** The kernel's smallest page: a write inside one such aligned window is inside one page (or folio) of any size. */
const PAGE = 4096;

export class WriteJournal {
  readonly capacity: number;
  /** A record of this handle may be in the slot. */
  private wrote = false;
  constructor(
    private readonly key: Buffer,
    private readonly fileId: Buffer,
    private readonly body: number,
  ) {
    this.capacity = recordCapacity(body);
  }

  /**
   * True when one pwrite of lower bytes [at, at+length) needs a record first;
   * false when it lies within one page and the slot is known to be empty
   * (see the top of this file).
   */
  needsRecord(io: LowerIO, at: number, length: number): boolean {
    return io.slotEmpty !== true || Math.floor(at / PAGE) !== Math.floor((at + length - 1) / PAGE);
  }

  /** Leaves `r` in the slot; the change it covers may start once this returns. */
  record(io: LowerIO, r: WriteRecord): void {
    this.wrote = true;
    if (r.bytes.length > this.capacity) throw new Error(`write record of ${r.bytes.length} bytes does not fit its slot`);
    const out = recordScratch(RECORD_OVERHEAD + r.bytes.length);
    io.slotEmpty = false; // before the write: a failed or torn one may leave something there
    io.pwrite(out.subarray(0, encodeWriteRecordInto(out, this.key, this.fileId, r)), RECORD_AT);
  }

  /** Empties the slot: before a change no record covers (a punched hole), so an older record cannot undo it. */
  clear(io: LowerIO): void {
    if (this.wrote || hasRecord(io)) io.pwrite(Buffer.alloc(4), RECORD_AT);
    this.wrote = false;
    io.slotEmpty = true;
  }

  /**
   * Empties the slot if this handle wrote a record (its write is done by now).
   * The file's times stay as they are: a `cp -a` or `tar` set them just before
   * the close, and emptying the slot is not a change of the user's data.
   */
  release(io: LowerIO): void {
    if (!this.wrote) return;
    if (io.keepingTimes) io.keepingTimes(() => this.clear(io));
    else this.clear(io);
  }

  /** The record whose write did not finish, if any. */
  pending(io: LowerIO): WriteRecord | null {
    const head = io.pread(RECORD_AT, RECORD_HEAD_BYTES);
    const len = writeRecordLength(head, this.capacity);
    if (len === 0) return null;
    const r = openWriteRecord(this.key, this.fileId, io.pread(RECORD_AT, len), this.body);
    if (!r) return null;
    const done = io.size() >= r.doneAt && io.pread(r.doneAt - 16, 16).equals(r.doneTag);
    return done ? null : r;
  }

  /** Applies a pending record and empties the slot; true when there was one. */
  recover(io: LowerIO): boolean {
    const r = this.pending(io);
    if (!r) return false;
    io.ftruncate(r.sizeTo);
    io.pwrite(r.bytes, r.restoreAt);
    io.pwrite(Buffer.alloc(4), RECORD_AT);
    io.slotEmpty = true;
    return true;
  }
}

/**
 * True when the slot holds something that looks like a record (one short
 * read); what it saw is kept in `io.slotEmpty`.
 */
export function hasRecord(io: LowerIO): boolean {
  const found = io.pread(RECORD_AT, 4).equals(RECORD_MAGIC);
  io.slotEmpty = !found;
  return found;
}

/**
 * The file as it will be once `r` is applied, without changing it (fsck):
 * the size is sizeTo and the restored bytes read in place.
 */
export function recoveredView(io: LowerIO, r: WriteRecord): LowerIO {
  const end = r.restoreAt + r.bytes.length;
  const overlay = (target: Buffer, offset: number, got: number): number => {
    const from = Math.max(offset, r.restoreAt);
    const to = Math.min(offset + got, end);
    if (from < to) r.bytes.copy(target, from - offset, from - r.restoreAt, to - r.restoreAt);
    return got;
  };
  const readOnly = (): never => {
    throw new Error('a recovered view is read-only');
  };
  return {
    lowerPath: io.lowerPath,
    size: () => r.sizeTo,
    pread(offset, length) {
      const buf = Buffer.alloc(Math.max(0, Math.min(length, r.sizeTo - offset)));
      this.preadInto(buf, offset);
      return buf;
    },
    preadInto(target, offset) {
      const want = target.subarray(0, Math.max(0, Math.min(target.length, r.sizeTo - offset)));
      const got = io.preadInto(want, offset);
      // bytes the record restores may lie past what the torn file still has
      if (got < want.length) want.fill(0, got);
      return overlay(target, offset, want.length);
    },
    pwrite: readOnly,
    ftruncate: readOnly,
  };
}
