// The anti-forensic splitter of LUKS (TKS1): a key is stored as `stripes`
// blocks of which all but the last are random, so that destroying any part of
// the keyslot area destroys the key. Hash-based diffusion, as cryptsetup's AF
// splitter does: each hash-sized chunk i becomes H(be32(i) || chunk), the last
// partial chunk hashed over its own length and truncated.
import { createHash } from 'node:crypto';
import { randomBytes } from '../../crypto/random.js';

const DIGEST_BYTES: Record<string, number> = { sha1: 20, sha256: 32, sha512: 64 };

function diffuse(block: Buffer, hash: string): void {
  const ds = DIGEST_BYTES[hash];
  if (!ds) throw new RangeError(`unsupported AF hash ${hash}`);
  const iv = Buffer.alloc(4);
  for (let i = 0, off = 0; off < block.length; i++, off += ds) {
    const len = Math.min(ds, block.length - off);
    iv.writeUInt32BE(i, 0);
    const d = createHash(hash)
      .update(iv)
      .update(block.subarray(off, off + len))
      .digest();
    d.copy(block, off, 0, len);
  }
}

function xorInto(dst: Buffer, a: Buffer): void {
  for (let i = 0; i < dst.length; i++) dst[i] ^= a[i];
}

export function afSplit(key: Buffer, stripes: number, hash: string, random: (n: number) => Buffer = randomBytes): Buffer {
  const bs = key.length;
  const out = Buffer.alloc(bs * stripes);
  const acc = Buffer.alloc(bs);
  for (let i = 0; i < stripes - 1; i++) {
    const r = random(bs);
    r.copy(out, i * bs);
    xorInto(acc, r);
    diffuse(acc, hash);
  }
  const last = out.subarray((stripes - 1) * bs, stripes * bs);
  key.copy(last);
  xorInto(last, acc);
  acc.fill(0);
  return out;
}

export function afMerge(material: Buffer, keySize: number, stripes: number, hash: string): Buffer {
  if (material.length < keySize * stripes) throw new RangeError('AF material too short');
  const acc = Buffer.alloc(keySize);
  for (let i = 0; i < stripes - 1; i++) {
    xorInto(acc, material.subarray(i * keySize, (i + 1) * keySize));
    diffuse(acc, hash);
  }
  xorInto(acc, material.subarray((stripes - 1) * keySize, stripes * keySize));
  return acc;
}
