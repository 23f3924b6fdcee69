// Puts eCryptfs passphrase auth tokens into the caller's user keyring exactly
// as ecryptfs-utils does (ecryptfs_add_auth_tok_to_keyring): a "user" key named
// by the signature, left alone when one with that name is already there.
import { KEY_SPEC_USER_KEYRING, addKey, keyctlRead, keyctlSearch } from '../os/keyctl-syscalls.js';
import { parseAuthTok, type ParsedAuthTok } from '../format/ecryptfs/auth-tok.js';

/** Returns true when added, false when a key with that signature was already there. */
export function addAuthTok(sig: string, payload: Buffer): boolean {
  if (keyctlSearch(KEY_SPEC_USER_KEYRING, 'user', sig) !== null) return false;
  addKey('user', sig, payload, KEY_SPEC_USER_KEYRING);
  return true;
}

/** The auth token with signature `sig` from the caller's keyrings, or null. */
export function readAuthTok(sig: string): ParsedAuthTok | null {
  const serial = keyctlSearch(KEY_SPEC_USER_KEYRING, 'user', sig);
  if (serial === null) return null;
  const b = keyctlRead(serial, 740);
  try {
    return parseAuthTok(b, `keyring key ${sig}`);
  } finally {
    b.fill(0);
  }
}
