// The recovery key is the user's only way back when the password is lost, and
// it is shown exactly once. An interruption must not leave a recovery slot whose
// key nobody saw: setup notes "recoveryKeyPending" in the user record before it
// shows the key and clears it only after; a rerun that finds it set replaces
// the recovery slot with a new key and shows that one. No recovery key is ever
// kept on disk in the clear.
import { addRecoverySlot, removeSlot, RECOVERY_SLOT } from '../keys/key-store.js';
import type { UserAccount } from '../os/users.js';
import { keyStoreSummary, userStoreChange } from './key-ops.js';
import { saveUserRecord, type UserRecord } from './user-record.js';

export type ShowRecoveryKey = (key: string, rec: UserRecord) => void | Promise<void>;

/** Shows a just-made recovery key and clears the pending mark; returns the record as saved. */
export async function showRecoveryKeyOnce(rec: UserRecord, key: string, show: ShowRecoveryKey): Promise<UserRecord> {
  await show(key, rec);
  const done = { ...rec };
  delete done.recoveryKeyPending;
  saveUserRecord(done);
  return done;
}

/**
 * A new recovery key for a record whose key was never shown: the old recovery
 * slot (if any) goes, a new one is sealed with `secret` (the login passphrase),
 * and the new key is shown. Safe to repeat after any interruption.
 */
export async function reissueRecoveryKey(rec: UserRecord, user: UserAccount, secret: Buffer, show: ShowRecoveryKey): Promise<UserRecord> {
  // root runs this (setup, migrate) on a store in the user's folder: the user worker replaces it
  const change = userStoreChange(user);
  if (keyStoreSummary(rec.keyStore, user).slots.some((s) => s.name === RECOVERY_SLOT)) {
    await removeSlot(rec.keyStore, secret, RECOVERY_SLOT, change);
  }
  const key = await addRecoverySlot(rec.keyStore, secret, { ...change, name: RECOVERY_SLOT });
  return showRecoveryKeyOnce(rec, key, show);
}
