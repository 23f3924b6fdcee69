// An in-memory lower file for testing FileCiphers without a filesystem.
import type { LowerIO } from '../../src/engine/volume-format.js';

export class MemIO implements LowerIO {
  data: Buffer;
  /** What the format knows of its record slot (the engine keeps it per inode). */
  slotEmpty?: boolean;
  constructor(
    initial: Buffer = Buffer.alloc(0),
    readonly lowerPath = 'mem',
  ) {
    this.data = Buffer.from(initial);
  }
  pread(offset: number, length: number): Buffer {
    return Buffer.from(this.data.subarray(offset, Math.min(this.data.length, offset + length)));
  }
  preadInto(target: Buffer, offset: number): number {
    return this.data.copy(target, 0, offset, Math.min(this.data.length, offset + target.length));
  }
  pwrite(d: Buffer, offset: number): void {
    if (offset + d.length > this.data.length) {
      const n = Buffer.alloc(offset + d.length);
      this.data.copy(n);
      this.data = n;
    }
    d.copy(this.data, offset);
  }
  ftruncate(length: number): void {
    const n = Buffer.alloc(length);
    this.data.copy(n, 0, 0, Math.min(length, this.data.length));
    this.data = n;
  }
  size(): number {
    return this.data.length;
  }
  /** fallocate KEEP_SIZE: nothing to reserve in memory. */
  reserve(): void {}
  /** PUNCH_HOLE: the range reads as zeros (the size stays). */
  punch(offset: number, length: number): void {
    this.data.fill(0, offset, Math.min(this.data.length, offset + length));
  }
  /** Lower blocks that are not all zero (what a real lower file would allocate). */
  written(blockSize = 4096): number {
    const zero = Buffer.alloc(blockSize);
    let n = 0;
    for (let at = 0; at < this.data.length; at += blockSize) {
      const b = this.data.subarray(at, at + blockSize);
      if (!b.equals(zero.subarray(0, b.length))) n++;
    }
    return n;
  }
}
