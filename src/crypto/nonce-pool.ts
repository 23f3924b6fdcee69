// Random 96-bit nonces for AES-GCM, drawn from the OS CSPRNG in batches:
// one randomFillSync per `batch` nonces instead of one call per nonce
// (crypto.randomBytes(12) measured at tens of microseconds per call on a
// loaded machine, more than sealing a 4 KiB write record). Every nonce is
// random and handed out once: its bytes are zeroed in the pool as they go.
import { randomFillSync } from 'node:crypto';

export const NONCE_BYTES = 12;

export class NoncePool {
  private readonly pool: Buffer;
  private pos: number;
  constructor(batch = 340) {
    this.pool = Buffer.alloc(NONCE_BYTES * batch);
    this.pos = this.pool.length;
  }

  /** Writes a fresh nonce into `into` at `at`. */
  next(into: Buffer, at = 0): void {
    if (this.pos + NONCE_BYTES > this.pool.length) {
      randomFillSync(this.pool);
      this.pos = 0;
    }
    this.pool.copy(into, at, this.pos, this.pos + NONCE_BYTES);
    this.pool.fill(0, this.pos, this.pos + NONCE_BYTES);
    this.pos += NONCE_BYTES;
  }
}
