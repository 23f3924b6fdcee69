// The LUKS2 format against committed vectors from the real peers (headers by
// cryptsetup luksFormat, data by the kernel's dm-crypt), and its pieces'
// properties: AF split/merge, the IV rule for large sectors, unaligned I/O.
import { describe, expect, it, afterAll } from 'vitest';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { REPO, tempDir } from './helpers.js';
import { Device } from '../../src/block/device.js';
import { dataSegment, formatVolume, loadHeader, segmentLength, unlock } from '../../src/block/luks2-volume.js';
import { VolumeFile } from '../../src/block/volume-file.js';
import { afMerge, afSplit } from '../../src/format/luks2/af-splitter.js';
import { cryptSectors, testing } from '../../src/format/luks2/sector-cipher.js';
import { WrongPassphraseError } from '../../src/errors.js';

const VECTORS = join(REPO, 'test/vectors/luks2');
const tmp = tempDir('format');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function vectorPlaintext(bytes: number): Buffer {
  const out: Buffer[] = [];
  for (let k = 0; k < bytes / 32; k++) {
    const be = Buffer.alloc(4);
    be.writeUInt32BE(k);
    out.push(createHash('sha256').update('homecrypt-luks2-vector').update(be).digest());
  }
  return Buffer.concat(out);
}

describe('committed vectors (cryptsetup header, dm-crypt data)', () => {
  const names = readdirSync(VECTORS).filter((f) => f.endsWith('.json'));
  it('has vectors for argon2id/4096-byte sectors and pbkdf2/512-byte sectors', () => {
    expect(names.sort()).toEqual(['argon2id-xts512-4k.json', 'pbkdf2-xts256-512.json']);
  });
  for (const name of names) {
    it(`${name}: header, keyslot, digest and data segment read exactly`, async () => {
      const v = JSON.parse(readFileSync(join(VECTORS, name), 'utf8'));
      const img = join(tmp, name.replace('.json', '.img'));
      const bytes = gunzipSync(readFileSync(join(VECTORS, name.replace('.json', '.img.gz'))));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(v.imageSha256);
      writeFileSync(img, bytes);
      const dev = Device.open(img, false);
      try {
        const { header, warnings } = loadHeader(dev);
        expect(warnings).toEqual([]);
        expect(header.metadata.raw).toEqual(v.metadata);
        const seg = dataSegment(header.metadata, img);
        expect(seg.sectorSize).toBe(v.metadata.segments['0'].sector_size);
        const u = await unlock(dev, header, Buffer.from(v.passphrase));
        expect(u.volumeKey.toString('hex')).toBe(v.volumeKeyHex);
        await expect(unlock(dev, header, Buffer.from(`${v.passphrase}x`))).rejects.toBeInstanceOf(WrongPassphraseError);
        const vf = new VolumeFile(dev, seg.offset, segmentLength(seg, dev.size, dev.path), u.volumeKey, seg.sectorSize, seg.ivTweak);
        const plain = Buffer.alloc(v.plaintextBytes);
        expect(vf.read(0, plain)).toBe(v.plaintextBytes);
        expect(createHash('sha256').update(plain).digest('hex')).toBe(v.plaintextSha256);
        expect(plain.equals(vectorPlaintext(v.plaintextBytes))).toBe(true);
        // an unaligned read in the middle agrees
        const mid = Buffer.alloc(5000);
        vf.read(777, mid);
        expect(mid.equals(plain.subarray(777, 5777))).toBe(true);
      } finally {
        dev.close();
      }
    });
  }
});

describe('AF splitter', () => {
  it('merges what it split, for every hash and odd key sizes', () => {
    for (const hash of ['sha1', 'sha256', 'sha512']) {
      for (const size of [16, 32, 33, 64]) {
        const key = randomBytes(size);
        const split = afSplit(key, 4000, hash);
        expect(split.length).toBe(size * 4000);
        expect(afMerge(split, size, 4000, hash).equals(key)).toBe(true);
        split[size * 17] ^= 1; // any damaged stripe destroys the key
        expect(afMerge(split, size, 4000, hash).equals(key)).toBe(false);
      }
    }
  });
});

describe('aes-xts-plain64 IVs', () => {
  it('counts 512-byte units for 4096-byte sectors, unless iv_large_sectors', () => {
    const key = randomBytes(64);
    const data = randomBytes(4096);
    const ivOf = (n: number) => {
      const iv = Buffer.alloc(16);
      iv.writeBigUInt64LE(BigInt(n));
      return iv;
    };
    const xts = (n: number) => {
      const c = createCipheriv('aes-256-xts', key, ivOf(n));
      return Buffer.concat([c.update(data), c.final()]);
    };
    const a = Buffer.from(data);
    cryptSectors({ key, sectorSize: 4096, ivTweak: 0 }, 8192, a, true);
    expect(a.equals(xts(16))).toBe(true);
    const b = Buffer.from(data);
    cryptSectors({ key, sectorSize: 4096, ivTweak: 0, ivLargeSectors: true }, 8192, b, true);
    expect(b.equals(xts(2))).toBe(true);
    const c = Buffer.from(data);
    cryptSectors({ key, sectorSize: 4096, ivTweak: 5 }, 8192, c, true);
    expect(c.equals(xts(21))).toBe(true);
  });

  it('the ECB composition gives the same bytes as OpenSSL XTS per sector, aligned or not, both ways', () => {
    for (const keyLen of [32, 64]) {
      for (const sectorSize of [512, 4096]) {
        for (const ivLargeSectors of [false, true]) {
          const p = { key: randomBytes(keyLen), sectorSize, ivTweak: 12345, ivLargeSectors };
          const plain = randomBytes(sectorSize * 7);
          const want = Buffer.from(plain);
          testing.cryptSectorsOneByOne(p, sectorSize * 9, want, true);
          const got = Buffer.from(plain);
          cryptSectors(p, sectorSize * 9, got, true);
          expect(got.equals(want)).toBe(true);
          const odd = Buffer.alloc(plain.length + 1).subarray(1); // not 4-byte aligned
          plain.copy(odd);
          cryptSectors(p, sectorSize * 9, odd, true);
          expect(odd.equals(want)).toBe(true);
          cryptSectors(p, sectorSize * 9, got, false);
          expect(got.equals(plain)).toBe(true);
        }
      }
    }
  });
});

describe('a volume homecrypt formats', () => {
  it('keeps unaligned reads and writes consistent with a plain shadow copy', async () => {
    for (const sectorSize of [512, 4096] as const) {
      const img = join(tmp, `rw-${sectorSize}.img`);
      writeFileSync(img, Buffer.alloc(17 * 1024 * 1024));
      const dev = Device.open(img, true);
      try {
        const { volumeKey, header } = await formatVolume(dev, Buffer.from('pw'), { sectorSize, kdfSeconds: 0.02 });
        const seg = dataSegment(header.metadata, img);
        const size = segmentLength(seg, dev.size, dev.path);
        expect(size).toBe(1024 * 1024);
        const vf = new VolumeFile(dev, seg.offset, size, volumeKey, seg.sectorSize, seg.ivTweak);
        const shadow = Buffer.alloc(size);
        vf.write(0, shadow);
        for (let i = 0; i < 300; i++) {
          const pos = Math.floor(Math.random() * size);
          const len = 1 + Math.floor(Math.random() * 20000);
          if (Math.random() < 0.5) {
            const d = randomBytes(len);
            const n = vf.write(pos, d);
            expect(n).toBe(Math.min(len, size - pos));
            d.copy(shadow, pos, 0, n);
          } else {
            const out = Buffer.alloc(len);
            const n = vf.read(pos, out);
            expect(out.subarray(0, n).equals(shadow.subarray(pos, pos + n))).toBe(true);
          }
        }
        const all = Buffer.alloc(size);
        vf.read(0, all);
        expect(all.equals(shadow)).toBe(true);
        // and the ciphertext on disk is not the plaintext
        expect(dev.read(seg.offset, 4096).equals(shadow.subarray(0, 4096))).toBe(false);
      } finally {
        dev.close();
      }
    }
  });
});
