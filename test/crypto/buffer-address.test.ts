// Raw Buffer addresses for the libcrypto data path (src/crypto/buffer-address.ts):
// they must equal what koffi itself passes, stay right for subarrays and for
// small (V8 on-heap) Buffers, and survive garbage collection and heavy
// allocation, since a wrong or stale address would corrupt memory silently.
import { describe, expect, it } from 'vitest';
import koffi from 'koffi';
import { randomBytes } from 'node:crypto';
import { addressesAvailable, addressOf } from '../../src/crypto/buffer-address.js';
import { blockGcm, nodeGcm } from '../../src/crypto/gcm-blocks.js';

const viaKoffi = koffi.load('libc.so.6').func('uintptr_t memmove(uint8_t *dst, const uint8_t *src, size_t n)') as unknown as (
  a: Uint8Array,
  b: Uint8Array,
  n: number,
) => number | bigint;

describe('buffer addresses', () => {
  it('equal the pointer koffi passes, for small, pooled, large and sliced Buffers', () => {
    expect(addressesAvailable()).toBe(true);
    const bufs = [
      Buffer.alloc(1),
      Buffer.alloc(16),
      Buffer.alloc(64),
      Buffer.allocUnsafe(100).subarray(7),
      Buffer.alloc(1 << 20).subarray(4093, 9000),
      Buffer.from('pooled text'),
      new Uint8Array(40).subarray(3),
    ];
    for (const b of bufs) expect(addressOf(b)).toBe(Number(viaKoffi(b, b, 0)));
  });

  it('stay right through garbage collection and many short-lived Buffers (AES-GCM agrees with Node)', () => {
    const fast = blockGcm();
    for (let i = 0; i < 20_000; i++) {
      // fresh small buffers every round: the ones that live on V8's heap until first used
      const key = Buffer.from(randomBytes(32));
      const nonce = Buffer.alloc(12, i & 0xff);
      const aad = Buffer.alloc(25, (i >> 8) & 0xff);
      const plain = Buffer.alloc(i % 200, 0x5a);
      const a = Buffer.alloc(plain.length + 16);
      fast.seal(key, nonce, aad, plain, a, 0);
      if (i % 1000 === 0) {
        const b = Buffer.alloc(plain.length + 16);
        nodeGcm.seal(key, nonce, aad, plain, b, 0);
        expect(a.equals(b)).toBe(true);
        (globalThis as { gc?: () => void }).gc?.();
      }
    }
  });
});
