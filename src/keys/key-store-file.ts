// Reading and writing the key-store file with the checks a key file needs: a
// regular file (no symlink, no fifo), mode 0600 (nothing for group or other),
// owned by the user it belongs to (or root), replaced only atomically.
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { CorruptFileError, PermissionDeniedError, RefusedError, UnsafePermissionsError, UsageError } from '../errors.js';
import { KEYSTORE_MAGIC } from '../format/key-store-layout.js';
import { writeFileAtomic, type AtomicWriteOptions, type AtomicWriter } from '../os/atomic-file.js';

const MAX_KEYSTORE_BYTES = 64 * 1024;

export interface ReadCheckOptions {
  /** The uid the file must belong to (besides root). Default: the caller's uid. */
  expectUid?: number;
  /**
   * Root reading a store *for* a user (login, setup, status): only a file that
   * user owns will do, not root's. The path runs through the user's folders,
   * which they can point anywhere (`~/.homecrypt` a symlink to a root-only
   * folder): a root-owned store found there is not theirs to unlock.
   */
  onlyExpectedOwner?: boolean;
}

function ownerAcceptable(path: string, st: Stats, opts: ReadCheckOptions): boolean {
  const euid = process.geteuid?.() ?? 0;
  if (opts.onlyExpectedOwner && opts.expectUid !== undefined) return st.uid === opts.expectUid;
  if (st.uid === 0 || st.uid === euid) return true;
  if (opts.expectUid !== undefined) return st.uid === opts.expectUid;
  // root reading without saying for whom: the file must belong to whoever owns its folder
  if (euid === 0) {
    try {
      return statSync(dirname(path)).uid === st.uid;
    } catch {
      return false;
    }
  }
  return false;
}

export function readKeyStoreBytes(path: string, opts: ReadCheckOptions = {}): { bytes: Buffer; stat: Stats } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`${path}: no such key store`);
    if (code === 'ELOOP') throw new UnsafePermissionsError(`${path}: is a symbolic link; a key store must be a regular file`);
    if (code === 'EACCES') throw new PermissionDeniedError(`${path}: permission denied`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CorruptFileError(path, 'not a regular file');
    // the owner before any byte is read: root reading for a user tells nothing
    // of a file that is not theirs (a link in their folders to one only root may read)
    if (!ownerAcceptable(path, st, opts)) {
      throw new UnsafePermissionsError(
        opts.onlyExpectedOwner
          ? `${path}: owned by uid ${st.uid}, not by uid ${opts.expectUid} whose key store it is meant to be`
          : `${path}: owned by uid ${st.uid}, not by the user it belongs to or root`,
      );
    }
    // a file that is no key store at all (a typo, /etc/passwd) is named as such, not told to chmod
    const head = Buffer.alloc(KEYSTORE_MAGIC.length);
    if (readSync(fd, head, 0, head.length, 0) === head.length && !head.equals(KEYSTORE_MAGIC)) {
      throw new CorruptFileError(path, 'not a homecrypt key store');
    }
    if ((st.mode & 0o077) !== 0) {
      throw new UnsafePermissionsError(
        `${path}: mode ${(st.mode & 0o777).toString(8).padStart(4, '0')} lets others read or change it; a key store must be 0600 (chmod 600)`,
      );
    }
    if (st.size > MAX_KEYSTORE_BYTES) throw new CorruptFileError(path, `${st.size} bytes, too large for a key store`);
    const bytes = Buffer.alloc(st.size);
    let off = 0;
    while (off < bytes.length) {
      const n = readSync(fd, bytes, off, bytes.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return { bytes: bytes.subarray(0, off), stat: st };
  } finally {
    closeSync(fd);
  }
}

export interface WriteOptions {
  owner?: { uid: number; gid: number };
  onStep?: AtomicWriteOptions['onStep'];
  /**
   * Who replaces the file. Root changing a user's key store passes a writer
   * that runs as that user (the folder is the user's: root must not create
   * and rename files in it); without one the file is written here, and a
   * given owner is set on the descriptor.
   */
  writer?: AtomicWriter;
}

export async function writeKeyStoreBytes(path: string, bytes: Buffer, opts: WriteOptions = {}): Promise<void> {
  try {
    if (opts.writer) await opts.writer(path, bytes, 0o600);
    else writeFileAtomic(path, bytes, { mode: 0o600, uid: opts.owner?.uid, gid: opts.owner?.gid, onStep: opts.onStep });
  } catch (err) {
    // the old file (if any) is untouched: say why the new one could not be written
    const code = (err as NodeJS.ErrnoException).code;
    const dir = dirname(path);
    switch (code) {
      case 'ENOENT':
        throw new UsageError(`${path}: the folder ${dir} does not exist`);
      case 'ENOTDIR':
        throw new UsageError(`${path}: ${dir} is not a folder`);
      case 'EACCES':
      case 'EPERM':
        throw new PermissionDeniedError(`${path}: no permission to write in ${dir}`);
      case 'EROFS':
        throw new RefusedError(`${path}: ${dir} is on a read-only filesystem`);
      case 'ENOSPC':
      case 'EDQUOT':
        throw new RefusedError(`${path}: no space left to write the key store (nothing was changed)`);
      default:
        throw err;
    }
  }
}
