// eCryptfs encrypted homes (ecryptfs-migrate-home, ecryptfs-setup-private
// --encrypted-home): the lower data is /home/.ecryptfs/U/.Private, the keys are
// /home/.ecryptfs/U/.ecryptfs, and /home/U itself is the mount point. Unmounted,
// /home/U holds only what ecryptfs-utils put there: the symlinks .ecryptfs and
// .Private into /home/.ecryptfs/U, and README.txt / the desktop file pointing at
// ecryptfs-utils' help. A mount over /home/U hides whatever else is there, so
// homecrypt mounts over those links (FUSE allows a non-empty mount point:
// fusermount3 always, mount(2) as root always; libfuse2's fusermount would need
// `nonempty`, which homecrypt's kernel bridge does not use) and over nothing else.
import { fchmodSync, fstatSync, lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { RefusedError } from '../errors.js';
import { bytesOfName, nameFromBytes } from '../format/name-bytes.js';
import { mountAt } from '../os/mounts.js';
import type { PrivateSetup } from './private-dir.js';
import { withMountPoint } from './mount-point.js';

/** The names in `dir` as bytes (format/name-bytes.ts): a stray name that is not UTF-8 is named as it is. */
function namesIn(dir: string): string[] {
  return readdirSync(bytesOfName(dir), { encoding: 'buffer' }).map(nameFromBytes);
}

const LEFTOVERS = new Set(['.ecryptfs', '.Private', 'README.txt', 'Access-Your-Private-Data.desktop']);

/** True for an entry ecryptfs-utils leaves in an unmounted encrypted home (a symlink of a known name). */
export function isEcryptfsLeftover(dir: string, name: string): boolean {
  if (!LEFTOVERS.has(name)) return false;
  try {
    return lstatSync(join(dir, name)).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Refuses when the unmounted home is mounted or holds anything a mount over it would hide. */
export function checkUnmountedHome(home: string): void {
  const m = mountAt(home);
  if (m) throw new RefusedError(`${home} is mounted (${m.fsType} ${m.source}); log ${home}'s user out (or unmount it) first`);
  const stray = namesIn(home).filter((n) => !isEcryptfsLeftover(home, n));
  if (stray.length > 0) {
    throw new RefusedError(
      `${home} holds ${stray.slice(0, 5).join(', ')}${stray.length > 5 ? ', …' : ''} while the eCryptfs home is not mounted; ` +
        'a mount over it would hide them: move them away (into the mounted home) first',
    );
  }
}

/** fusermount3 mounts only where the user may write; ecryptfs-utils leaves the unmounted home 0500. (On the home opened without following links.) */
export function makeMountPointWritable(home: string): void {
  withMountPoint(home, home, (fd) => {
    const mode = fstatSync(fd).mode & 0o7777;
    if ((mode & 0o200) === 0) fchmodSync(fd, mode | 0o200);
  });
}

/** Removes ecryptfs-utils' links from the unmounted home (after a migration: the home is homecrypt's now). */
export function removeLeftovers(home: string): void {
  for (const n of namesIn(home)) if (isEcryptfsLeftover(home, n)) unlinkSync(join(home, n));
}

/** /home/.ecryptfs/U: the folder holding .ecryptfs and .Private. */
export function ecryptfsUserDir(setup: PrivateSetup): string {
  // key-dir.ts found it beside the home, never by following the user's link;
  // settings in the home itself (a Private.mnt naming the home) keep theirs there
  return setup.base ?? setup.home;
}

/**
 * Where adoption puts the key store of an encrypted home: beside the eCryptfs
 * data, outside the mount point (a key store under /home/U would be hidden by
 * the mount it unlocks, and `homecrypt rewrap` could not reach it).
 */
export function adoptedHomeKeyStore(setup: PrivateSetup): string {
  return join(ecryptfsUserDir(setup), '.homecrypt', 'homecrypt.keys');
}
