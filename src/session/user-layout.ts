// Where a user's encrypted data lives, per mode.
//   private: ~/.Private (lower) → ~/Private (mount), key store ~/.homecrypt/homecrypt.keys
//   home:    /home/.homecrypt/U/lower → ~ (mount), key store /home/.homecrypt/U/homecrypt.keys;
//            /home/.homecrypt/U/plain holds the old home while it is migrated in
import { dirname, join } from 'node:path';
import type { UserAccount } from '../os/users.js';
import type { Mode } from './user-record.js';

export interface Layout {
  mode: Mode;
  lower: string;
  mountPoint: string;
  keyStore: string;
  /** folder of the key store (created 0700, owned by the user) */
  keyDir: string;
  /** home mode: the user's folder under /home/.homecrypt */
  base?: string;
  /** home mode: the old plaintext home while it is being migrated */
  aside?: string;
  /** undo: where the plaintext is gathered before it replaces the mount point */
  restore: string;
}

export function homecryptRoot(home: string): string {
  return process.env.HOMECRYPT_HOME_ROOT_FOR_TESTS ?? join(dirname(home), '.homecrypt');
}

export function layoutFor(user: UserAccount, mode: Mode): Layout {
  if (mode === 'private') {
    const keyDir = join(user.home, '.homecrypt');
    return {
      mode,
      lower: join(user.home, '.Private'),
      mountPoint: join(user.home, 'Private'),
      keyDir,
      keyStore: join(keyDir, 'homecrypt.keys'),
      restore: join(user.home, '.Private-restore'),
    };
  }
  const base = join(homecryptRoot(user.home), user.name);
  return {
    mode,
    base,
    lower: join(base, 'lower'),
    mountPoint: user.home,
    keyDir: base,
    keyStore: join(base, 'homecrypt.keys'),
    aside: join(base, 'plain'),
    restore: join(base, 'restore'),
  };
}
