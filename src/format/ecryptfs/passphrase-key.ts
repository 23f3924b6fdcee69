// The key eCryptfs derives from a passphrase (ecryptfs-utils generate_passphrase_sig):
// SHA-512 of salt || passphrase, hashed again until 65536 hashes in all. The
// 64-byte result is the "session key encryption key" (it wraps file keys, and its
// first bytes are the filename key); its signature, which names the key in the
// keyring and in file headers, is the hex of the first 8 bytes of one more SHA-512.
import { createHash } from 'node:crypto';
import { HASH_ITERATIONS, MAX_PASSPHRASE_BYTES, SALT_BYTES, SIG_BYTES } from './constants.js';
import { UsageError } from '../../errors.js';

export interface PassphraseKey {
  /** 64 bytes: session_key_encryption_key of the auth token. */
  key: Buffer;
  /** 16 lowercase hex characters. */
  sig: string;
}

export function checkPassphrase(passphrase: Buffer): void {
  if (passphrase.length < 1 || passphrase.length > MAX_PASSPHRASE_BYTES) {
    throw new UsageError(`an eCryptfs passphrase must be 1 to ${MAX_PASSPHRASE_BYTES} bytes`);
  }
  if (passphrase.includes(0)) throw new UsageError('an eCryptfs passphrase cannot contain a NUL byte');
}

export function derivePassphraseKey(passphrase: Buffer, salt: Buffer): PassphraseKey {
  checkPassphrase(passphrase);
  if (salt.length !== SALT_BYTES) throw new UsageError(`an eCryptfs salt is ${SALT_BYTES} bytes`);
  let buf = createHash('sha512').update(salt).update(passphrase).digest();
  for (let i = 1; i < HASH_ITERATIONS; i++) buf = createHash('sha512').update(buf).digest();
  const sig = createHash('sha512').update(buf).digest().subarray(0, SIG_BYTES).toString('hex');
  return { key: buf, sig };
}
