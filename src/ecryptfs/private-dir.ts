// Where ecryptfs-utils keeps a user's eCryptfs setup (ecryptfs-setup-private,
// ecryptfs-migrate-home): ~/.ecryptfs/Private.sig (the file key signature and,
// with encrypted names, the filename key signature), Private.mnt (the mount
// point), wrapped-passphrase (the mount passphrase under the login passphrase),
// and the lower directory: ~/.Private, or /home/.ecryptfs/U/.Private for an
// encrypted home (~/.ecryptfs and ~/.Private are then symlinks into it).
import { existsSync, fchmodSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { CorruptFileError, RefusedError, UsageError } from '../errors.js';
import { readdirFd, unlinkAt } from '../os/dir-fd.js';
import { lstatIn, mountPointInHome, withMountPoint } from './mount-point.js';

export interface PrivateSetup {
  home: string;
  ecryptfsDir: string;
  lower: string;
  mountPoint: string;
  wrappedPassphrase: string;
  sig: string;
  fnekSig: string | null;
  /** true for an encrypted home (ecryptfs-migrate-home / setup-private --encrypted-home) */
  encryptedHome: boolean;
}

const SIG = /^[0-9a-f]{16}$/;

export function readPrivateSetup(home: string, user?: string): PrivateSetup {
  let ecryptfsDir = join(home, '.ecryptfs');
  if (!existsSync(ecryptfsDir) && user && existsSync(`/home/.ecryptfs/${user}/.ecryptfs`)) ecryptfsDir = `/home/.ecryptfs/${user}/.ecryptfs`;
  const sigFile = join(ecryptfsDir, 'Private.sig');
  if (!existsSync(sigFile)) throw new UsageError(`no eCryptfs private directory for ${home} (${sigFile} is missing)`);
  const lines = readFileSync(sigFile, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.length < 1 || lines.length > 2 || !lines.every((l) => SIG.test(l))) {
    throw new CorruptFileError(sigFile, 'expected one or two 16-hex-digit signatures');
  }
  const mntFile = join(ecryptfsDir, 'Private.mnt');
  // the user's own file: a path in their home, reached without a symlink, or refused
  const mountPoint = existsSync(mntFile) ? mountPointInHome(home, readFileSync(mntFile, 'utf8').split('\n')[0]!.trim(), mntFile) : join(home, 'Private');
  withMountPoint(home, mountPoint, () => undefined);
  const real = realpathSync(ecryptfsDir);
  const base = real.endsWith('/.ecryptfs') ? real.slice(0, -'/.ecryptfs'.length) : home;
  let lower = join(home, '.Private');
  if (!existsSync(lower)) lower = join(base, '.Private');
  return {
    home,
    ecryptfsDir,
    lower: existsSync(lower) ? realpathSync(lower) : lower,
    mountPoint,
    wrappedPassphrase: join(ecryptfsDir, 'wrapped-passphrase'),
    sig: lines[0]!,
    fnekSig: lines[1] ?? null,
    encryptedHome: mountPoint === home,
  };
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
