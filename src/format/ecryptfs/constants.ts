// Numbers fixed by the Linux eCryptfs kernel module (fs/ecryptfs/ecryptfs_kernel.h)
// and ecryptfs-utils (include/ecryptfs.h). They are the on-disk and in-keyring
// contract with existing eCryptfs homes, so none of them may change.

/** Salt, signature and key sizes of the passphrase auth token. */
export const SALT_BYTES = 8;
export const SIG_BYTES = 8;
export const SIG_HEX_CHARS = 16;
export const MAX_KEY_BYTES = 64;
export const MAX_ENCRYPTED_KEY_BYTES = 512;
export const MAX_PASSPHRASE_BYTES = 64;
export const HASH_ITERATIONS = 65536;

/** ecryptfs-utils' default salt (ECRYPTFS_DEFAULT_SALT_HEX), used as 8 binary bytes. */
export const DEFAULT_SALT = Buffer.from('0011223344556677', 'hex');
/**
 * ecryptfs-utils' filename-key salt. A quirk that every existing home depends on:
 * the tools pass the HEX STRING "9988776655443322" where 8 binary bytes are
 * expected, so the salt really used (and stored in the auth token) is the ASCII
 * of its first 8 characters, "99887766".
 */
export const FNEK_SALT = Buffer.from('99887766', 'ascii');

/** Auth token struct version: ECRYPTFS_VERSION_MAJOR 0, MINOR 4. */
export const AUTH_TOK_VERSION = 0x0004;
export const AUTH_TOK_BYTES = 740;

/** File header. */
export const FILE_SIZE_BYTES = 8;
export const MARKER_BYTES = 8;
export const MAGIC_MARKER = 0x3c81b7f5;
export const FILE_VERSION = 3;
export const SUPPORTED_FILE_VERSION = 3;
/** Data extents are one page on x86: the kernel always uses PAGE_SIZE here. */
export const EXTENT_SIZE = 4096;
/** ECRYPTFS_MINIMUM_HEADER_EXTENT_SIZE: the header region in front of the data. */
export const MIN_HEADER_SIZE = 8192;
/** Headers beyond this are refused as hostile (the kernel writes 8192). */
export const MAX_HEADER_SIZE = 1 << 20;
export const IV_BYTES = 16;

/** Header flag bits (octets 16-19, version in the top octet). */
export const FLAG_HMAC = 0x01;
export const FLAG_ENCRYPTED = 0x02;
export const FLAG_METADATA_IN_XATTR = 0x04;
export const FLAG_ENCRYPT_FILENAMES = 0x08;
export const KNOWN_FLAGS = FLAG_HMAC | FLAG_ENCRYPTED | FLAG_METADATA_IN_XATTR | FLAG_ENCRYPT_FILENAMES;

/** Packet tags (RFC 2440-inspired). */
export const TAG_1 = 0x01;
export const TAG_3 = 0x8c;
export const TAG_11 = 0xed;
export const TAG_70 = 0x46;

/** RFC 2440 cipher codes; eCryptfs tells AES key sizes apart by them. */
export const CIPHER_AES_128 = 0x07;
export const CIPHER_AES_192 = 0x08;
export const CIPHER_AES_256 = 0x09;

/** Filename encryption. */
export const FNEK_PREFIX = 'ECRYPTFS_FNEK_ENCRYPTED.';
export const FILENAME_MIN_RANDOM_PREPEND_BYTES = 16;
export const NON_NULL = 0x42;
/** The longest plaintext name the kernel accepts with encrypted names on a 255-byte lower fs. */
export const MAX_ENCRYPTED_NAME_PLAINTEXT = 143;
export const LOWER_NAME_MAX = 255;

export type AesKeyBytes = 16 | 24 | 32;

export function cipherCodeForKeyBytes(keyBytes: AesKeyBytes): number {
  return keyBytes === 16 ? CIPHER_AES_128 : keyBytes === 24 ? CIPHER_AES_192 : CIPHER_AES_256;
}

export function keyBytesForCipherCode(code: number): AesKeyBytes | null {
  if (code === CIPHER_AES_128) return 16;
  if (code === CIPHER_AES_192) return 24;
  if (code === CIPHER_AES_256) return 32;
  return null;
}

export function isAesKeyBytes(n: number): n is AesKeyBytes {
  return n === 16 || n === 24 || n === 32;
}
