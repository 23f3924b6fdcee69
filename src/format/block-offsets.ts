// Offset arithmetic of homecrypt content (format v1, docs/FORMAT-FILES.md):
// a lower file is HEADER_BYTES of header, then blocks of up to 4096 plaintext
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

/** Plaintext size of a lower file of `lowerSize` bytes (a torn tail rounds down). */
export function plaintextSizeOf(lowerSize: number): number {
  const body = lowerSize - FILE_HEADER_BYTES;
  if (body <= 0) return 0;
  const full = Math.floor(body / BLOCK_LOWER);
  const rest = body % BLOCK_LOWER;
  return full * BLOCK_PLAIN + Math.max(0, rest - BLOCK_OVERHEAD);
}

/** Lower size of a well-formed file of `size` plaintext bytes. */
export function lowerSizeOf(size: number): number {
  if (size === 0) return FILE_HEADER_BYTES + BLOCK_OVERHEAD;
  const full = Math.floor(size / BLOCK_PLAIN);
  const rest = size % BLOCK_PLAIN;
  return FILE_HEADER_BYTES + full * BLOCK_LOWER + (rest ? rest + BLOCK_OVERHEAD : 0);
}

/** True when a lower size is one that lowerSizeOf can produce. */
export function isWellFormedLowerSize(lowerSize: number): boolean {
  return lowerSize >= FILE_HEADER_BYTES + BLOCK_OVERHEAD && lowerSizeOf(plaintextSizeOf(lowerSize)) === lowerSize;
}

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

export function lowerOffsetOfBlock(b: number): number {
  return FILE_HEADER_BYTES + b * BLOCK_LOWER;
}

/** The block whose lower bytes hold lower offset `at` (the header counts as block 0). */
export function blockAtLowerOffset(at: number): number {
  return at < FILE_HEADER_BYTES ? 0 : Math.floor((at - FILE_HEADER_BYTES) / BLOCK_LOWER);
}
