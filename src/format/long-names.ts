// Names whose encrypted form is longer than the lower filesystem allows
// (over 255 bytes, i.e. plaintext names over 175 bytes) are stored as
//   entry:   "~" + H       H = base64url(SHA-256(full encoded name)), 43 chars
//   sidecar: "~" + H + "~name", a file holding the full encoded name (ASCII)
// in the same lower directory. '~' is outside the base64url alphabet, so a
// long name never looks like a short one. The sidecar needs no key of its
// own: its content is the SIV ciphertext (authenticated by the name key) and
// its hash must match the entry's name.
import { createHash } from 'node:crypto';

export const LOWER_NAME_MAX = 255;
export const LONG_PREFIX = '~';
export const SIDECAR_SUFFIX = '~name';
/**
 * More than any sidecar holds (the longest encoded name, 255 bytes and the
 * SIV, is 362 characters): a larger file is not one and is not read.
 */
export const SIDECAR_MAX_BYTES = 1024;
const LONG_ENTRY = /^~[A-Za-z0-9_-]{43}$/;

export function longNameHash(encoded: string): string {
  return createHash('sha256').update(encoded, 'ascii').digest('base64url');
}

export function longEntryName(encoded: string): string {
  return LONG_PREFIX + longNameHash(encoded);
}

export function sidecarNameOf(entry: string): string {
  return entry + SIDECAR_SUFFIX;
}

export function isLongEntry(lowerName: string): boolean {
  return LONG_ENTRY.test(lowerName);
}

export function isSidecar(lowerName: string): boolean {
  return lowerName.endsWith(SIDECAR_SUFFIX) && isLongEntry(lowerName.slice(0, -SIDECAR_SUFFIX.length));
}

/** Checks that a sidecar's content belongs to `entry`; returns the encoded name or null. */
export function checkSidecar(entry: string, content: Buffer): string | null {
  const encoded = content.toString('ascii').trim();
  return longEntryName(encoded) === entry ? encoded : null;
}
