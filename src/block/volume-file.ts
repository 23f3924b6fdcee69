// The decrypted data segment as a byte-addressable file: what the userspace
// engine serves. Reads and writes of any alignment are widened to whole
// sectors; partial sectors are read, decrypted, merged and re-encrypted.
// Calls are synchronous, so two requests never interleave inside one sector.
import { cryptSectors, cryptSectorsInto, type SectorCipherParams } from '../format/luks2/sector-cipher.js';
import type { Device } from './device.js';

export class VolumeFile {
  private readonly cipher: SectorCipherParams;
  /** Ciphertext of whole-sector writes, reused (grown to the largest request). */
  private sealed = Buffer.alloc(0);

  constructor(
    private readonly dev: Device,
    /** byte offset of the segment on the device */
    private readonly segmentOffset: number,
    /** plaintext bytes the segment holds */
    readonly size: number,
    key: Buffer,
    sectorSize: number,
    ivTweak: number,
  ) {
    this.cipher = { key, sectorSize, ivTweak };
  }

  get sectorSize(): number {
    return this.cipher.sectorSize;
  }

  /** Fills `out` from plaintext offset `pos`; returns bytes read (short at the end). */
  read(pos: number, out: Buffer): number {
    if (pos >= this.size) return 0;
    const len = Math.min(out.length, this.size - pos);
    const ss = this.cipher.sectorSize;
    const start = pos - (pos % ss);
    const end = Math.min(this.size, Math.ceil((pos + len) / ss) * ss);
    if (start === pos && end === pos + len) {
      const dst = out.subarray(0, len);
      this.dev.readInto(this.segmentOffset + start, dst);
      cryptSectors(this.cipher, start, dst, false);
      return len;
    }
    const tmp = this.dev.read(this.segmentOffset + start, end - start);
    cryptSectors(this.cipher, start, tmp, false);
    tmp.copy(out, 0, pos - start, pos - start + len);
    tmp.fill(0);
    return len;
  }

  /** Writes `data` at plaintext offset `pos`; returns bytes written (short at the end). */
  write(pos: number, data: Buffer): number {
    if (pos >= this.size) return 0;
    const len = Math.min(data.length, this.size - pos);
    const ss = this.cipher.sectorSize;
    if (pos % ss === 0 && len % ss === 0) {
      // whole sectors (every write the kernel's writeback sends): encrypted
      // straight from the request into a reused buffer, no copy or allocation
      if (this.sealed.length < len) this.sealed = Buffer.alloc(len);
      const out = this.sealed.subarray(0, len);
      cryptSectorsInto(this.cipher, pos, data.subarray(0, len), out, true);
      this.dev.write(this.segmentOffset + pos, out);
      return len;
    }
    const start = pos - (pos % ss);
    const end = Math.min(this.size, Math.ceil((pos + len) / ss) * ss);
    const buf = Buffer.allocUnsafe(end - start);
    if (start !== pos) this.readSector(start, buf.subarray(0, ss));
    if (end !== pos + len && (end - ss >= start + ss || start === pos)) this.readSector(end - ss, buf.subarray(buf.length - ss));
    data.copy(buf, pos - start, 0, len);
    cryptSectors(this.cipher, start, buf, true);
    this.dev.write(this.segmentOffset + start, buf);
    return len;
  }

  private readSector(at: number, into: Buffer): void {
    this.dev.readInto(this.segmentOffset + at, into);
    cryptSectors(this.cipher, at, into, false);
  }

  flush(): void {
    this.dev.sync();
  }
}
