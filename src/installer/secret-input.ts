// The installer's passphrase from a root-only file named in the answers (as
// preseed files hold secrets). --passphrase-fd goes through src/cli/secret-input.ts
// like every other command; never argv or the environment.
import { closeSync, fstatSync, openSync, readSync, constants } from 'node:fs';
import { UnsafePermissionsError, UsageError } from '../errors.js';

const MAX = 4096;

/** Reads the first line (up to a newline or NUL) of an open regular file. */
function readFirstLine(fd: number, what: string): string {
  const buf = Buffer.alloc(MAX + 1);
  let n = 0;
  for (;;) {
    let got = 0;
    try {
      got = readSync(fd, buf, n, 1, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new UsageError(`${what}: cannot read (${code})`);
    }
    if (got === 0 || buf[n] === 0x0a || buf[n] === 0x00) break;
    if (++n > MAX) throw new UsageError(`${what}: longer than ${MAX} bytes`);
  }
  const line = buf.subarray(0, n).toString('utf8').replace(/\r$/, '');
  buf.fill(0);
  if (!line) throw new UsageError(`${what}: empty (expected one line holding the passphrase)`);
  return line;
}

/** First line of a root-owned file that only root can read (like a preseed secret). */
export function readPassphraseFile(path: string): string {
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
      throw new UnsafePermissionsError(`answers: "passphraseFile" ${path}: must be owned by root with mode 0600 or stricter (it is uid ${st.uid}, mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`);
    }
    return readFirstLine(fd, `answers: "passphraseFile" ${path}`);
  } finally {
    closeSync(fd);
  }
}
