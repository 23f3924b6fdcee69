// The key operations a login needs, from the key store (src/keys) and the
// kernel keyring (src/os/keyring.ts), in the shape the flows use: the mount
// key goes into the *user's* keyring, owned by the user, never to disk.
import { readKeyStoreInfo, rewrapLogin, rewrapLoginWithMountKey, unwrapKeyStore } from '../keys/key-store.js';
import { LOGIN_KDF_BUDGET } from '../keys/kdf-budget.js';
import { forgetMountKey, insertMountKey, readMountKey } from '../os/keyring.js';
import type { UserAccount } from '../os/users.js';
import { userWorker } from './user-worker-client.js';

// the account is already looked up: giving its gid spares the keyring a
// `getent passwd` process per call (a login makes several)
const ids = (user: UserAccount) => ({ uid: user.uid, gid: user.gid });

// root opening a user's key store (the login hook, setup, migrate) reads only a
// file the user owns (root's own stores are not theirs, whatever their folders
// point at) and does no more Argon2id work than the login budget allows
const owned = (user: UserAccount) => ({ expectUid: user.uid, onlyExpectedOwner: true });
const forUser = (user: UserAccount) => ({ ...owned(user), kdfBudget: LOGIN_KDF_BUDGET });

export async function unwrapForUser(keyStore: string, user: UserAccount, secret: Buffer): Promise<{ keyId: string; mountKey: Buffer; slot: string }> {
  return unwrapKeyStore(keyStore, secret, forUser(user));
}

export async function putKeyInUserKeyring(user: UserAccount, keyId: string, mountKey: Buffer): Promise<void> {
  await insertMountKey(keyId, mountKey, ids(user));
}

/** The mount key from the user's keyring, or null when it is not there. */
export async function keyFromUserKeyring(user: UserAccount, keyId: string): Promise<Buffer | null> {
  try {
    const k = await readMountKey(keyId, ids(user));
    return k ? Buffer.from(k) : null;
  } catch {
    return null;
  }
}

export async function dropKeyFromUserKeyring(user: UserAccount, keyId: string): Promise<boolean> {
  try {
    await forgetMountKey(keyId, ids(user));
    return true;
  } catch {
    return false;
  }
}

/**
 * Options for root changing a user's key store: read only if the user owns
 * it, within the login budget, and replaced by the user worker (the folder is
 * the user's: root never creates or renames files in it).
 */
export function userStoreChange(user: UserAccount) {
  return { ...forUser(user), writer: userWorker(user).writer };
}

/** The new login slot is sealed here; the file is replaced by the user (it is in their folder). */
export async function rewrapWithKey(keyStore: string, user: UserAccount, mountKey: Buffer, newPassword: Buffer): Promise<void> {
  await rewrapLoginWithMountKey(keyStore, mountKey, newPassword, userStoreChange(user));
}

/** A password change seen by the PAM module: the old password opens the login slot, the new one re-wraps it. */
export async function rewrapForUser(keyStore: string, user: UserAccount, oldPassword: Buffer, newPassword: Buffer): Promise<void> {
  await rewrapLogin(keyStore, oldPassword, newPassword, userStoreChange(user));
}

export function keyStoreSummary(keyStore: string, user: UserAccount) {
  return readKeyStoreInfo(keyStore, owned(user));
}
