// File contents: 4096-byte extents, each AES-CBC encrypted with the file key and
// its own IV (fs/ecryptfs/crypto.c ecryptfs_derive_iv):
//   root IV   = MD5(file key)
//   IV(n)     = MD5(root IV || decimal ASCII of n, zero-padded to 16 bytes)
// where n is the extent number (the page index with 4096-byte pages). Extent n
// lives at lower offset header size + n * 4096; the last one is zero-padded.
// No authentication: eCryptfs has none, so a flipped bit reads as garbage.
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { EXTENT_SIZE, IV_BYTES } from './constants.js';

export function rootIv(fileKey: Buffer): Buffer {
  return createHash('md5').update(fileKey).digest();
}

export function extentIv(root: Buffer, extent: number): Buffer {
  const src = Buffer.alloc(IV_BYTES + 16);
  root.copy(src, 0, 0, IV_BYTES);
  // snprintf(.., 16, "%lld"): at most 15 digits, always true for real files
  src.write(String(extent).slice(0, 15), IV_BYTES, 'latin1');
  return createHash('md5').update(src).digest();
}

function cbc(fileKey: Buffer): string {
  return `aes-${fileKey.length * 8}-cbc`;
}

export function encryptExtent(fileKey: Buffer, root: Buffer, extent: number, plain: Buffer): Buffer {
  if (plain.length !== EXTENT_SIZE) throw new RangeError('an extent is 4096 bytes');
  const c = createCipheriv(cbc(fileKey), fileKey, extentIv(root, extent));
  c.setAutoPadding(false);
  return Buffer.concat([c.update(plain), c.final()]);
}

export function decryptExtent(fileKey: Buffer, root: Buffer, extent: number, cipher: Buffer): Buffer {
  if (cipher.length !== EXTENT_SIZE) throw new RangeError('an extent is 4096 bytes');
  const d = createDecipheriv(cbc(fileKey), fileKey, extentIv(root, extent));
  d.setAutoPadding(false);
  return Buffer.concat([d.update(cipher), d.final()]);
}

/** Lower file size for a plaintext size, as the kernel lays it out. */
export function lowerSizeFor(plainSize: number, headerSize: number): number {
  return headerSize + Math.ceil(plainSize / EXTENT_SIZE) * EXTENT_SIZE;
}
