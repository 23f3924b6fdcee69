// The payload of an eCryptfs passphrase key in the kernel keyring: a packed
// struct ecryptfs_auth_tok (740 bytes on every Linux ABI, little-endian on x86),
// stored as a "user" key whose description is the 16-hex-char signature.
//
//   0   u16 version (0x0004)        2   u16 token_type (0 = password)
//   4   u32 flags                   8   session_key: u32 flags, u32 encrypted_key_size,
//                                        u32 decrypted_key_size, u8[512] encrypted_key,
//                                        u8[64] decrypted_key              (596)
//   596 u8[32] reserved
//   628 password: s32 password_bytes, s32 hash_algo (10 = SHA-512), s32 hash_iterations,
//        s32 session_key_encryption_key_bytes (64), u32 flags (2 = SEKEK set),
//        u8[64] session_key_encryption_key, u8[17] signature (hex, NUL-terminated),
//        u8[8] salt, 3 bytes of union padding                                 (740)
//
// Quirks kept on purpose (the kernel and ecryptfs-utils compare these bytes):
// password_bytes and hash_iterations stay 0; the salt field holds the salt the
// tools passed, which for the filename key is the ASCII "99887766" (see FNEK_SALT).
import { CorruptFileError } from '../../errors.js';
import { AUTH_TOK_BYTES, AUTH_TOK_VERSION, MAX_KEY_BYTES, SALT_BYTES } from './constants.js';
import { derivePassphraseKey, type PassphraseKey } from './passphrase-key.js';

const OFF_PASSWORD = 628;
const OFF_HASH_ALGO = OFF_PASSWORD + 4;
const OFF_SEKEK_BYTES = OFF_PASSWORD + 12;
const OFF_PW_FLAGS = OFF_PASSWORD + 16;
const OFF_SEKEK = OFF_PASSWORD + 20;
const OFF_SIG = OFF_SEKEK + MAX_KEY_BYTES;
const OFF_SALT = OFF_SIG + 17;

const PGP_DIGEST_ALGO_SHA512 = 10;
const SESSION_KEY_ENCRYPTION_KEY_SET = 0x02;

export function buildAuthTok(key: PassphraseKey, salt: Buffer): Buffer {
  if (salt.length !== SALT_BYTES) throw new RangeError('salt must be 8 bytes');
  const b = Buffer.alloc(AUTH_TOK_BYTES);
  b.writeUInt16LE(AUTH_TOK_VERSION, 0);
  b.writeUInt16LE(0, 2); // ECRYPTFS_PASSWORD
  b.writeInt32LE(PGP_DIGEST_ALGO_SHA512, OFF_HASH_ALGO);
  b.writeInt32LE(MAX_KEY_BYTES, OFF_SEKEK_BYTES);
  b.writeUInt32LE(SESSION_KEY_ENCRYPTION_KEY_SET, OFF_PW_FLAGS);
  key.key.copy(b, OFF_SEKEK, 0, MAX_KEY_BYTES);
  b.write(key.sig, OFF_SIG, 16, 'latin1');
  salt.copy(b, OFF_SALT);
  return b;
}

/** The auth token ecryptfs-add-passphrase inserts for `passphrase` under `salt`. */
export function authTokForPassphrase(passphrase: Buffer, salt: Buffer): { sig: string; payload: Buffer; key: Buffer } {
  const k = derivePassphraseKey(passphrase, salt);
  return { sig: k.sig, payload: buildAuthTok(k, salt), key: k.key };
}

export interface ParsedAuthTok {
  sig: string;
  key: Buffer;
  salt: Buffer;
}

/** Reads a passphrase auth token (for example one found in a keyring). */
export function parseAuthTok(b: Buffer, what = 'auth token'): ParsedAuthTok {
  if (b.length < AUTH_TOK_BYTES) throw new CorruptFileError(what, `payload of ${b.length} bytes (an eCryptfs auth token is ${AUTH_TOK_BYTES})`);
  if (b.readUInt16LE(0) !== AUTH_TOK_VERSION) throw new CorruptFileError(what, `auth token version 0x${b.readUInt16LE(0).toString(16)}`);
  if (b.readUInt16LE(2) !== 0) throw new CorruptFileError(what, 'not a passphrase auth token');
  const n = b.readInt32LE(OFF_SEKEK_BYTES);
  if (n < 16 || n > MAX_KEY_BYTES) throw new CorruptFileError(what, `bad key size ${n}`);
  const sig = b.subarray(OFF_SIG, OFF_SIG + 16).toString('latin1');
  if (!/^[0-9a-f]{16}$/.test(sig)) throw new CorruptFileError(what, 'bad signature');
  return { sig, key: Buffer.from(b.subarray(OFF_SEKEK, OFF_SEKEK + MAX_KEY_BYTES)), salt: Buffer.from(b.subarray(OFF_SALT, OFF_SALT + SALT_BYTES)) };
}
