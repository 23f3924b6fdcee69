// After `homecrypt rewrap` (the fix status, doctor and the password hook name
// for a password reset behind homecrypt's back), the records of that key store
// no longer say the password is out of sync: until now only the next login
// cleared `needsRecovery`, and status and doctor kept saying OUT OF SYNC.
// Only root can write records; a record is changed only when it names this
// very file and its mount key, under the user's lock, through user-record.ts.
import { withUserLock } from '../os/users-lock.js';
import { loadUserRecord, recordsUsingKeyStore, saveUserRecord } from './user-record.js';

/** Clears `needsRecovery` in the records of `keyStore` (mount key `keyId`); returns their users. */
export async function noteLoginRewrapped(keyStore: string, keyId: string): Promise<string[]> {
  if (process.geteuid?.() !== 0) return [];
  const synced: string[] = [];
  for (const found of recordsUsingKeyStore(keyStore)) {
    if (found.keyId !== keyId || !found.needsRecovery) continue;
    await withUserLock(found.user, async () => {
      // read again under the lock: a login may have written it meanwhile
      const rec = loadUserRecord(found.user);
      if (!rec || rec.keyId !== keyId || rec.keyStore !== found.keyStore || !rec.needsRecovery) return;
      saveUserRecord({ ...rec, needsRecovery: false });
      synced.push(rec.user);
    });
  }
  return synced;
}
