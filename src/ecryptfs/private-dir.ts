// Where ecryptfs-utils keeps a user's eCryptfs setup (ecryptfs-setup-private,
// ecryptfs-migrate-home): ~/.ecryptfs/Private.sig (the file key signature and,
// with encrypted names, the filename key signature), Private.mnt (the mount
// point), wrapped-passphrase (the mount passphrase under the login passphrase),
// and the lower directory: ~/.Private, or /home/.ecryptfs/U/.Private for an
// encrypted home (~/.ecryptfs and ~/.Private are then symlinks into it).
//
// They are the user's files, read by root: only through key-dir.ts (by
// descriptor, never through a link but ecryptfs-utils' own, each file a
// regular file of the user's, bounded), and the wrapped passphrase is read
// here too, so no caller opens it by name.
import { fchmodSync } from 'node:fs';
import { join } from 'node:path';
import { CorruptFileError, RefusedError, UsageError } from '../errors.js';
import { readdirFd, unlinkAt } from '../os/dir-fd.js';
import { parseWrappedPassphrase, type WrappedPassphrase } from '../format/ecryptfs/wrapped-passphrase.js';
import { readKeyFile, withKeyDir, type KeyDir, type KeyDirUser } from './key-dir.js';
import { lstatIn, mountPointInHome, withMountPoint } from './mount-point.js';

export interface PrivateSetup {
  home: string;
  ecryptfsDir: string;
  /** /home/.ecryptfs/U for an encrypted home, else null */
  base: string | null;
  lower: string;
  mountPoint: string;
  /** the wrapped-passphrase file's path (for messages; its content is `wrapped`) */
  wrappedPassphrase: string;
  wrapped: WrappedPassphrase;
  sig: string;
  fnekSig: string | null;
  /** true for an encrypted home (ecryptfs-migrate-home / setup-private --encrypted-home) */
  encryptedHome: boolean;
}

const SIG = /^[0-9a-f]{16}$/;
// Private.sig holds two 17-byte lines; Private.mnt a path (PATH_MAX); wrapped-passphrase is 58 or 74 bytes
const MAX_SIG_BYTES = 4096;
const MAX_MNT_BYTES = 8192;
const MAX_WRAPPED_BYTES = 4096;

const WRAPPED = 'wrapped-passphrase';

function wrappedIn(user: KeyDirUser, kd: KeyDir): WrappedPassphrase {
  const file = join(kd.path, WRAPPED);
  const bytes = readKeyFile(user, kd, WRAPPED, MAX_WRAPPED_BYTES);
  if (!bytes) throw new UsageError(`${file} does not exist`);
  return parseWrappedPassphrase(bytes, file);
}

/** The user's wrapped passphrase alone (a resumed migration: its other settings were read when it started). */
export function readWrappedPassphrase(user: KeyDirUser): WrappedPassphrase {
  return withKeyDir(user, (kd) => {
    if (!kd) throw new UsageError(`no eCryptfs settings for ${user.home} (${join(user.home, '.ecryptfs')} is missing)`);
    return wrappedIn(user, kd);
  });
}

export function readPrivateSetup(user: KeyDirUser): PrivateSetup {
  const home = user.home;
  return withKeyDir(user, (kd) => {
    if (!kd) throw new UsageError(`no eCryptfs private directory for ${home} (${join(home, '.ecryptfs')} is missing)`);
    const sigFile = join(kd.path, 'Private.sig');
    const sigBytes = readKeyFile(user, kd, 'Private.sig', MAX_SIG_BYTES);
    if (!sigBytes) throw new UsageError(`no eCryptfs private directory for ${home} (${sigFile} is missing)`);
    const lines = sigBytes
      .toString('utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    if (lines.length < 1 || lines.length > 2 || !lines.every((l) => SIG.test(l))) {
      throw new CorruptFileError(sigFile, 'expected one or two 16-hex-digit signatures');
    }
    const mntFile = join(kd.path, 'Private.mnt');
    const mnt = readKeyFile(user, kd, 'Private.mnt', MAX_MNT_BYTES);
    // a path in their home, reached without a symlink, or refused
    const mountPoint = mnt ? mountPointInHome(home, mnt.toString('utf8').split('\n')[0]!.trim(), mntFile) : join(home, 'Private');
    withMountPoint(home, mountPoint, () => undefined);
    const wrapped = wrappedIn(user, kd);
    const lower = join(kd.base ?? home, '.Private');
    // root reads the lower's file headers and records its path: a link there could lead it anywhere
    if (kd.lower === 'other') throw new RefusedError(`${lower} is not a directory (a symbolic link?); the eCryptfs lower directory must be a real directory`);
    return {
      home,
      ecryptfsDir: kd.path,
      base: kd.base,
      // an encrypted home's data is beside its settings, whatever ~/.Private says
      lower,
      mountPoint,
      wrappedPassphrase: join(kd.path, WRAPPED),
      wrapped,
      sig: lines[0]!,
      fnekSig: lines[1] ?? null,
      encryptedHome: mountPoint === home,
    };
  });
}

/**
 * ecryptfs-setup-private leaves two links in the unmounted ~/Private; nothing
 * else may be there. Done on the directory opened from the home without
 * following a symlink: the links are unlinked in it, its mode set on it.
 */
export function clearEcryptfsMountPoint(home: string, mnt: string): void {
  withMountPoint(home, mnt, (fd) => {
    for (const n of readdirFd(fd)) {
      if ((n === 'README.txt' || n === 'Access-Your-Private-Data.desktop') && lstatIn(fd, n)?.isSymbolicLink()) unlinkAt(fd, n, `${mnt}/${n}`);
    }
    if (readdirFd(fd).length > 0) throw new RefusedError(`${mnt} holds files while the eCryptfs directory is not mounted; move them away first`);
    fchmodSync(fd, 0o700); // ecryptfs-setup-private leaves it 0500
  });
}
