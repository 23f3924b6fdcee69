// Random bytes for new files' secrets, drawn in batches (src/crypto/random-pool.ts):
// each byte handed out once, in a buffer of its own, and gone from the pool.
import { describe, expect, it } from 'vitest';
import { RandomPool } from '../../src/crypto/random-pool.js';

describe('RandomPool', () => {
  it('hands out fresh bytes across refills, each taken piece zeroed in the pool', () => {
    const pool = new RandomPool(256);
    const inside = (pool as unknown as { pool: Buffer }).pool;
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const b = pool.take(i % 2 ? 32 : 16); // crosses the 256-byte pool several times
      expect(b.equals(Buffer.alloc(b.length))).toBe(false);
      expect(seen.has(b.toString('hex'))).toBe(false);
      seen.add(b.toString('hex'));
      // what was just handed out is no longer in the pool
      expect(inside.includes(b)).toBe(false);
      expect(b.buffer).not.toBe(inside.buffer);
    }
  });

  it('serves a request larger than the pool on its own', () => {
    const pool = new RandomPool(64);
    const b = pool.take(1000);
    expect(b.length).toBe(1000);
    expect(b.subarray(0, 64).equals(Buffer.alloc(64))).toBe(false);
  });
});
