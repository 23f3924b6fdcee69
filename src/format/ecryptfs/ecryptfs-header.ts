// The header the eCryptfs kernel module writes at the front of every lower file
// (ecryptfs_write_headers_virt), 8192 bytes on x86:
//
//   0   u64 BE  plaintext file size
//   8   u32 BE  m1 (random), u32 BE m2 = m1 ^ 0x3c81b7f5   (the marker)
//   16  u32 BE  flags: file version (3) in the top octet; 0x02 encrypted,
//               0x08 encrypted file names, 0x04 metadata in xattr, 0x01 hmac
//   20  u32 BE  header extent size (4096)
//   24  u16 BE  number of header extents (2) -> data starts at 20*24 = 8192
//   26  packets: for each key, tag 3 (file key encrypted by a passphrase key)
//               followed by tag 11 (literal "_CONSOLE" packet holding the key's
//               8-byte signature); then 0x00; zeros up to the header size.
//
// Tag 3: 0x8c, length, 0x04 (version), cipher code (7/8/9 = AES-128/192/256),
//        0x03 (S2K), 0x01 (MD5), salt (8, informational), 0x60 (iterations),
//        encrypted key = AES-ECB(passphrase key[0..key bytes], file key); an
//        AES-192 file key is zero-padded to 32 bytes first (a kernel quirk).
// Tag 11: 0xed, length, 0x62 ('b'), 0x08, "_CONSOLE", 4 zero octets, signature.
import { randomBytes } from 'node:crypto';
import { CorruptFileError, KeyNotAvailableError, UnsupportedFormatError } from '../../errors.js';
import { aesEcbDecrypt, aesEcbEncrypt } from './aes-ecb.js';
import {
  type AesKeyBytes,
  CIPHER_AES_192,
  EXTENT_SIZE,
  FILE_VERSION,
  FLAG_ENCRYPTED,
  FLAG_ENCRYPT_FILENAMES,
  FLAG_METADATA_IN_XATTR,
  KNOWN_FLAGS,
  MAGIC_MARKER,
  MAX_HEADER_SIZE,
  MAX_ENCRYPTED_KEY_BYTES,
  MIN_HEADER_SIZE,
  SALT_BYTES,
  SIG_BYTES,
  SUPPORTED_FILE_VERSION,
  TAG_1,
  TAG_11,
  TAG_3,
  cipherCodeForKeyBytes,
  keyBytesForCipherCode,
} from './constants.js';
import { decodePacketLength, encodePacketLength } from './packet-length.js';

export interface KeyPacket {
  /** Signature of the passphrase key that wraps this file key (hex). */
  sig: string;
  cipherCode: number;
  keyBytes: AesKeyBytes;
  salt: Buffer;
  encryptedKey: Buffer;
}

export interface FileHeader {
  fileSize: number;
  version: number;
  flags: number;
  /** Bytes in front of the first data extent. */
  headerSize: number;
  keys: KeyPacket[];
}

/** The lower bytes needed to parse a header (the kernel reads one extent). */
export const HEADER_READ_BYTES = EXTENT_SIZE;

export function parseFileHeader(buf: Buffer, file: string): FileHeader {
  if (buf.length < 26) throw new CorruptFileError(file, `truncated eCryptfs header (${buf.length} bytes)`);
  const m1 = buf.readUInt32BE(8);
  const m2 = buf.readUInt32BE(12);
  if ((m1 ^ MAGIC_MARKER) >>> 0 !== m2) throw new CorruptFileError(file, 'no eCryptfs marker (not an eCryptfs file)');
  const size = buf.readBigUInt64BE(0);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptFileError(file, `implausible file size ${size}`);
  const rawFlags = buf.readUInt32BE(16);
  const version = rawFlags >>> 24;
  const flags = rawFlags & 0x00ffffff;
  if (version > SUPPORTED_FILE_VERSION)
    throw new UnsupportedFormatError(file, `eCryptfs file version ${version} (this build reads up to ${SUPPORTED_FILE_VERSION})`);
  if (flags & ~KNOWN_FLAGS) throw new UnsupportedFormatError(file, `unknown eCryptfs header flags 0x${(flags & ~KNOWN_FLAGS).toString(16)}`);
  if (!(flags & FLAG_ENCRYPTED))
    throw new UnsupportedFormatError(file, 'eCryptfs header without the encrypted flag (plaintext passthrough files are not supported)');
  let off = 20;
  let headerSize = MIN_HEADER_SIZE;
  if (version >= 1) {
    const extent = buf.readUInt32BE(20);
    const count = buf.readUInt16BE(24);
    headerSize = extent * count;
    off = 26;
    if (headerSize < MIN_HEADER_SIZE || headerSize > MAX_HEADER_SIZE || headerSize % EXTENT_SIZE !== 0) {
      throw new CorruptFileError(file, `bad header size ${extent} x ${count}`);
    }
  }
  // the kernel parses packets only within the first page less 8 bytes
  const end = Math.min(buf.length, HEADER_READ_BYTES - 8 + off);
  const keys: KeyPacket[] = [];
  for (;;) {
    if (off >= end) break;
    const tag = buf[off];
    if (tag === TAG_3) {
      const k = parseTag3(buf, off, end, file);
      off = k.next;
      const t11 = parseTag11(buf, off, end, file);
      off = t11.next;
      keys.push({ ...k.packet, sig: t11.sig });
    } else if (tag === TAG_1) {
      throw new UnsupportedFormatError(file, 'file key wrapped by a public key (tag 1): only passphrase keys are supported');
    } else if (tag === TAG_11) {
      throw new CorruptFileError(file, 'tag 11 packet without a tag 3 packet before it');
    } else {
      break;
    }
  }
  if (keys.length === 0) throw new CorruptFileError(file, 'no file key packet in the eCryptfs header');
  return { fileSize: Number(size), version, flags, headerSize, keys };
}

function parseTag3(buf: Buffer, off: number, end: number, file: string): { packet: Omit<KeyPacket, 'sig'>; next: number } {
  const len = decodePacketLength(buf, off + 1, end);
  if (!len) throw new CorruptFileError(file, 'bad tag 3 packet length');
  const body = off + 1 + len.size;
  if (len.length < SALT_BYTES + 5) throw new CorruptFileError(file, `tag 3 packet too short (${len.length})`);
  if (body + len.length > end) throw new CorruptFileError(file, `tag 3 packet length ${len.length} runs past the header`);
  const encLen = len.length - (SALT_BYTES + 5);
  if (encLen > MAX_ENCRYPTED_KEY_BYTES) throw new CorruptFileError(file, 'tag 3 encrypted key too large');
  if (buf[body] !== 0x04) throw new UnsupportedFormatError(file, `tag 3 packet version ${buf[body]}`);
  const cipherCode = buf[body + 1];
  const keyBytes = keyBytesForCipherCode(cipherCode);
  if (!keyBytes) throw new UnsupportedFormatError(file, `cipher code ${cipherCode} (only AES is supported)`);
  if (buf[body + 2] !== 0x03) throw new UnsupportedFormatError(file, `S2K specifier ${buf[body + 2]}`);
  if (buf[body + 3] !== 0x01) throw new UnsupportedFormatError(file, `hash algorithm ${buf[body + 3]}`);
  const salt = Buffer.from(buf.subarray(body + 4, body + 4 + SALT_BYTES));
  const encryptedKey = Buffer.from(buf.subarray(body + 13, body + 13 + encLen));
  const expected = cipherCode === CIPHER_AES_192 ? 32 : keyBytes;
  if (encLen !== expected) throw new CorruptFileError(file, `tag 3 encrypted key of ${encLen} bytes for AES-${keyBytes * 8}`);
  return { packet: { cipherCode, keyBytes, salt, encryptedKey }, next: body + len.length };
}

function parseTag11(buf: Buffer, off: number, end: number, file: string): { sig: string; next: number } {
  if (off >= end || buf[off] !== TAG_11) throw new CorruptFileError(file, 'tag 3 packet not followed by its tag 11 signature packet');
  const len = decodePacketLength(buf, off + 1, end);
  if (!len) throw new CorruptFileError(file, 'bad tag 11 packet length');
  const body = off + 1 + len.size;
  if (len.length !== 14 + SIG_BYTES) throw new CorruptFileError(file, `tag 11 packet of length ${len.length} (expected ${14 + SIG_BYTES})`);
  if (body + len.length > end) throw new CorruptFileError(file, 'tag 11 packet runs past the header');
  if (buf[body] !== 0x62 || buf[body + 1] !== 0x08) throw new CorruptFileError(file, 'unrecognized tag 11 packet');
  return { sig: buf.subarray(body + 14, body + 14 + SIG_BYTES).toString('hex'), next: body + len.length };
}

/** Decrypts the file key of `packet` with a 64-byte passphrase key. */
export function unwrapFileKey(packet: KeyPacket, passphraseKey: Buffer): Buffer {
  const kek = passphraseKey.subarray(0, packet.keyBytes);
  const plain = aesEcbDecrypt(Buffer.from(kek), packet.encryptedKey);
  const fek = Buffer.from(plain.subarray(0, packet.keyBytes));
  plain.fill(0);
  return fek;
}

/** Picks the first key packet whose signature is offered in `keys` and unwraps it. */
export function fileKeyFromHeader(header: FileHeader, keys: ReadonlyMap<string, Buffer>, file: string): Buffer {
  for (const p of header.keys) {
    const k = keys.get(p.sig);
    if (k) return unwrapFileKey(p, k);
  }
  throw new KeyNotAvailableError(`${file}: encrypted with eCryptfs key ${header.keys.map((k) => k.sig).join(', ')}, which is not loaded`);
}

export interface NewHeaderParams {
  fileSize: number;
  fileKey: Buffer;
  passphraseKey: Buffer;
  sig: string;
  salt: Buffer;
  encryptFilenames: boolean;
}

/** A fresh 8192-byte header, as the kernel writes it. */
export function buildFileHeader(p: NewHeaderParams): Buffer {
  const keyBytes = p.fileKey.length as AesKeyBytes;
  const h = Buffer.alloc(MIN_HEADER_SIZE);
  h.writeBigUInt64BE(BigInt(p.fileSize), 0);
  const m1 = randomBytes(4).readUInt32BE(0);
  h.writeUInt32BE(m1, 8);
  h.writeUInt32BE((m1 ^ MAGIC_MARKER) >>> 0, 12);
  h.writeUInt32BE(((FILE_VERSION << 24) | FLAG_ENCRYPTED | (p.encryptFilenames ? FLAG_ENCRYPT_FILENAMES : 0)) >>> 0, 16);
  h.writeUInt32BE(EXTENT_SIZE, 20);
  h.writeUInt16BE(MIN_HEADER_SIZE / EXTENT_SIZE, 24);
  const plainKey = Buffer.alloc(keyBytes === 24 ? 32 : keyBytes);
  p.fileKey.copy(plainKey);
  const encKey = aesEcbEncrypt(Buffer.from(p.passphraseKey.subarray(0, keyBytes)), plainKey);
  plainKey.fill(0);
  const tag3Body = Buffer.concat([
    Buffer.from([0x04, cipherCodeForKeyBytes(keyBytes), 0x03, 0x01]),
    p.salt.subarray(0, SALT_BYTES),
    Buffer.from([0x60]),
    encKey,
  ]);
  const tag11Body = Buffer.concat([Buffer.from([0x62, 0x08]), Buffer.from('_CONSOLE', 'latin1'), Buffer.alloc(4), Buffer.from(p.sig, 'hex')]);
  const packets = Buffer.concat([
    Buffer.from([TAG_3]),
    encodePacketLength(tag3Body.length),
    tag3Body,
    Buffer.from([TAG_11]),
    encodePacketLength(tag11Body.length),
    tag11Body,
    Buffer.from([0x00]),
  ]);
  packets.copy(h, 26);
  return h;
}

/** Rewrites the size field of an existing header in place. */
export function setHeaderFileSize(header: Buffer, size: number): void {
  header.writeBigUInt64BE(BigInt(size), 0);
}

export const isXattrMetadata = (h: FileHeader): boolean => (h.flags & FLAG_METADATA_IN_XATTR) !== 0;
