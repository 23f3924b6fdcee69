// Mounting and unmounting a homecrypt user's directory outside a login (the
// systemd units, an administrator): same rules as the PAM hook — the key must
// already be in the user's keyring, the daemon runs as the user.
import { KeyNotAvailableError, UsageError } from '../errors.js';
import { isFuseMountedAt } from '../os/mounts.js';
import { withUserLock } from '../os/users-lock.js';
import { lookupUser } from '../os/users.js';
import { readdirSync } from 'node:fs';
import { mountAsUser, unmountAsUser } from './engine-ops.js';
import { dropKeyFromUserKeyring, keyFromUserKeyring } from './key-ops.js';
import { writeSessionCount } from './session-counter.js';
import { loadUserRecord, recordDir } from './user-record.js';

export async function mountUser(name: string): Promise<string> {
  const user = lookupUser(name);
  return withUserLock(user.name, async () => {
    const rec = loadUserRecord(user.name);
    if (!rec) throw new UsageError(`${user.name} does not use homecrypt`);
    if (isFuseMountedAt(rec.mountPoint)) return `${rec.mountPoint} is already mounted`;
    const key = await keyFromUserKeyring(user, rec.keyId);
    if (!key)
      throw new KeyNotAvailableError(
        `${user.name}'s key ${rec.keyId} is not in their keyring (it is unlocked at login, or with homecrypt key unwrap ${rec.keyStore})`,
      );
    key.fill(0);
    await mountAsUser(user, rec.lower, rec.mountPoint, rec.keyStore);
    return `mounted ${rec.mountPoint}`;
  });
}

/** Unmounts and drops the key, whatever the session count says (shutdown, admin). */
export async function unmountUser(name: string): Promise<string> {
  const user = lookupUser(name);
  return withUserLock(user.name, async () => {
    const rec = loadUserRecord(user.name);
    if (!rec) throw new UsageError(`${user.name} does not use homecrypt`);
    const how = await unmountAsUser(user, rec.mountPoint);
    writeSessionCount(user.name, 0);
    await dropKeyFromUserKeyring(user, rec.keyId);
    return `${rec.mountPoint}: ${how}`;
  });
}

export function homecryptUsers(): string[] {
  try {
    return readdirSync(recordDir())
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice(0, -5));
  } catch {
    return [];
  }
}
