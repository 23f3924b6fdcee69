// The keys of one eCryptfs mount, derived the way ecryptfs-add-passphrase
// (--fnek) and mount.ecryptfs_private derive them from the mount passphrase.
import { DEFAULT_SALT, FNEK_SALT, type AesKeyBytes } from '../format/ecryptfs/constants.js';
import { authTokForPassphrase } from '../format/ecryptfs/auth-tok.js';
import type { FilenameKey } from '../format/ecryptfs/filename.js';

export interface EcryptfsKeys {
  /** File-key-encryption key: signature -> 64-byte passphrase key. */
  byKeySig: Map<string, Buffer>;
  /** The key new files are written under. */
  sig: string;
  salt: Buffer;
  /** Set when names are encrypted. */
  fnek?: FilenameKey;
  /** Auth token payloads, for inserting into the keyring. */
  payloads: { sig: string; payload: Buffer }[];
}

export interface MountKeyOptions {
  keyBytes: AesKeyBytes;
  encryptNames: boolean;
  /** ~/.ecryptfsrc salt, if the user set one; else ecryptfs-utils' default. */
  salt?: Buffer;
}

export function keysFromMountPassphrase(passphrase: Buffer, o: MountKeyOptions): EcryptfsKeys {
  const salt = o.salt ?? DEFAULT_SALT;
  const main = authTokForPassphrase(passphrase, salt);
  const keys: EcryptfsKeys = {
    byKeySig: new Map([[main.sig, main.key]]),
    sig: main.sig,
    salt,
    payloads: [{ sig: main.sig, payload: main.payload }],
  };
  if (o.encryptNames) {
    const f = authTokForPassphrase(passphrase, FNEK_SALT);
    keys.fnek = { key: f.key, sig: f.sig, keyBytes: o.keyBytes };
    keys.payloads.push({ sig: f.sig, payload: f.payload });
  }
  return keys;
}

export function wipeKeys(k: EcryptfsKeys): void {
  for (const v of k.byKeySig.values()) v.fill(0);
  k.fnek?.key.fill(0);
  for (const p of k.payloads) p.payload.fill(0);
}
