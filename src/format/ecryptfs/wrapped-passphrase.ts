// ecryptfs-utils' wrapped-passphrase file (~/.ecryptfs/wrapped-passphrase): the
// mount passphrase, zero-padded to whole AES blocks and AES-128-ECB encrypted
// under the first 16 bytes of the passphrase key of the login passphrase.
//
//   version 1:  sig (16 hex chars) || encrypted passphrase (16..64 bytes)
//               salt: ~/.ecryptfsrc "salt=" or the default salt
//   version 2:  ':' || 0x02 || salt (8) || sig (16 hex chars) || encrypted passphrase
//
// See docs/FORMAT-ECRYPTFS.md. Parsing is strict: anything the real tools would
// not have written is a CorruptFileError naming the file.
import { CorruptFileError, UnsupportedFormatError, WrongPassphraseError } from '../../errors.js';
import { secretsEqual } from '../../crypto/constant-time.js';
import { aesEcbDecrypt, aesEcbEncrypt } from './aes-ecb.js';
import { DEFAULT_SALT, MAX_PASSPHRASE_BYTES, SALT_BYTES, SIG_HEX_CHARS } from './constants.js';
import { checkPassphrase, derivePassphraseKey } from './passphrase-key.js';

export interface WrappedPassphrase {
  version: 1 | 2;
  /** Version 2 only: the random wrapping salt stored in the file. */
  salt?: Buffer;
  /** Signature of the wrapping (login) passphrase key, 16 hex chars. */
  sig: string;
  encrypted: Buffer;
}

const HEX16 = /^[0-9a-fA-F]{16}$/;

export function parseWrappedPassphrase(data: Buffer, file = 'wrapped-passphrase'): WrappedPassphrase {
  if (data.length < SIG_HEX_CHARS) throw new CorruptFileError(file, `too short (${data.length} bytes) for a wrapped-passphrase file`);
  let version: 1 | 2;
  let salt: Buffer | undefined;
  let off: number;
  if (data[0] === 0x3a /* ':' */) {
    if (data[1] !== 2) throw new UnsupportedFormatError(file, `wrapped-passphrase version ${data[1]} (only 1 and 2 exist)`);
    version = 2;
    if (data.length < 2 + SALT_BYTES + SIG_HEX_CHARS) throw new CorruptFileError(file, 'truncated version 2 wrapped-passphrase header');
    salt = Buffer.from(data.subarray(2, 2 + SALT_BYTES));
    off = 2 + SALT_BYTES;
  } else {
    version = 1;
    off = 0;
  }
  const sig = data.subarray(off, off + SIG_HEX_CHARS).toString('latin1');
  if (!HEX16.test(sig)) throw new CorruptFileError(file, 'the wrapping key signature is not 16 hex characters');
  const encrypted = Buffer.from(data.subarray(off + SIG_HEX_CHARS));
  if (encrypted.length === 0) throw new CorruptFileError(file, 'no encrypted passphrase after the signature');
  if (encrypted.length > MAX_PASSPHRASE_BYTES || encrypted.length % 16 !== 0) {
    throw new CorruptFileError(file, `encrypted passphrase of ${encrypted.length} bytes (must be 16, 32, 48 or 64)`);
  }
  return { version, salt, sig: sig.toLowerCase(), encrypted };
}

export function serializeWrappedPassphrase(w: WrappedPassphrase): Buffer {
  const sig = Buffer.from(w.sig, 'latin1');
  if (w.version === 1) return Buffer.concat([sig, w.encrypted]);
  if (!w.salt || w.salt.length !== SALT_BYTES) throw new RangeError('version 2 needs an 8-byte salt');
  return Buffer.concat([Buffer.from([0x3a, 2]), w.salt, sig, w.encrypted]);
}

/**
 * Unwraps the mount passphrase. `v1Salt` is the salt a version 1 file was written
 * with (the ~/.ecryptfsrc salt, else the default); version 2 carries its own.
 */
export function unwrapPassphrase(w: WrappedPassphrase, wrappingPassphrase: Buffer, v1Salt: Buffer = DEFAULT_SALT): Buffer {
  const salt = w.version === 2 ? w.salt! : v1Salt;
  const { key, sig } = derivePassphraseKey(wrappingPassphrase, salt);
  try {
    if (!secretsEqual(Buffer.from(sig, 'latin1'), Buffer.from(w.sig, 'latin1'))) {
      throw new WrongPassphraseError('wrong login passphrase for this wrapped-passphrase file');
    }
    const padded = aesEcbDecrypt(key.subarray(0, 16), w.encrypted);
    const nul = padded.indexOf(0);
    const out = Buffer.from(padded.subarray(0, nul < 0 ? padded.length : nul));
    padded.fill(0);
    if (out.length === 0) throw new WrongPassphraseError('the wrapped passphrase decrypts to nothing (wrong salt or corrupt file)');
    return out;
  } finally {
    key.fill(0);
  }
}

/** Wraps `mountPassphrase` as ecryptfs-wrap-passphrase does, in version 2. */
export function wrapPassphrase(mountPassphrase: Buffer, wrappingPassphrase: Buffer, salt: Buffer): WrappedPassphrase {
  checkPassphrase(mountPassphrase);
  const { key, sig } = derivePassphraseKey(wrappingPassphrase, salt);
  const padded = Buffer.alloc(Math.ceil(mountPassphrase.length / 16) * 16);
  mountPassphrase.copy(padded);
  try {
    return { version: 2, salt: Buffer.from(salt), sig, encrypted: aesEcbEncrypt(key.subarray(0, 16), padded) };
  } finally {
    padded.fill(0);
    key.fill(0);
  }
}
