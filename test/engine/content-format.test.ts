// The homecrypt v1 content format through its FileCipher, on an in-memory
// lower file: a random model (reads always equal a plain buffer's bytes) and
// every kind of tampering fails authentication.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { MountKeys } from '../../src/engine/mount-keys.js';
import { homecryptFormat } from '../../src/engine/homecrypt-format.js';
import { FILE_HEADER_BYTES, FLAG_SPARSE } from '../../src/format/file-header.js';
import { BLOCK_LOWER, MAX_FILE_SIZE, lowerOffsetOfBlock, lowerSizeOf, plaintextSizeOf } from '../../src/format/block-offsets.js';
import { FuseError } from '../../src/fuse/index.js';
import { AuthenticationError, CorruptFileError, KeyNotAvailableError } from '../../src/errors.js';
import { keyIdOf } from '../../src/crypto/key-id.js';
import { MemIO } from './mem-io.js';

const KEY = Buffer.alloc(32, 1);
function fmt(keys = new MountKeys(KEY, keyIdOf(KEY))) {
  return homecryptFormat(keys, { plaintextNames: false });
}

function newFile(f = fmt()) {
  const { bytes, cipher } = f.files.create();
  return { io: new MemIO(bytes), cipher, f };
}

function seeded(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

describe('content blocks', () => {
  it('sizes: lower size maps to plaintext size and back', () => {
    for (const n of [0, 1, 4095, 4096, 4097, 8192, 100000]) {
      expect(plaintextSizeOf(lowerSizeOf(n))).toBe(n);
    }
    expect(lowerSizeOf(0)).toBe(FILE_HEADER_BYTES + 28);
    expect(lowerSizeOf(4096)).toBe(FILE_HEADER_BYTES + BLOCK_LOWER);
  });

  it('a random mix of writes, truncates and reads always matches a plain buffer', () => {
    const rnd = seeded(42);
    const { io, cipher } = newFile();
    let model = Buffer.alloc(0);
    for (let i = 0; i < 400; i++) {
      const op = rnd(10);
      if (op < 6) {
        const off = rnd(3) === 0 ? model.length : rnd(40000);
        const data = randomBytes(rnd(3) === 0 ? rnd(20000) + 1 : rnd(300) + 1);
        cipher.write(io, off, data);
        if (off + data.length > model.length) {
          const n = Buffer.alloc(off + data.length);
          model.copy(n);
          model = n;
        }
        data.copy(model, off);
      } else if (op < 8) {
        const size = rnd(50000);
        cipher.truncate(io, size);
        const n = Buffer.alloc(size);
        model.copy(n, 0, 0, Math.min(size, model.length));
        model = n;
      } else {
        const off = rnd(model.length + 10);
        const len = rnd(20000);
        expect(cipher.read(io, off, len).equals(model.subarray(off, Math.min(model.length, off + len)))).toBe(true);
      }
      expect(cipher.plaintextSize(io.size())).toBe(model.length);
      expect(io.size()).toBe(lowerSizeOf(model.length));
    }
    expect(cipher.read(io, 0, model.length).equals(model)).toBe(true);
    cipher.verify!(io);
  });

  it('reopens through the header under the same mount key, and not under another', () => {
    const { io, cipher, f } = newFile();
    cipher.write(io, 0, Buffer.from('hello'));
    expect(f.files.open(io).read(io, 0, 100).toString()).toBe('hello');
    const other = Buffer.alloc(32, 2);
    expect(() => fmt(new MountKeys(other, keyIdOf(other))).files.open(io)).toThrow(KeyNotAvailableError);
  });

  it('new files use the current key; files under other loaded keys still open', () => {
    const keys = new MountKeys(KEY, keyIdOf(KEY));
    const f = fmt(keys);
    const a = f.files.create();
    const k2 = Buffer.alloc(32, 9);
    keys.add(k2);
    keys.currentKeyId = keyIdOf(k2);
    const b = f.files.create();
    expect(a.cipher.keyId).toBe(keyIdOf(KEY));
    expect(b.cipher.keyId).toBe(keyIdOf(k2));
    expect(f.files.open(new MemIO(a.bytes)).keyId).toBe(keyIdOf(KEY));
    expect(f.files.open(new MemIO(b.bytes)).keyId).toBe(keyIdOf(k2));
  });

  describe('tampering gives an authentication error, never wrong bytes', () => {
    const make = () => {
      const { io, cipher, f } = newFile();
      cipher.write(io, 0, randomBytes(3 * 4096 + 100));
      return { io, cipher, f };
    };
    const fails = (fn: () => unknown) => expect(fn).toThrow(AuthenticationError);

    it('a flipped bit in any block', () => {
      for (const at of [lowerOffsetOfBlock(0) + 20, lowerOffsetOfBlock(1) + 3, lowerOffsetOfBlock(3) + 50, lowerOffsetOfBlock(2) + BLOCK_LOWER - 1]) {
        const { io, cipher } = make();
        io.data[at]! ^= 1;
        fails(() => cipher.read(io, 0, 20000));
      }
    });

    it('a flipped bit in the header', () => {
      for (const at of [9, 25, 40, 60, 91]) {
        const { io, f } = make();
        io.data[at]! ^= 0x10;
        expect(() => f.files.open(io)).toThrow(at >= 24 && at < 32 ? KeyNotAvailableError : CorruptFileError);
      }
    });

    it('swapped blocks', () => {
      const { io, cipher } = make();
      const b0 = Buffer.from(io.data.subarray(lowerOffsetOfBlock(0), lowerOffsetOfBlock(1)));
      io.data.copy(io.data, lowerOffsetOfBlock(0), lowerOffsetOfBlock(1), lowerOffsetOfBlock(2));
      b0.copy(io.data, lowerOffsetOfBlock(1));
      fails(() => cipher.read(io, 0, 4096));
      fails(() => cipher.read(io, 4096, 4096));
    });

    it('truncation at a block boundary and inside a block', () => {
      const a = make();
      a.io.ftruncate(lowerOffsetOfBlock(3));
      fails(() => a.cipher.read(a.io, 2 * 4096, 4096)); // the old block 2 was not final
      const b = make();
      b.io.ftruncate(b.io.size() - 7);
      fails(() => b.cipher.read(b.io, 3 * 4096, 4096));
      const c = make();
      c.io.ftruncate(FILE_HEADER_BYTES); // every block gone
      fails(() => c.cipher.verify!(c.io));
    });

    it('an appended block copied from elsewhere', () => {
      const { io, cipher } = make();
      io.data = Buffer.concat([io.data, io.data.subarray(lowerOffsetOfBlock(1), lowerOffsetOfBlock(2))]);
      fails(() => cipher.read(io, 0, 1 << 20));
    });

    it('a block moved from another file (same key, same position)', () => {
      const one = make();
      const two = make();
      one.io.data.copy(two.io.data, lowerOffsetOfBlock(1), lowerOffsetOfBlock(1), lowerOffsetOfBlock(2));
      fails(() => two.cipher.read(two.io, 4096, 10));
    });

    it('an emptied file (header and an empty final block of another file)', () => {
      const { io, cipher, f } = make();
      const empty = f.files.create().bytes;
      io.data = Buffer.concat([io.data.subarray(0, FILE_HEADER_BYTES), empty.subarray(FILE_HEADER_BYTES)]);
      fails(() => cipher.verify!(io));
    });
  });
});

describe('holes (sparse files)', () => {
  const flags = (io: MemIO) => io.data.readUInt16BE(6);

  it('growing by truncate or by a write far past the end stores only the edges; the gap reads as zeros', () => {
    const { io, cipher, f } = newFile();
    cipher.write(io, 0, Buffer.from('head'));
    cipher.truncate(io, 8 << 20);
    expect(cipher.plaintextSize(io.size())).toBe(8 << 20);
    expect(io.written()).toBeLessThanOrEqual(4); // header, block 0, the final block (and an edge)
    expect(flags(io)).toBe(FLAG_SPARSE);
    expect(cipher.read(io, 0, 4).toString()).toBe('head');
    expect(cipher.read(io, 4, 1 << 20).equals(Buffer.alloc(1 << 20))).toBe(true);
    expect(cipher.read(io, (8 << 20) - 5000, 10000).equals(Buffer.alloc(5000))).toBe(true);
    cipher.write(io, 16 << 20, Buffer.from('tail'));
    expect(cipher.plaintextSize(io.size())).toBe((16 << 20) + 4);
    expect(io.written()).toBeLessThanOrEqual(8);
    const again = f.files.open(io); // a fresh open reads the holes too
    expect(again.read(io, (16 << 20) - 2, 6).equals(Buffer.from('\0\0tail'))).toBe(true);
    again.verify!(io);
  });

  it('a file that never had a hole keeps every block authenticated: a zeroed block is EIO', () => {
    const { io, cipher } = newFile();
    cipher.write(io, 0, randomBytes(3 * 4096));
    expect(flags(io)).toBe(0);
    io.data.fill(0, lowerOffsetOfBlock(1), lowerOffsetOfBlock(2));
    expect(() => cipher.read(io, 4096, 4096)).toThrow(AuthenticationError);
  });

  it('in a sparse file a zeroed non-final block reads as zeros (the documented limit); a zeroed final block is EIO', () => {
    const { io, cipher } = newFile();
    cipher.write(io, 0, randomBytes(3 * 4096 + 10));
    cipher.truncate(io, 100 * 4096);
    cipher.truncate(io, 3 * 4096 + 10);
    expect(flags(io)).toBe(FLAG_SPARSE);
    io.data.fill(0, lowerOffsetOfBlock(1), lowerOffsetOfBlock(2));
    expect(cipher.read(io, 4096, 4096).equals(Buffer.alloc(4096))).toBe(true);
    io.data.fill(0, lowerOffsetOfBlock(3));
    expect(() => cipher.read(io, 3 * 4096, 10)).toThrow(AuthenticationError);
  });

  it('the flag is authenticated: set by hand it makes the header fail', () => {
    const { io, cipher, f } = newFile();
    cipher.write(io, 0, randomBytes(3 * 4096));
    io.data.writeUInt16BE(FLAG_SPARSE, 6);
    expect(() => f.files.open(io)).toThrow(CorruptFileError);
    io.data.fill(0, lowerOffsetOfBlock(1), lowerOffsetOfBlock(2));
    expect(() => cipher.read(io, 4096, 4096)).toThrow(CorruptFileError); // an open handle re-reads the header
  });

  it('another handle sees holes made through the first; truncating to 0 clears the flag', () => {
    const { io, cipher, f } = newFile();
    const other = f.files.open(io);
    cipher.truncate(io, 1 << 20);
    expect(other.read(io, 0, 1 << 20).equals(Buffer.alloc(1 << 20))).toBe(true);
    other.truncate(io, 0);
    expect(flags(io)).toBe(0);
    expect(f.files.open(io).read(io, 0, 10).length).toBe(0);
  });

  it('EFBIG past the largest size; the file is unchanged', () => {
    const { io, cipher } = newFile();
    const efbig = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return (err as FuseError).errno;
      }
      return 0;
    };
    expect(efbig(() => cipher.truncate(io, MAX_FILE_SIZE + 1))).toBe(27);
    expect(efbig(() => cipher.write(io, MAX_FILE_SIZE, Buffer.from('x')))).toBe(27);
    expect(io.size()).toBe(lowerSizeOf(0));
  });

  it('SEEK_DATA / SEEK_HOLE, fallocate and punched holes agree with a plain buffer', () => {
    const rnd = seeded(7);
    const { io, cipher } = newFile();
    let model = Buffer.alloc(0);
    const resize = (n: number) => {
      const m = Buffer.alloc(n);
      model.copy(m, 0, 0, Math.min(n, model.length));
      model = m;
    };
    for (let i = 0; i < 300; i++) {
      const op = rnd(6);
      const off = rnd(3) === 0 ? rnd(2 << 20) : rnd(60000);
      if (op === 0) {
        const data = randomBytes(rnd(9000) + 1);
        cipher.write(io, off, data);
        if (off + data.length > model.length) resize(off + data.length);
        data.copy(model, off);
      } else if (op === 1) {
        const size = rnd(3) === 0 ? rnd(3 << 20) : rnd(70000);
        cipher.truncate(io, size);
        resize(size);
      } else if (op === 2) {
        const len = rnd(40000) + 1;
        cipher.punchHole!(io, off, len);
        model.fill(0, Math.min(off, model.length), Math.min(model.length, off + len));
      } else if (op === 3) {
        const len = rnd(40000) + 1;
        const keep = rnd(2) === 0;
        cipher.allocate!(io, off, len, keep);
        if (!keep && off + len > model.length) resize(off + len);
      } else {
        const at = rnd(model.length + 10);
        for (const whence of ['data', 'hole'] as const) {
          let got: number;
          try {
            got = cipher.seek!(io, at, whence);
          } catch (err) {
            got = -(err as FuseError).errno;
          }
          if (at >= model.length) {
            expect(got).toBe(-6);
            continue;
          } // ENXIO
          expect(got).toBeGreaterThanOrEqual(at);
          expect(got).toBeLessThanOrEqual(model.length);
          // what is skipped is zeros when looking for data; a hole found reads as zeros up to its block end
          if (whence === 'data') {
            expect(model.subarray(at, got).every((x) => x === 0)).toBe(true);
            expect(got).toBeLessThan(model.length);
          } else if (got < model.length) {
            expect(model.subarray(got, Math.min(model.length, (Math.floor(got / 4096) + 1) * 4096)).every((x) => x === 0)).toBe(true);
          }
        }
      }
      expect(cipher.plaintextSize(io.size())).toBe(model.length);
      expect(io.size()).toBe(lowerSizeOf(model.length));
      const ro = rnd(model.length + 1);
      expect(cipher.read(io, ro, 70000).equals(model.subarray(ro, Math.min(model.length, ro + 70000)))).toBe(true);
    }
    expect(cipher.read(io, 0, model.length).equals(model)).toBe(true);
    cipher.verify!(io);
  });
});
