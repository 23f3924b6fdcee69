// Root reading a user's eCryptfs settings (~/.ecryptfs: Private.sig,
// Private.mnt, wrapped-passphrase) for adopt and migrate. They are the user's
// files in the user's folder, so by name they could be a link to /etc/shadow,
// a fifo that hangs root, /dev/zero, or a hard link to another user's file.
// Root reaches them by descriptor instead: the home opened in its root-owned
// parent, ~/.ecryptfs opened in it O_NOFOLLOW, each file read with
// readSmallFileAt (no link, no block on open, a regular file of the user's,
// bounded) — refused, never read, otherwise.
//
// The one link followed is the one ecryptfs-utils makes for an encrypted home:
// ~/.ecryptfs → /home/.ecryptfs/U/.ecryptfs. Its target is not opened as a
// path: it must name exactly that place (beside the home, in its parent's
// .ecryptfs, under the user's own name), which is then opened from the
// root-owned /home/.ecryptfs down, /home/.ecryptfs/U required to be the user's.
import { closeSync, fstatSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CorruptFileError, RefusedError } from '../errors.js';
import { openDirAt, openHomeDir, openTrustedDir, withFd } from '../os/dir-fd.js';
import { lstatatSync, readlinkatSync } from '../os/lower-fs-calls.js';
import { readSmallFileAt } from '../os/small-file.js';
import type { UserAccount } from '../os/users.js';

export type KeyDirUser = Pick<UserAccount, 'name' | 'uid' | 'home'>;

export interface KeyDir {
  /** ~/.ecryptfs, or /home/.ecryptfs/U/.ecryptfs for an encrypted home (the path, for messages) */
  path: string;
  /** /home/.ecryptfs/U when the settings are an encrypted home's, else null */
  base: string | null;
  /** what `.Private` beside the settings (in the home, or in `base`) is: a directory, nothing, or something else (a link) */
  lower: 'dir' | 'absent' | 'other';
  /** the open ~/.ecryptfs (closed by withKeyDir) */
  fd: number;
}

const codeOf = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** /home/.ecryptfs/U of an encrypted home: in the home's parent, never anywhere a link says. */
export function encryptedHomeBase(user: KeyDirUser): string {
  return join(dirname(user.home), '.ecryptfs', user.name);
}

function entryIn(dirFd: number, name: string): KeyDir['lower'] {
  try {
    return lstatatSync(dirFd, name).mode >>> 12 === 0o04 ? 'dir' : 'other';
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return 'absent';
    throw err;
  }
}

/** /home/.ecryptfs/U/.ecryptfs opened from root's /home/.ecryptfs, or null when there is none. */
function openBaseKeyDir(user: KeyDirUser): { fd: number; lower: KeyDir['lower'] } | null {
  const base = encryptedHomeBase(user);
  let bfd: number;
  try {
    bfd = withFd(openTrustedDir(dirname(base)), (efd) => openDirAt(efd, basename(base), base));
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return null;
    throw err;
  }
  return withFd(bfd, () => {
    const owner = fstatSync(bfd).uid;
    if (owner !== user.uid) throw new RefusedError(`${base} belongs to uid ${owner}, not to ${user.name}; refusing to read eCryptfs settings in it as root`);
    try {
      return { fd: openDirAt(bfd, '.ecryptfs', join(base, '.ecryptfs')), lower: entryIn(bfd, '.Private') };
    } catch (err) {
      if (codeOf(err) === 'ENOENT') return null;
      throw err;
    }
  });
}

/**
 * The user's eCryptfs settings folder, open; null when there is none. Refused
 * (RefusedError) when ~/.ecryptfs is a link anywhere but to the user's own
 * /home/.ecryptfs/U/.ecryptfs, or is not a directory.
 */
export function openKeyDir(user: KeyDirUser): KeyDir | null {
  const own = join(user.home, '.ecryptfs');
  const base = encryptedHomeBase(user);
  return withFd(openHomeDir(user.home), (hfd) => {
    let st;
    try {
      st = lstatatSync(hfd, '.ecryptfs');
    } catch (err) {
      if (codeOf(err) !== 'ENOENT') throw err;
      // no ~/.ecryptfs (ecryptfs-utils' links already gone from an encrypted home): its data may still be there
      const b = openBaseKeyDir(user);
      return b && { path: join(base, '.ecryptfs'), base, lower: b.lower, fd: b.fd };
    }
    const type = st.mode >>> 12;
    if (type === 0o04) return { path: own, base: null, lower: entryIn(hfd, '.Private'), fd: openDirAt(hfd, '.ecryptfs', own) };
    if (type !== 0o12) throw new RefusedError(`${own} is not a directory`);
    const target = resolve(user.home, readlinkatSync(hfd, '.ecryptfs'));
    if (target !== join(base, '.ecryptfs')) {
      throw new RefusedError(
        `${own} is a link to ${target}; root follows it only to ${join(base, '.ecryptfs')}, where ecryptfs-utils keeps an encrypted home's settings`,
      );
    }
    const b = openBaseKeyDir(user);
    if (!b) throw new RefusedError(`${own} links to ${target}, which is not there`);
    return { path: target, base, lower: b.lower, fd: b.fd };
  });
}

/** Runs fn on the open settings folder (null when there is none), closing it after. */
export function withKeyDir<T>(user: KeyDirUser, fn: (kd: KeyDir | null) => T): T {
  const kd = openKeyDir(user);
  try {
    return fn(kd);
  } finally {
    if (kd) closeSync(kd.fd);
  }
}

/**
 * The bytes of the settings file `name` (at most `max`), or null when it is
 * absent. A link, a fifo, a device, a file of anyone but the user or one
 * larger than `max` is refused (CorruptFileError: exit 4) before a byte is read.
 */
export function readKeyFile(user: KeyDirUser, kd: KeyDir, name: string, max: number): Buffer | null {
  const where = join(kd.path, name);
  try {
    return readSmallFileAt(kd.fd, name, max, where, { owner: user.uid });
  } catch (err) {
    const code = codeOf(err);
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw new CorruptFileError(where, 'is a symbolic link; root reads the eCryptfs settings only from real files of the user');
    throw err;
  }
}
