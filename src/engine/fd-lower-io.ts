// Positioned I/O on an open lower file: the one LowerIO behind the engine's
// FUSE operations, fsck and the eCryptfs tools that work without a mount.
import { fstatSync, ftruncateSync, readSync, writeSync } from 'node:fs';
import type { LowerIO } from './volume-format.js';

export class FdLowerIO implements LowerIO {
  constructor(readonly fd: number, readonly lowerPath: string) {}

  pread(offset: number, length: number): Buffer {
    // zeroed, not allocUnsafe: a short read must not carry pooled memory
    // (other data of this process) in the returned buffer's backing store
    const buf = Buffer.alloc(length);
    const got = this.preadInto(buf, offset);
    return got === length ? buf : buf.subarray(0, got);
  }

  /** Reads until `target` is full or the file ends (readSync may return short). */
  preadInto(target: Buffer, offset: number): number {
    let got = 0;
    while (got < target.length) {
      const n = readSync(this.fd, target, got, target.length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return got;
  }

  pwrite(data: Buffer, offset: number): void {
    let done = 0;
    while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, offset + done);
  }

  ftruncate(length: number): void {
    ftruncateSync(this.fd, length);
  }

  size(): number {
    return fstatSync(this.fd).size;
  }
}

/** For fsck, which must change nothing: a write through it is a bug, so it throws. */
export class ReadOnlyLowerIO extends FdLowerIO {
  override pwrite(): void { throw new Error('fsck changes nothing'); }
  override ftruncate(): void { throw new Error('fsck changes nothing'); }
}
