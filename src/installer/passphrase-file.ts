// The installer's passphrase from a root-only file named in the answers (as
// preseed files hold secrets). --passphrase-fd goes through src/cli/secret-input.ts
// like every other command; never argv or the environment.
import { closeSync, fstatSync, openSync, constants } from 'node:fs';
import { UnsafePermissionsError, UsageError } from '../errors.js';
import { readSecret, type SecretRead } from '../os/secret-read.js';

const MAX = 4096;

/** The first line (up to a newline or NUL) of an open regular file, as a Buffer the caller wipes. */
function readFirstLine(fd: number, what: string): Buffer {
  let r: SecretRead;
  try {
    r = readSecret(fd, MAX);
  } catch (err) {
    throw new UsageError(`${what}: cannot read (${(err as NodeJS.ErrnoException).code})`);
  }
  if (r.end === 'too-long') {
    r.secret.fill(0);
    throw new UsageError(`${what}: longer than ${MAX} bytes`);
  }
  const cr = r.secret.at(-1) === 0x0d ? 1 : 0; // a file written on Windows
  const line = Buffer.from(r.secret.subarray(0, r.secret.length - cr));
  r.secret.fill(0);
  if (!line.length) throw new UsageError(`${what}: empty (expected one line holding the passphrase)`);
  return line;
}

/** First line of a root-owned file that only root can read (like a preseed secret); the caller wipes it. */
export function readPassphraseFile(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    throw new UsageError(`answers: "passphraseFile" ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UsageError(`answers: "passphraseFile" ${path}: not a regular file`);
    if (st.uid !== 0 || (st.mode & 0o077) !== 0) {
      throw new UnsafePermissionsError(
        `answers: "passphraseFile" ${path}: must be owned by root with mode 0600 or stricter (it is uid ${st.uid}, mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`,
      );
    }
    return readFirstLine(fd, `answers: "passphraseFile" ${path}`);
  } finally {
    closeSync(fd);
  }
}
