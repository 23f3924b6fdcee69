// The block AES-256-GCM: the libcrypto path (koffi) and Node's crypto give the
// same bytes and both reject any change.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { blockGcm, nodeGcm } from '../../src/crypto/gcm-blocks.js';
import { addressLookups } from '../../src/crypto/buffer-address.js';

describe('block AES-256-GCM', () => {
  const fast = blockGcm();

  it('uses libcrypto on Debian (libssl3 is always there with cryptsetup/openssh)', () => {
    expect(fast.name).toBe('libcrypto');
  });

  it('agrees with Node crypto byte for byte, and both open each other', () => {
    for (let i = 0; i < 300; i++) {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const aad = randomBytes(i % 40);
      const plain = randomBytes(i === 0 ? 0 : (i * 97) % 4097);
      const a = Buffer.alloc(plain.length + 16 + 5);
      const b = Buffer.alloc(plain.length + 16 + 5);
      expect(fast.seal(key, nonce, aad, plain, a, 5)).toBe(plain.length + 16);
      nodeGcm.seal(key, nonce, aad, plain, b, 5);
      expect(a.equals(b)).toBe(true);
      for (const impl of [fast, nodeGcm]) {
        const out = Buffer.alloc(plain.length + 3);
        expect(impl.open(key, nonce, aad, a.subarray(5, 5 + plain.length), a.subarray(5 + plain.length), out, 3)).toBe(true);
        expect(out.subarray(3).equals(plain)).toBe(true);
      }
    }
  });

  it('rejects a changed ciphertext, tag, nonce, AAD or key', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const aad = randomBytes(25);
    const plain = randomBytes(4096);
    const sealed = Buffer.alloc(4096 + 16);
    fast.seal(key, nonce, aad, plain, sealed, 0);
    const out = Buffer.alloc(4096);
    const flip = (b: Buffer, i: number) => {
      const c = Buffer.from(b);
      c[i]! ^= 1;
      return c;
    };
    for (const impl of [fast, nodeGcm]) {
      const ct = sealed.subarray(0, 4096);
      const tag = sealed.subarray(4096);
      expect(impl.open(key, nonce, aad, flip(ct, 100), tag, out, 0)).toBe(false);
      expect(impl.open(key, nonce, aad, ct, flip(tag, 3), out, 0)).toBe(false);
      expect(impl.open(key, flip(nonce, 0), aad, ct, tag, out, 0)).toBe(false);
      expect(impl.open(key, nonce, flip(aad, 24), ct, tag, out, 0)).toBe(false);
      expect(impl.open(flip(key, 31), nonce, aad, ct, tag, out, 0)).toBe(false);
      expect(impl.open(key, nonce, aad, ct, tag, out, 0)).toBe(true);
    }
  });
});

// A file header's unwrap (engine/homecrypt-format.ts) opens 32 bytes with a
// nonce, AAD, tag and key out that are each a new small Buffer; taking each
// one's address (a libc call and a WeakMap entry per new ArrayBuffer) cost
// more than the AES (docs/BENCHMARKS.md, "Session 8: md5 row").
describe('block AES-256-GCM, a header-sized open', () => {
  const fast = blockGcm();
  const sealed = () => {
    const key = Buffer.from(randomBytes(32));
    const nonce = Buffer.from(randomBytes(12));
    const aad = Buffer.alloc(32, 7);
    const plain = Buffer.from(randomBytes(32));
    const box = Buffer.alloc(48);
    fast.seal(key, nonce, aad, plain, box, 0);
    return { key, nonce, aad, plain, ct: Buffer.from(box.subarray(0, 32)), tag: Buffer.from(box.subarray(32)) };
  };

  it('takes no address of its fresh arguments, nor of a new key', () => {
    const cases = Array.from({ length: 200 }, sealed);
    const before = addressLookups();
    for (const c of cases) {
      const out = Buffer.alloc(40);
      expect(fast.open(c.key, c.nonce, c.aad, c.ct, c.tag, out, 8)).toBe(true);
      expect(out.subarray(8).equals(c.plain)).toBe(true);
      expect(out.subarray(0, 8).equals(Buffer.alloc(8))).toBe(true);
    }
    expect(addressLookups() - before).toBe(0);
  });

  it('leaves its output as it was when authentication fails', () => {
    const c = sealed();
    const bad = Buffer.from(c.tag);
    bad[0]! ^= 1;
    const out = Buffer.alloc(32, 0xee);
    expect(fast.open(c.key, c.nonce, c.aad, c.ct, bad, out, 0)).toBe(false);
    expect(out.equals(Buffer.alloc(32, 0xee))).toBe(true);
    expect(fast.open(c.key, c.nonce, c.aad, c.ct, c.tag, out, 0)).toBe(true);
    expect(out.equals(c.plain)).toBe(true);
  });
});
