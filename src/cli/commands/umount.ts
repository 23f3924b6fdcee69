// `homecrypt umount MOUNTPOINT`: unmounts a homecrypt mount, including one
// whose daemon died (a stale mount that answers ENOTCONN).
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { RefusedError, UsageError } from '../../errors.js';
import { mountAt } from '../../os/mounts.js';
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
      if (!m) throw new UsageError(`${mnt} is not mounted`);
      if (m.fsType !== 'fuse.homecrypt') throw new RefusedError(`${mnt} is not a homecrypt mount (${m.fsType})`);
      try {
        await fusermountUnmount(mnt, !!o.lazy);
      } catch (err) {
        throw new RefusedError(`${(err as Error).message}${o.lazy ? '' : ' (busy? close its files, or use --lazy)'}`);
      }
    });
}
