// The key ID names a mount key everywhere (keyring description, file headers,
// status output) without revealing it: a one-way HKDF output under its own
// label, so it says nothing about the key or any passphrase that wraps it.
import { hkdfSha256 } from './hkdf.js';

export const KEY_ID_BYTES = 8;
const KEY_ID_INFO = 'homecrypt key-id v1';

/** 16 lowercase hex characters (8 bytes). */
export function keyIdOf(mountKey: Buffer): string {
  return hkdfSha256(mountKey, KEY_ID_INFO, KEY_ID_BYTES).toString('hex');
}

export function isKeyId(text: string): boolean {
  return /^[0-9a-f]{16}$/.test(text);
}
