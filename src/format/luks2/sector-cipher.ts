// aes-xts-plain64 as dm-crypt applies it: each sector is one XTS data unit
// whose tweak is the little-endian 64-bit sector number (+ iv_tweak). For
// sectors larger than 512 bytes the number still counts 512-byte units unless
// dm-crypt's iv_large_sectors option is on: LUKS2 (cryptsetup) never sets it,
// so a 4096-byte sector at byte 8192 of a segment has IV 16, not 2.
import { createCipheriv, createDecipheriv } from 'node:crypto';

export interface SectorCipherParams {
  key: Buffer;
  sectorSize: number;
  ivTweak: number;
  /** dm-crypt's iv_large_sectors: count IVs in sectorSize units */
  ivLargeSectors?: boolean;
}

function xtsName(key: Buffer): string {
  if (key.length === 64) return 'aes-256-xts';
  if (key.length === 32) return 'aes-128-xts';
  throw new RangeError(`aes-xts needs a 32 or 64 byte key, not ${key.length}`);
}

/**
 * Encrypts or decrypts `data` in place. `byteOffset` is the position of data[0]
 * inside the segment; both it and data.length are multiples of the sector size.
 */
export function cryptSectors(p: SectorCipherParams, byteOffset: number, data: Buffer, encrypt: boolean): void {
  const { sectorSize } = p;
  if (byteOffset % sectorSize !== 0 || data.length % sectorSize !== 0) {
    throw new RangeError('sector cipher needs whole, aligned sectors');
  }
  const name = xtsName(p.key);
  const unit = p.ivLargeSectors ? sectorSize : 512;
  const iv = Buffer.alloc(16);
  for (let off = 0; off < data.length; off += sectorSize) {
    const ivNumber = BigInt(p.ivTweak) + BigInt((byteOffset + off) / unit);
    iv.writeBigUInt64LE(BigInt.asUintN(64, ivNumber), 0);
    const c = encrypt ? createCipheriv(name, p.key, iv) : createDecipheriv(name, p.key, iv);
    c.setAutoPadding(false);
    const sector = data.subarray(off, off + sectorSize);
    const out = c.update(sector);
    out.copy(sector);
    c.final();
  }
}
