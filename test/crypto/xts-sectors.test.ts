// The block engine's AES-XTS: libcrypto's XTS through koffi (one reused context,
// re-IVed per sector) gives the same bytes as the ECB composition it replaces
// and as Node's own aes-xts one sector at a time, for 512 and 4096-byte
// sectors, both key sizes, with and without iv_large_sectors.
import { afterEach, describe, expect, it } from 'vitest';
import { createCipheriv, randomBytes, randomInt } from 'node:crypto';
import { xtsSectors, setXtsSectorsForTest } from '../../src/crypto/xts-sectors.js';
import { cryptSectors, cryptSectorsInto, testing, type SectorCipherParams } from '../../src/format/luks2/sector-cipher.js';

/** dm-crypt plain64 straight from the definition, with Node's aes-xts. */
function reference(p: SectorCipherParams, byteOffset: number, data: Buffer, encrypt: boolean): Buffer {
  const out = Buffer.from(data);
  testing.cryptSectorsOneByOne(p, byteOffset, out, encrypt);
  return out;
}

describe('AES-XTS sectors through libcrypto', () => {
  afterEach(() => setXtsSectorsForTest(undefined));

  it('loads libcrypto on Debian (libssl3 is always there with cryptsetup)', () => {
    expect(xtsSectors()).not.toBeNull();
  });

  it('is byte-identical to the Node paths: random data, keys, sector numbers', () => {
    const fast = xtsSectors()!;
    for (let i = 0; i < 160; i++) {
      const keyLen = i % 2 ? 64 : 32;
      const sectorSize = i % 4 < 2 ? 512 : 4096;
      const ivLargeSectors = i % 8 >= 6;
      const p: SectorCipherParams = { key: randomBytes(keyLen), sectorSize, ivTweak: i % 5 === 0 ? randomInt(0, 2 ** 40) : 0, ivLargeSectors };
      const sectors = 1 + randomInt(0, 9);
      const byteOffset = sectorSize * (i % 3 === 0 ? randomInt(0, 2 ** 36) : randomInt(0, 2 ** 20));
      const plain = randomBytes(sectors * sectorSize);
      const ref = reference(p, byteOffset, plain, true);

      const viaEngine = Buffer.from(plain);
      cryptSectors(p, byteOffset, viaEngine, true);
      const viaEcb = Buffer.from(plain);
      testing.cryptSectorsNode(p, byteOffset, viaEcb, true);
      const unit = ivLargeSectors ? sectorSize : 512;
      const direct = Buffer.from(plain);
      expect(fast.crypt(p.key, sectorSize, BigInt(p.ivTweak) + BigInt(byteOffset / unit), sectorSize / unit, direct, true)).toBe(true);

      expect(viaEngine.equals(ref)).toBe(true);
      expect(viaEcb.equals(ref)).toBe(true);
      expect(direct.equals(ref)).toBe(true);

      cryptSectors(p, byteOffset, viaEngine, false);
      expect(viaEngine.equals(plain)).toBe(true);
      expect(reference(p, byteOffset, ref, false).equals(plain)).toBe(true);
    }
  });

  it('a 4096-byte sector counts its IV in 512-byte units (LUKS2), or in sectors with iv_large_sectors', () => {
    const key = randomBytes(64);
    const plain = randomBytes(4096);
    const enc = (ivLargeSectors: boolean, byteOffset: number) => {
      const b = Buffer.from(plain);
      cryptSectors({ key, sectorSize: 4096, ivTweak: 0, ivLargeSectors }, byteOffset, b, true);
      return b;
    };
    const xts = (iv: number) => {
      const v = Buffer.alloc(16);
      v.writeUInt32LE(iv, 0);
      const c = createCipheriv('aes-256-xts', key, v);
      return Buffer.concat([c.update(plain), c.final()]);
    };
    expect(enc(false, 8192).equals(xts(16))).toBe(true);
    expect(enc(true, 8192).equals(xts(2))).toBe(true);
  });

  it('IVs past 2^53 and wrapping at 2^64 match the BigInt reference', () => {
    const fast = xtsSectors()!;
    const key = randomBytes(64);
    for (const first of [2n ** 53n - 2n, 2n ** 64n - 2n]) {
      const data = randomBytes(4 * 512);
      const a = Buffer.from(data);
      expect(fast.crypt(key, 512, first, 1, a, true)).toBe(true);
      for (let s = 0; s < 4; s++) {
        const iv = Buffer.alloc(16);
        iv.writeBigUInt64LE((first + BigInt(s)) % 2n ** 64n, 0);
        const c = createCipheriv('aes-256-xts', key, iv);
        expect(Buffer.concat([c.update(data.subarray(s * 512, (s + 1) * 512)), c.final()]).equals(a.subarray(s * 512, (s + 1) * 512))).toBe(true);
      }
    }
  });

  it('a key with equal halves (OpenSSL refuses it) still works through the Node path', () => {
    const half = randomBytes(32);
    const p: SectorCipherParams = { key: Buffer.concat([half, half]), sectorSize: 512, ivTweak: 0 };
    const plain = randomBytes(2048);
    const b = Buffer.from(plain);
    cryptSectors(p, 4096, b, true);
    const viaEcb = Buffer.from(plain);
    testing.cryptSectorsNode(p, 4096, viaEcb, true);
    expect(b.equals(viaEcb)).toBe(true);
    cryptSectors(p, 4096, b, false);
    expect(b.equals(plain)).toBe(true);
  });

  it('falls back to the Node path when libcrypto is not available', () => {
    setXtsSectorsForTest(null);
    const p: SectorCipherParams = { key: randomBytes(64), sectorSize: 4096, ivTweak: 0 };
    const plain = randomBytes(8192);
    const b = Buffer.from(plain);
    cryptSectors(p, 4096 * 9, b, true);
    expect(b.equals(reference(p, 4096 * 9, plain, true))).toBe(true);
  });

  it("encrypts out of place (the engine's write path) to the same bytes, leaving the source, also on the Node path", () => {
    for (const impl of [undefined, null] as const) {
      setXtsSectorsForTest(impl);
      for (const sectorSize of [512, 4096]) {
        const p: SectorCipherParams = { key: randomBytes(64), sectorSize, ivTweak: 3 };
        const plain = randomBytes(sectorSize * 9);
        const src = Buffer.from(plain);
        const dst = Buffer.alloc(plain.length);
        cryptSectorsInto(p, sectorSize * 5, src, dst, true);
        expect(src.equals(plain)).toBe(true);
        expect(dst.equals(reference(p, sectorSize * 5, plain, true))).toBe(true);
      }
    }
    setXtsSectorsForTest(undefined);
    const fast = xtsSectors()!;
    const buf = randomBytes(4096);
    expect(() => fast.crypt(randomBytes(64), 512, 0n, 1, buf.subarray(0, 2048), true, buf.subarray(1024, 3072))).toThrow(/overlaps/);
    expect(() => fast.crypt(randomBytes(64), 512, 0n, 1, buf.subarray(0, 2048), true, Buffer.alloc(1024))).toThrow(/bad sizes/);
  });
});
