// One content block (format v1): nonce (12, random) || AES-256-GCM(content key,
// plaintext) || tag (16), with AAD = file ID (16) || block number (u64 BE) ||
// final flag (1 byte: 1 for the file's last block, else 0). The AAD binds a
// block to its file and position, and the final flag makes the file size
// authentic: dropping, adding or reordering blocks makes some block fail.
import { randomFillSync } from 'node:crypto';
import { AuthenticationError } from '../errors.js';
import { blockGcm } from '../crypto/gcm-blocks.js';
import { BLOCK_LOWER, BLOCK_NONCE, BLOCK_OVERHEAD } from './block-offsets.js';

export function blockAad(fileId: Buffer, block: number, final: boolean): Buffer {
  return blockAadInto(Buffer.alloc(25), fileId, block, final);
}

// The AAD of the block being sealed or opened: blocks are handled one at a time
// on the JS thread, so one buffer serves them all (no allocation per block).
const AAD_SCRATCH = Buffer.alloc(25);
function blockAadInto(aad: Buffer, fileId: Buffer, block: number, final: boolean): Buffer {
  fileId.copy(aad, 0);
  aad.writeUInt32BE(Math.floor(block / 0x100000000), 16);
  aad.writeUInt32BE(block >>> 0, 20);
  aad[24] = final ? 1 : 0;
  return aad;
}

// Nonces come from the OS CSPRNG in batches: one getrandom per 340 blocks
// instead of one per block (measured at ~2 us each on the write path).
const NONCE_POOL = Buffer.alloc(BLOCK_NONCE * 340);
let noncePos = NONCE_POOL.length;
function nextNonce(into: Buffer): void {
  if (noncePos + BLOCK_NONCE > NONCE_POOL.length) {
    randomFillSync(NONCE_POOL);
    noncePos = 0;
  }
  NONCE_POOL.copy(into, 0, noncePos, noncePos + BLOCK_NONCE);
  NONCE_POOL.fill(0, noncePos, noncePos + BLOCK_NONCE); // a nonce is handed out once
  noncePos += BLOCK_NONCE;
}

/** Seals `plain` into `out` at `at`; returns the bytes written (plain + 28). */
export function sealBlockInto(key: Buffer, fileId: Buffer, block: number, final: boolean, plain: Buffer, out: Buffer, at: number, nonce?: Buffer): number {
  const n = out.subarray(at, at + BLOCK_NONCE);
  if (nonce) nonce.copy(n);
  else nextNonce(n);
  return BLOCK_NONCE + blockGcm().seal(key, n, blockAadInto(AAD_SCRATCH, fileId, block, final), plain, out, at + BLOCK_NONCE);
}

export function sealBlock(key: Buffer, fileId: Buffer, block: number, final: boolean, plain: Buffer, nonce?: Buffer): Buffer {
  const out = Buffer.alloc(plain.length + BLOCK_OVERHEAD);
  sealBlockInto(key, fileId, block, final, plain, out, 0, nonce);
  return out;
}

/**
 * Opens one sealed block into `out` at `at` (which must have room for the
 * plaintext); returns its length. Throws AuthenticationError when anything
 * is off, and then what was written to `out` must not be used.
 */
export function openBlockInto(key: Buffer, fileId: Buffer, block: number, final: boolean, sealed: Buffer, out: Buffer, at: number): number {
  return openBlockAt(key, fileId, block, final, sealed, 0, sealed.length, out, at);
}

/** openBlockInto of the sealed block at src[srcAt, srcAt + sealedLen) (no view of it needed). */
export function openBlockAt(
  key: Buffer,
  fileId: Buffer,
  block: number,
  final: boolean,
  src: Buffer,
  srcAt: number,
  sealedLen: number,
  out: Buffer,
  at: number,
): number {
  if (sealedLen < BLOCK_OVERHEAD || src.length < srcAt + sealedLen) throw new AuthenticationError(`block ${block} is truncated`);
  const ctLen = sealedLen - BLOCK_OVERHEAD;
  if (!blockGcm().openBox(key, blockAadInto(AAD_SCRATCH, fileId, block, final), src, srcAt, ctLen, out, at)) {
    throw new AuthenticationError(`block ${block} failed authentication`);
  }
  return ctLen;
}

/** Opens one sealed block; throws AuthenticationError when anything is off. */
export function openBlock(key: Buffer, fileId: Buffer, block: number, final: boolean, sealed: Buffer): Buffer {
  const out = Buffer.allocUnsafe(Math.max(0, sealed.length - BLOCK_OVERHEAD));
  openBlockInto(key, fileId, block, final, sealed, out, 0);
  return out;
}

const ZERO_LOWER = Buffer.alloc(BLOCK_LOWER);

/**
 * True when src[at, at + len) is a hole block: a whole block's lower bytes, all
 * zero (docs/FORMAT-FILES.md, "Holes"). A sealed block never looks like this
 * (its nonce is random), so the nonce is looked at first and data blocks cost
 * one short compare. Whether a hole may be there is the header's call.
 */
export function isHoleBlock(src: Buffer, at: number, len: number): boolean {
  if (len !== BLOCK_LOWER || src.length < at + len) return false;
  if (src.readUInt32LE(at) !== 0 || src.readUInt32LE(at + 4) !== 0 || src.readUInt32LE(at + 8) !== 0) return false;
  return src.subarray(at, at + len).equals(ZERO_LOWER);
}
