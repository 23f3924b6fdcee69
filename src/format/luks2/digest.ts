// The LUKS2 "pbkdf2" digest: PBKDF2(hash, volume key, salt, iterations) with
// the hash's output length. It tells whether a key a keyslot yielded is the
// volume key, without storing anything that helps find it.
import { pbkdf2Sync } from 'node:crypto';
import { secretsEqual } from '../../crypto/constant-time.js';
import type { Digest } from './metadata.js';

export function computeDigest(volumeKey: Buffer, hash: string, salt: Buffer, iterations: number, length: number): Buffer {
  return pbkdf2Sync(volumeKey, salt, iterations, length, hash);
}

export function digestMatches(d: Digest, volumeKey: Buffer): boolean {
  const got = computeDigest(volumeKey, d.hash, d.salt, d.iterations, d.digest.length);
  return secretsEqual(got, d.digest);
}
