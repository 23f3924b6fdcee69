// The header at the start of every lower file (docs/FORMAT-FILES.md):
//   0  4  magic "HCF1"
//   4  2  version (big endian): 1, or 2 (blocks after a write record slot)
//   6  2  flags: 0, or FLAG_SPARSE (a reader rejects any other bit)
//   8 16  file ID (random)
//  24  8  key ID of the mount key that wraps the content key
//  32 12  wrap nonce (random)
//  44 48  content key (32) sealed with AES-256-GCM under the mount key's wrap
//         key, AAD = bytes 0..31, followed by its tag (16)
// The wrap's tag authenticates every field, so a header moved to another
// file, edited or naming another key fails as a whole.
import { CorruptFileError, UnsupportedFormatError } from '../errors.js';

export const FILE_MAGIC = Buffer.from('HCF1', 'ascii');
export const FILE_FORMAT_VERSION = 1;
/** The file versions a reader knows (the volume decides which one it creates and accepts). */
export const FILE_FORMAT_VERSIONS = [1, 2] as const;
export type FileFormatVersion = (typeof FILE_FORMAT_VERSIONS)[number];
export const FILE_ID_BYTES = 16;
export const FILE_KEY_ID_BYTES = 8;
export const FILE_HEADER_BYTES = 92;
export const FILE_HEADER_AAD_BYTES = 32;
/**
 * The file may hold holes: a non-final block stored as 4124 zero bytes reads
 * as 4096 zeros (docs/FORMAT-FILES.md, "Holes"). Without it such a block is
 * damage (EIO), so a file that never had a hole keeps every block authenticated.
 */
export const FLAG_SPARSE = 1;

export interface FileHeader {
  fileId: Buffer;
  keyId: string;
  /** 0 or FLAG_SPARSE */
  flags?: number;
  /** 1 unless given */
  version?: FileFormatVersion;
  wrapNonce: Buffer;
  /** content key ciphertext || tag */
  wrappedKey: Buffer;
}

/** The authenticated prefix (bytes 0..31). */
export function headerAad(fileId: Buffer, keyId: string, flags = 0, version: FileFormatVersion = 1): Buffer {
  const b = Buffer.alloc(FILE_HEADER_AAD_BYTES);
  FILE_MAGIC.copy(b, 0);
  b.writeUInt16BE(version, 4);
  b.writeUInt16BE(flags, 6);
  fileId.copy(b, 8);
  Buffer.from(keyId, 'hex').copy(b, 24);
  return b;
}

export function encodeFileHeader(h: FileHeader): Buffer {
  if (h.fileId.length !== FILE_ID_BYTES || !/^[0-9a-f]{16}$/.test(h.keyId) || h.wrapNonce.length !== 12 || h.wrappedKey.length !== 48) {
    throw new Error('encodeFileHeader: bad field sizes');
  }
  return Buffer.concat([headerAad(h.fileId, h.keyId, h.flags ?? 0, h.version ?? 1), h.wrapNonce, h.wrappedKey]);
}

/** Parses (does not authenticate) a header; `file` names the lower file in errors. */
export function parseFileHeader(bytes: Buffer, file: string): FileHeader {
  if (bytes.length < FILE_HEADER_BYTES) {
    throw new CorruptFileError(file, `file header truncated (${bytes.length} of ${FILE_HEADER_BYTES} bytes)`);
  }
  if (!bytes.subarray(0, 4).equals(FILE_MAGIC)) throw new CorruptFileError(file, 'not a homecrypt file (bad magic)');
  const version = bytes.readUInt16BE(4);
  if (version !== 1 && version !== 2) throw new UnsupportedFormatError(file, `file format version ${version} is not supported`);
  const flags = bytes.readUInt16BE(6);
  if ((flags & ~FLAG_SPARSE) !== 0) throw new UnsupportedFormatError(file, `unknown file header flags 0x${flags.toString(16)}`);
  return {
    fileId: Buffer.from(bytes.subarray(8, 24)),
    keyId: bytes.subarray(24, 32).toString('hex'),
    flags,
    version,
    wrapNonce: Buffer.from(bytes.subarray(32, 44)),
    wrappedKey: Buffer.from(bytes.subarray(44, 92)),
  };
}
