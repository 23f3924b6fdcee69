// `setup --forget`: the way out for the record of an account that no longer
// exists (userdel -r leaves /etc/homecrypt/users/U.json; a new account of the
// same name then finds "already set up", and --undo asks for a key nobody has).
// Only the record goes: encrypted data left behind may still be opened with its
// recovery key, so it is named, never deleted here.
import { existsSync } from 'node:fs';
import { RefusedError, UsageError } from '../errors.js';
import { requireRoot } from '../os/require-root.js';
import { lookupUser, type UserAccount } from '../os/users.js';
import { withUserLock } from '../os/users-lock.js';
import { loadUserRecord, removeUserRecord, type UserRecord } from './user-record.js';

export interface ForgetResult {
  record: UserRecord;
  leftBehind: string[];
}

function accountOrNull(name: string): UserAccount | null {
  try {
    return lookupUser(name);
  } catch (err) {
    if (err instanceof UsageError) return null;
    throw err;
  }
}

/** The account the record was made for is gone (no account, or one with another uid). */
export function recordIsOrphaned(rec: UserRecord): boolean {
  const account = accountOrNull(rec.user);
  return !account || account.uid !== rec.uid;
}

export async function forgetUser(name: string): Promise<ForgetResult> {
  requireRoot('homecrypt setup --forget');
  return withUserLock(name, async () => {
    const rec = loadUserRecord(name);
    if (!rec) throw new UsageError(`${name} has no homecrypt record`);
    const account = accountOrNull(name);
    if (account && account.uid === rec.uid) {
      throw new RefusedError(`${name} still exists with uid ${rec.uid}: the record is in use`, {
        hint: `homecrypt setup --undo --user ${name} decrypts the home and removes the record`,
      });
    }
    removeUserRecord(name);
    return { record: rec, leftBehind: [rec.lower, rec.keyStore].filter((p) => existsSync(p)) };
  });
}
