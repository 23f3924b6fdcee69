// Root's side of the copy step of `ecryptfs migrate` (both flows): the copy
// itself (migrate-copy.ts) runs in the user worker, as the user, since the
// eCryptfs copy and the homecrypt lower are both theirs.
import type { UserAccount } from '../../os/users.js';
import { userWorker } from '../user-worker-client.js';
import type { CopyProgress } from '../../ecryptfs/migrate-copy.js';
import type { MigrateOptions } from './migrate-options.js';

/**
 * Runs the copy as the user (src/ecryptfs/migrate-copy.ts): the eCryptfs copy
 * and the homecrypt lower are both theirs. Secrets go on the worker's pipe.
 */
export async function copyAsUser(user: UserAccount, from: string, to: string, mountPass: Buffer, mountKey: Buffer, o: MigrateOptions): Promise<CopyProgress> {
  const payload = Buffer.concat([mountPass, mountKey]);
  mountKey.fill(0);
  try {
    const r = await userWorker(user).run({ op: 'ecryptfsCopy', from, to, passBytes: mountPass.length, failAfterEntries: o.failAfterEntries }, payload, {
      onProgress: (p) => {
        if (p.total) o.onProgress?.({ entries: p.files, bytes: p.bytes }, { entries: p.total.files, bytes: p.total.bytes });
      },
    });
    return r as CopyProgress;
  } finally {
    payload.fill(0);
  }
}
