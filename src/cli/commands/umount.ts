// `homecrypt umount MOUNTPOINT`: unmounts a homecrypt mount, including one
// whose daemon died (a stale mount that answers ENOTCONN).
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { MountBusyError, PermissionDeniedError, RefusedError, UsageError } from '../../errors.js';
import { fuseMountOwner, mountAt } from '../../os/mounts.js';
import { userNameOf } from '../../os/users.js';
import { fusermountUnmount } from '../../fuse/index.js';

export function registerUmountCommand(program: Command): void {
  program
    .command('umount')
    .description('unmount a homecrypt mount (also one whose daemon has died)')
    .argument('<mountpoint>', 'where it is mounted')
    .option('--lazy', 'detach now even if busy; it goes away when the last file closes')
    .action(async (mountPoint: string, o: { lazy?: boolean }) => {
      const mnt = resolve(mountPoint);
      const m = mountAt(mnt);
      if (!m) throw new UsageError(existsSync(mnt) ? `${mnt} is not mounted` : `${mnt} does not exist`);
      if (m.fsType !== 'fuse.homecrypt') throw new RefusedError(`${mnt} is not a homecrypt mount (${m.fsType})`);
      // fusermount would only say it found no entry of ours
      const owner = fuseMountOwner(m);
      const uid = process.getuid?.() ?? 0;
      if (uid !== 0 && owner !== null && owner !== uid) {
        const who = userNameOf(owner);
        throw new PermissionDeniedError(`${mnt} was mounted by ${who}, not you`, {
          hint: owner === 0 ? 'ask root to unmount it' : `ask ${who} or root to unmount it`,
        });
      }
      try {
        await fusermountUnmount(mnt, !!o.lazy);
      } catch (err) {
        // this command can also detach it now
        if (err instanceof MountBusyError && !o.lazy)
          throw new MountBusyError(mnt, err.message, `${err.hint}; or detach it now: homecrypt umount --lazy ${mnt}`);
        throw err;
      }
    });
}
