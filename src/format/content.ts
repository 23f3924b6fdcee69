// One content block (format v1): nonce (12, random) || AES-256-GCM(content key,
// plaintext) || tag (16), with AAD = file ID (16) || block number (u64 BE) ||
// final flag (1 byte: 1 for the file's last block, else 0). The AAD binds a
// block to its file and position, and the final flag makes the file size
// authentic: dropping, adding or reordering blocks makes some block fail.
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { AuthenticationError } from '../errors.js';
import { BLOCK_NONCE, BLOCK_OVERHEAD, BLOCK_TAG } from './block-offsets.js';

export function blockAad(fileId: Buffer, block: number, final: boolean): Buffer {
  const aad = Buffer.alloc(25);
  fileId.copy(aad, 0);
  aad.writeUInt32BE(Math.floor(block / 0x100000000), 16);
  aad.writeUInt32BE(block >>> 0, 20);
  aad[24] = final ? 1 : 0;
  return aad;
}

/** Seals `plain` into `out` at `at`; returns the bytes written (plain + 28). */
export function sealBlockInto(key: Buffer, fileId: Buffer, block: number, final: boolean, plain: Buffer,
  out: Buffer, at: number, nonce?: Buffer): number {
  const n = out.subarray(at, at + BLOCK_NONCE);
  if (nonce) nonce.copy(n); else randomFillSync(n);
  const c = createCipheriv('aes-256-gcm', key, n);
  c.setAAD(blockAad(fileId, block, final));
  let w = at + BLOCK_NONCE;
  w += c.update(plain).copy(out, w);
  w += c.final().copy(out, w);
  w += c.getAuthTag().copy(out, w);
  return w - at;
}

export function sealBlock(key: Buffer, fileId: Buffer, block: number, final: boolean, plain: Buffer, nonce?: Buffer): Buffer {
  const out = Buffer.alloc(plain.length + BLOCK_OVERHEAD);
  sealBlockInto(key, fileId, block, final, plain, out, 0, nonce);
  return out;
}

/** Opens one sealed block; throws AuthenticationError when anything is off. */
export function openBlock(key: Buffer, fileId: Buffer, block: number, final: boolean, sealed: Buffer): Buffer {
  if (sealed.length < BLOCK_OVERHEAD) throw new AuthenticationError(`block ${block} is truncated`);
  const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, BLOCK_NONCE));
  d.setAAD(blockAad(fileId, block, final));
  d.setAuthTag(sealed.subarray(sealed.length - BLOCK_TAG));
  const head = d.update(sealed.subarray(BLOCK_NONCE, sealed.length - BLOCK_TAG));
  try {
    const tail = d.final();
    return tail.length ? Buffer.concat([head, tail]) : head;
  } catch {
    throw new AuthenticationError(`block ${block} failed authentication`);
  }
}
