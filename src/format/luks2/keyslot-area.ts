// A LUKS2 keyslot: the passphrase goes through the slot's KDF to a key that
// decrypts the slot's area (aes-xts-plain64, 512-byte sectors from IV 0),
// which holds the AF-split volume key. Pure functions over bytes; reading the
// area from the device is the caller's.
import { pbkdf2 } from 'node:crypto';
import { promisify } from 'node:util';
import argon2 from 'argon2';
import { afMerge, afSplit } from './af-splitter.js';
import { cryptSectors } from './sector-cipher.js';
import type { Kdf, Keyslot } from './metadata.js';
import { SECTOR } from './layout.js';
import { KdfLimitError } from '../../errors.js';

const pbkdf2Async = promisify(pbkdf2);

/** Node's PBKDF2 takes at most 2^31-1 iterations (the format allows 2^32-1); beyond that is refused, not an internal error. */
export function checkPbkdf2Iterations(iterations: number, what: string): void {
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > 0x7fffffff) {
    throw new KdfLimitError(`LUKS2 ${what}: ${iterations} PBKDF2 iterations is more than this build computes (2^31-1)`);
  }
}

export async function deriveSlotKey(kdf: Kdf, passphrase: Buffer, length: number): Promise<Buffer> {
  if (kdf.type === 'pbkdf2') {
    checkPbkdf2Iterations(kdf.iterations, 'keyslot');
    return pbkdf2Async(passphrase, kdf.salt, kdf.iterations, length, kdf.hash);
  }
  return argon2.hash(passphrase, {
    type: kdf.type === 'argon2id' ? argon2.argon2id : argon2.argon2i,
    raw: true,
    salt: kdf.salt,
    timeCost: kdf.time,
    memoryCost: kdf.memory,
    parallelism: kdf.cpus,
    hashLength: length,
    version: 0x13,
  });
}

/** Bytes of the area the encrypted material occupies (whole 512-byte sectors). */
export function materialBytes(keySize: number, stripes: number): number {
  return Math.ceil((keySize * stripes) / SECTOR) * SECTOR;
}

/** The encrypted area contents for `volumeKey` under `slotKey`. */
export function sealKeyslot(slotKey: Buffer, volumeKey: Buffer, stripes: number, afHash: string): Buffer {
  const split = afSplit(volumeKey, stripes, afHash);
  const area = Buffer.alloc(materialBytes(volumeKey.length, stripes));
  split.copy(area);
  split.fill(0);
  cryptSectors({ key: slotKey, sectorSize: SECTOR, ivTweak: 0 }, 0, area, true);
  return area;
}

/** The candidate volume key an area yields under `slotKey` (check it with the digest). */
export function openKeyslot(ks: Keyslot, slotKey: Buffer, area: Buffer): Buffer {
  const len = materialBytes(ks.keySize, ks.afStripes);
  if (area.length < len) throw new RangeError('keyslot area too short');
  const plain = Buffer.from(area.subarray(0, len));
  cryptSectors({ key: slotKey, sectorSize: SECTOR, ivTweak: 0 }, 0, plain, false);
  const key = afMerge(plain, ks.keySize, ks.afStripes, ks.afHash);
  plain.fill(0);
  return key;
}
