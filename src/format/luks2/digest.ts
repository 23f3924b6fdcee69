// The LUKS2 "pbkdf2" digest: PBKDF2(hash, volume key, salt, iterations) with
// the hash's output length. It tells whether a key a keyslot yielded is the
// volume key, without storing anything that helps find it. Computed on a
// libuv pool thread, so a signal (Ctrl-C) is still handled meanwhile.
import { pbkdf2 } from 'node:crypto';
import { promisify } from 'node:util';
import { secretsEqual } from '../../crypto/constant-time.js';
import { checkPbkdf2Iterations } from './keyslot-area.js';
import type { Digest } from './metadata.js';

const pbkdf2Async = promisify(pbkdf2);

export async function computeDigest(volumeKey: Buffer, hash: string, salt: Buffer, iterations: number, length: number): Promise<Buffer> {
  checkPbkdf2Iterations(iterations, `digest`);
  return pbkdf2Async(volumeKey, salt, iterations, length, hash);
}

export async function digestMatches(d: Digest, volumeKey: Buffer): Promise<boolean> {
  const got = await computeDigest(volumeKey, d.hash, d.salt, d.iterations, d.digest.length);
  return secretsEqual(got, d.digest);
}
