// Deterministic authenticated name encryption (docs/FORMAT-FILES.md), an SIV
// construction from primitives Node has (it has no AES-SIV):
//   siv = HMAC-SHA256(macKey, domain || 0x00 || context || plaintext)[0..16]
//   ct  = AES-256-CTR(encKey, iv = siv, plaintext)
//   encoded = base64url-without-padding(siv || ct)
// The context is empty in format 1 and the directory's 16-byte IV for names
// of format 2 (domain "dirname"), so a name is bound to its directory. The
// same name in the same directory always encrypts the same (lookups need no
// directory scan); a changed byte anywhere fails the SIV check.
// The alphabet (A-Z a-z 0-9 - _) has no '.', so encrypted names can never
// collide with the volume's own files (homecrypt.conf, homecrypt.keys).
import { AuthenticationError } from '../errors.js';
import { secretsEqual } from '../crypto/constant-time.js';
import { hkdfSha256 } from '../crypto/hkdf.js';
import { hmacCtr } from '../crypto/hmac-ctr.js';
import { bytesOfName, nameFromBytes } from './name-bytes.js';

export const SIV_BYTES = 16;
export const NAME_MAX_BYTES = 255;
/** name, target, xattr: format 1 (and targets, xattr names of format 2); dirname: names of format 2; diriv: the tag of a directory IV file. */
export type NameDomain = 'name' | 'target' | 'xattr' | 'dirname' | 'diriv';

export interface NameKeys {
  macKey: Buffer;
  encKey: Buffer;
}

export function deriveNameKeys(mountKey: Buffer): NameKeys {
  const k = hkdfSha256(mountKey, 'homecrypt names v1', 64);
  return { macKey: k.subarray(0, 32), encKey: k.subarray(32, 64) };
}

/** The domains' prefixes (name || 0x00), made once. */
const DOMAIN_PREFIX = new Map<NameDomain, Buffer>();
function prefixOf(domain: NameDomain): Buffer {
  let p = DOMAIN_PREFIX.get(domain);
  if (!p) DOMAIN_PREFIX.set(domain, (p = Buffer.concat([Buffer.from(domain, 'ascii'), Buffer.of(0)])));
  return p;
}

/** `context`: bytes of fixed length per domain (a directory IV), or none. */
export function siv(keys: NameKeys, domain: NameDomain, plain: Buffer, context?: Buffer): Buffer {
  const prefix = prefixOf(domain);
  const input = Buffer.allocUnsafe(prefix.length + (context?.length ?? 0) + plain.length);
  let at = prefix.copy(input, 0);
  if (context) at += context.copy(input, at);
  plain.copy(input, at);
  return hmacCtr().hmacSha256(keys.macKey, input).subarray(0, SIV_BYTES);
}

function ctr(keys: NameKeys, iv: Buffer, data: Buffer): Buffer {
  return hmacCtr().aes256Ctr(keys.encKey, iv, data);
}

export function sivSeal(keys: NameKeys, domain: NameDomain, plain: Buffer, context?: Buffer): Buffer {
  const iv = siv(keys, domain, plain, context);
  return Buffer.concat([iv, ctr(keys, iv, plain)]);
}

export function sivOpen(keys: NameKeys, domain: NameDomain, sealed: Buffer, context?: Buffer): Buffer {
  if (sealed.length < SIV_BYTES) throw new AuthenticationError('encrypted name too short');
  const iv = sealed.subarray(0, SIV_BYTES);
  const plain = ctr(keys, iv, sealed.subarray(SIV_BYTES));
  if (!secretsEqual(siv(keys, domain, plain, context), iv)) throw new AuthenticationError('encrypted name failed authentication');
  return plain;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

export function encodeName(sealed: Buffer): string {
  return sealed.toString('base64url');
}

/** The value of base64url character code `c` (the caller has checked the alphabet). */
function b64Value(c: number): number {
  if (c >= 97) return c - 71; // a-z: 26..51
  if (c >= 65) return c === 95 ? 63 : c - 65; // '_' (95) or A-Z
  if (c >= 48) return c + 4; // 0-9: 52..61
  return 62; // '-'
}

/**
 * Strict decoding: only the base64url alphabet, canonical length, and the
 * bits a last partial character carries past the last byte all zero, so that
 * exactly one string encodes each byte string (what re-encoding and comparing
 * checked before, without the second conversion).
 */
export function decodeName(encoded: string): Buffer | null {
  const rest = encoded.length % 4;
  if (rest === 1 || !B64URL.test(encoded)) return null;
  if (rest !== 0 && (b64Value(encoded.charCodeAt(encoded.length - 1)) & (rest === 2 ? 0x0f : 0x03)) !== 0) return null;
  return Buffer.from(encoded, 'base64url');
}

/**
 * The plaintext length sealed in an encoded value of `encodedLength`
 * characters (base64url without padding of siv || ct, so 4 characters carry 3
 * bytes and a last group of 2 or 3 characters 1 or 2): exact, without
 * decoding. Null for a length no sealed value has (a last group of one
 * character, or fewer bytes than the SIV).
 */
export function sealedPlainLength(encodedLength: number): number | null {
  if (!Number.isSafeInteger(encodedLength) || encodedLength < 0 || encodedLength % 4 === 1) return null;
  const bytes = Math.floor((encodedLength * 3) / 4);
  return bytes >= SIV_BYTES ? bytes - SIV_BYTES : null;
}

/** Encrypts one plaintext name (its bytes, src/format/name-bytes.ts) to its full encoded form. */
export function encryptNameString(keys: NameKeys, domain: NameDomain, plain: string, context?: Buffer): string {
  return encodeName(sivSeal(keys, domain, bytesOfName(plain), context));
}

/** Decrypts a full encoded name; null when it is not one of ours. */
export function decryptNameString(keys: NameKeys, domain: NameDomain, encoded: string, context?: Buffer): string {
  const sealed = decodeName(encoded);
  if (!sealed) throw new AuthenticationError('not an encrypted name');
  // any bytes: Linux names need not be UTF-8 (authenticated by the SIV all the same)
  return nameFromBytes(sivOpen(keys, domain, sealed, context));
}
