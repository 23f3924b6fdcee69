// Offset arithmetic of homecrypt content (docs/FORMAT-FILES.md): a lower
// file is a header (format 2: and a write record slot), then blocks of up to 4096 plaintext
// bytes, each stored as nonce (12) || ciphertext || tag (16). There is always
// at least one block: an empty file holds one empty final block, so cutting
// every block off a file is detected like any other truncation.
import { FILE_HEADER_BYTES } from './file-header.js';

export const BLOCK_PLAIN = 4096;
export const BLOCK_NONCE = 12;
export const BLOCK_TAG = 16;
export const BLOCK_OVERHEAD = BLOCK_NONCE + BLOCK_TAG;
export const BLOCK_LOWER = BLOCK_PLAIN + BLOCK_OVERHEAD;
/**
 * The largest plaintext size (4 PiB): every lower offset of such a file stays
 * below 2^53, so the offset arithmetic here is exact in a JS number. Larger
 * sizes are EFBIG.
 */
export const MAX_FILE_SIZE = 2 ** 52;

/**
 * Where the blocks of a file start, per file format: right after the 92-byte
 * header in format 1; at 8192 in format 2, whose header is followed by the
 * write record slot (docs/FORMAT-FILES.md, "Format 2").
 */
export class BlockLayout {
  constructor(readonly body: number) {}

  /** Plaintext size of a lower file of `lowerSize` bytes (a torn tail rounds down). */
  plaintextSizeOf(lowerSize: number): number {
    const body = lowerSize - this.body;
    if (body <= 0) return 0;
    const full = Math.floor(body / BLOCK_LOWER);
    const rest = body % BLOCK_LOWER;
    return full * BLOCK_PLAIN + Math.max(0, rest - BLOCK_OVERHEAD);
  }

  /** Lower size of a well-formed file of `size` plaintext bytes. */
  lowerSizeOf(size: number): number {
    if (size === 0) return this.body + BLOCK_OVERHEAD;
    const full = Math.floor(size / BLOCK_PLAIN);
    const rest = size % BLOCK_PLAIN;
    return this.body + full * BLOCK_LOWER + (rest ? rest + BLOCK_OVERHEAD : 0);
  }

  /** True when a lower size is one that lowerSizeOf can produce. */
  isWellFormedLowerSize(lowerSize: number): boolean {
    return lowerSize >= this.body + BLOCK_OVERHEAD && this.lowerSizeOf(this.plaintextSizeOf(lowerSize)) === lowerSize;
  }

  lowerOffsetOfBlock(b: number): number {
    return this.body + b * BLOCK_LOWER;
  }

  /** The block whose lower bytes hold lower offset `at` (the header counts as block 0). */
  blockAtLowerOffset(at: number): number {
    return at < this.body ? 0 : Math.floor((at - this.body) / BLOCK_LOWER);
  }
}

/** Format 1: blocks right after the header. */
export const LAYOUT_V1 = new BlockLayout(FILE_HEADER_BYTES);
/** Format 2: blocks after the header and the write record slot, at 8192. */
export const LAYOUT_V2 = new BlockLayout(8192);

export const plaintextSizeOf = (lowerSize: number): number => LAYOUT_V1.plaintextSizeOf(lowerSize);
export const lowerSizeOf = (size: number): number => LAYOUT_V1.lowerSizeOf(size);
export const isWellFormedLowerSize = (lowerSize: number): boolean => LAYOUT_V1.isWellFormedLowerSize(lowerSize);
export const lowerOffsetOfBlock = (b: number): number => LAYOUT_V1.lowerOffsetOfBlock(b);
export const blockAtLowerOffset = (at: number): number => LAYOUT_V1.blockAtLowerOffset(at);

/** Index of the final block of a file of `size` bytes. */
export function lastBlockOf(size: number): number {
  return size === 0 ? 0 : Math.floor((size - 1) / BLOCK_PLAIN);
}

/** Plaintext bytes in block `b` of a file of `size` bytes. */
export function blockPlainLength(size: number, b: number): number {
  const last = lastBlockOf(size);
  if (b < last) return BLOCK_PLAIN;
  if (b > last) return 0;
  return size - last * BLOCK_PLAIN;
}
