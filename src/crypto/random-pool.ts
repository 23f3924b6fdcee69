// Fresh random bytes for a new file's secrets (its file ID, content key and the
// nonce that wraps the key), drawn from the OS CSPRNG in batches: one
// randomFillSync per ~60 files instead of three randomBytes calls per create
// (each a round trip into OpenSSL, ~0.14 s of an untar's daemon profile,
// docs/BENCHMARKS.md). Every byte is handed out once and zeroed in the pool as
// it goes, so the pool never holds a secret already in use; what it holds is
// only what no file has yet.
import { randomFillSync } from 'node:crypto';

export class RandomPool {
  private readonly pool: Buffer;
  private pos: number;
  constructor(bytes = 4096) {
    this.pool = Buffer.alloc(bytes);
    this.pos = bytes;
  }

  /** `n` fresh random bytes in a buffer of their own (not Node's shared pool). */
  take(n: number): Buffer {
    if (n > this.pool.length) {
      const big = Buffer.alloc(n);
      randomFillSync(big);
      return big;
    }
    if (this.pos + n > this.pool.length) {
      randomFillSync(this.pool);
      this.pos = 0;
    }
    const out = Buffer.alloc(n);
    this.pool.copy(out, 0, this.pos, this.pos + n);
    this.pool.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}
