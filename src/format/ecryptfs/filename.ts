// Encrypted file names (fs/ecryptfs keystore.c write/parse_tag_70_packet):
//
//   lower name = "ECRYPTFS_FNEK_ENCRYPTED." || encode(tag 70 packet)
//   tag 70     = 0x46, length, FNEK signature (8 binary bytes), cipher code,
//                AES-ECB(FNEK[0..key bytes], padding || 0x00 || name)
//
// The "padding" (at least 16 bytes, up to a whole block) is not random: the
// kernel takes it from MD5(FNEK), re-hashing every 16 bytes, with 0x00 replaced by
// 0x42. Names are therefore deterministic, which is what lets the kernel look up
// a name by encrypting it. The cipher cache hands out "ecb(aes)", so despite the
// comments in the kernel there is no chaining. encode() is eCryptfs' own base64
// over "-.0-9A-Za-z" (3 bytes -> 4 chars, the last group zero-padded).
// Symlink targets are encrypted the same way, as one "name".
import { createHash } from 'node:crypto';
import { CorruptFileError } from '../../errors.js';
import { aesEcbDecrypt, aesEcbEncrypt } from './aes-ecb.js';
import {
  type AesKeyBytes,
  FILENAME_MIN_RANDOM_PREPEND_BYTES,
  FNEK_PREFIX,
  LOWER_NAME_MAX,
  MAX_KEY_BYTES,
  NON_NULL,
  SIG_BYTES,
  TAG_70,
  cipherCodeForKeyBytes,
  keyBytesForCipherCode,
} from './constants.js';
import { decodePacketLength, encodePacketLength } from './packet-length.js';

const CHARS = '-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const REV = new Int16Array(256).fill(-1);
for (let i = 0; i < CHARS.length; i++) REV[CHARS.charCodeAt(i)] = i;

export function encodeForFilename(src: Buffer): string {
  let out = '';
  for (let i = 0; i < src.length; i += 3) {
    const b0 = src[i],
      b1 = i + 1 < src.length ? src[i + 1] : 0,
      b2 = i + 2 < src.length ? src[i + 2] : 0;
    out += CHARS[b0 >> 2] + CHARS[((b0 << 4) & 0x30) | (b1 >> 4)] + CHARS[((b1 << 2) & 0x3c) | (b2 >> 6)] + CHARS[b2 & 0x3f];
  }
  return out;
}

/** Null when `s` holds a character outside the alphabet. */
export function decodeFromFilename(s: string): Buffer | null {
  const out = Buffer.alloc(Math.floor((s.length * 3) / 4) + 1);
  let bit = 0,
    o = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const v = c < 256 ? REV[c] : -1;
    if (v < 0) return null;
    switch (bit) {
      case 0:
        out[o] = v << 2;
        bit = 6;
        break;
      case 6:
        out[o++] |= v >> 4;
        out[o] = (v & 0xf) << 4;
        bit = 4;
        break;
      case 4:
        out[o++] |= v >> 2;
        out[o] = (v << 6) & 0xff;
        bit = 2;
        break;
      default:
        out[o++] |= v;
        bit = 0;
        break;
    }
  }
  return out.subarray(0, o);
}

export interface FilenameKey {
  /** The FNEK auth token's 64-byte session key encryption key. */
  key: Buffer;
  sig: string;
  /** ecryptfs_fn_key_bytes: by default the mount's cipher key size. */
  keyBytes: AesKeyBytes;
}

function padding(fnek: Buffer, count: number): Buffer {
  const out = Buffer.alloc(count);
  let hash = createHash('md5').update(fnek.subarray(0, MAX_KEY_BYTES)).digest();
  for (let j = 0; j < count; j++) {
    out[j] = hash[j % 16];
    if (j % 16 === 15) hash = createHash('md5').update(hash).digest();
    if (out[j] === 0) out[j] = NON_NULL;
  }
  return out;
}

export function encryptFilename(name: Buffer, k: FilenameKey): string {
  if (name.length === 0) throw new RangeError('empty name');
  let numRand = FILENAME_MIN_RANDOM_PREPEND_BYTES + 1;
  if ((numRand + name.length) % 16 !== 0) numRand += 16 - ((numRand + name.length) % 16);
  const plain = Buffer.concat([padding(k.key, numRand - 1), Buffer.alloc(1), name]);
  const enc = aesEcbEncrypt(Buffer.from(k.key.subarray(0, k.keyBytes)), plain);
  plain.fill(0);
  const body = Buffer.concat([Buffer.from(k.sig, 'hex'), Buffer.from([cipherCodeForKeyBytes(k.keyBytes)]), enc]);
  const packet = Buffer.concat([Buffer.from([TAG_70]), encodePacketLength(body.length), body]);
  return FNEK_PREFIX + encodeForFilename(packet);
}

export function isEncryptedFilename(lower: string): boolean {
  return lower.length > FNEK_PREFIX.length && lower.startsWith(FNEK_PREFIX);
}

/** Returns the plaintext name, or throws CorruptFileError saying why it does not decode. */
export function decryptFilename(lower: string, k: FilenameKey, where = lower): Buffer {
  if (!isEncryptedFilename(lower)) throw new CorruptFileError(where, 'name lacks the ECRYPTFS_FNEK_ENCRYPTED. prefix');
  const packet = decodeFromFilename(lower.slice(FNEK_PREFIX.length));
  if (!packet) throw new CorruptFileError(where, "encrypted name holds characters outside eCryptfs' alphabet");
  if (packet.length < 1 + 1 + SIG_BYTES + 1 + 16 || packet[0] !== TAG_70) throw new CorruptFileError(where, 'encrypted name is not a tag 70 packet');
  const len = decodePacketLength(packet, 1);
  if (!len) throw new CorruptFileError(where, 'bad tag 70 packet length');
  const body = 1 + len.size;
  if (body + len.length > packet.length || len.length < SIG_BYTES + 1 + 16) throw new CorruptFileError(where, 'tag 70 packet length out of range');
  const sig = packet.subarray(body, body + SIG_BYTES).toString('hex');
  if (sig !== k.sig) throw new CorruptFileError(where, `name encrypted with filename key ${sig}, not ${k.sig}`);
  const keyBytes = keyBytesForCipherCode(packet[body + SIG_BYTES]);
  if (!keyBytes) throw new CorruptFileError(where, `tag 70 cipher code ${packet[body + SIG_BYTES]}`);
  const enc = packet.subarray(body + SIG_BYTES + 1, body + len.length);
  if (enc.length % 16 !== 0) throw new CorruptFileError(where, 'encrypted name is not whole AES blocks');
  // the kernel keys names with the mount's fn key bytes; the cipher code says which
  const plain = aesEcbDecrypt(Buffer.from(k.key.subarray(0, keyBytes)), Buffer.from(enc));
  const sep = plain.indexOf(0);
  if (sep < 0 || sep === plain.length - 1) throw new CorruptFileError(where, 'encrypted name does not decrypt (no separator)');
  const name = Buffer.from(plain.subarray(sep + 1));
  plain.fill(0);
  return name;
}

/** Plaintext names that fit an encrypted lower name of at most 255 bytes. */
export function encryptedNameFits(nameBytes: number): boolean {
  let total = FILENAME_MIN_RANDOM_PREPEND_BYTES + 1 + nameBytes;
  total = Math.ceil(total / 16) * 16;
  const body = SIG_BYTES + 1 + total;
  const packet = 1 + (body < 192 ? 1 : 2) + body;
  return FNEK_PREFIX.length + Math.ceil(packet / 3) * 4 <= LOWER_NAME_MAX;
}
