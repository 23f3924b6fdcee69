// ~/.ecryptfs/wrapped-passphrase on disk: read (versions 1 and 2), write
// (version 2, atomically, mode 0600 like ecryptfs-utils' mkstemp), rewrap.
import { lstatSync, readFileSync } from 'node:fs';
import { CorruptFileError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../os/atomic-file.js';
import { randomBytes } from '../crypto/random.js';
import { SALT_BYTES } from '../format/ecryptfs/constants.js';
import {
  parseWrappedPassphrase,
  serializeWrappedPassphrase,
  unwrapPassphrase,
  wrapPassphrase,
  type WrappedPassphrase,
} from '../format/ecryptfs/wrapped-passphrase.js';

export function readWrappedPassphraseFile(path: string): WrappedPassphrase {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    throw new UsageError(`${path} does not exist`);
  }
  if (!st.isFile()) throw new CorruptFileError(path, 'not a regular file');
  if (st.size > 4096) throw new CorruptFileError(path, `too large (${st.size} bytes) for a wrapped-passphrase file`);
  return parseWrappedPassphrase(readFileSync(path), path);
}

export function unwrapPassphraseFile(path: string, loginPassphrase: Buffer, v1Salt?: Buffer): Buffer {
  return unwrapPassphrase(readWrappedPassphraseFile(path), loginPassphrase, v1Salt);
}

export function writeWrappedPassphraseFile(path: string, mountPassphrase: Buffer, loginPassphrase: Buffer, owner?: { uid: number; gid: number }): void {
  const w = wrapPassphrase(mountPassphrase, loginPassphrase, randomBytes(SALT_BYTES));
  writeFileAtomic(path, serializeWrappedPassphrase(w), { mode: 0o600, uid: owner?.uid, gid: owner?.gid });
}

/** Changes the login passphrase; the result is always version 2, like ecryptfs-rewrap-passphrase. */
export function rewrapPassphraseFile(path: string, oldLogin: Buffer, newLogin: Buffer, v1Salt?: Buffer): void {
  const st = lstatSync(path);
  const mount = unwrapPassphraseFile(path, oldLogin, v1Salt);
  try {
    writeWrappedPassphraseFile(path, mount, newLogin, { uid: st.uid, gid: st.gid });
  } finally {
    mount.fill(0);
  }
}
