// A new encrypted lower directory for a user: the engine's volume config for
// the mount key, naming the key store, owned by the user who will mount it.
// Kept apart from engine-ops so the login hook does not load the engine.
import { chmodSync, chownSync } from 'node:fs';
import { configPath, prepareLowerDir, writeNewVolumeConfig } from '../engine/volume.js';
import type { UserAccount } from '../os/users.js';

export function initLower(user: UserAccount, lower: string, keyStore: string, mountKey: Buffer, opts: { plaintextNames?: boolean } = {}): void {
  prepareLowerDir(lower);
  writeNewVolumeConfig(lower, mountKey, { keystore: keyStore, plaintextNames: opts.plaintextNames });
  chownSync(lower, user.uid, user.gid);
  chmodSync(lower, 0o700);
  chownSync(configPath(lower), user.uid, user.gid);
}
