// Reading a migration journal as root. It sits in a folder the user can write
// (~/.homecrypt, /home/.homecrypt/U), so its name may be swapped for a symlink
// to any file at any moment: it is opened O_NOFOLLOW, checked on the open
// descriptor (a regular file, small, owned by whom it must be), and a parse
// failure never quotes what was read.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { HomecryptError, RefusedError } from '../errors.js';

const MAX_JOURNAL_BYTES = 64 * 1024;

/** The parsed JSON of the journal at `path`, or null when there is none; `owner` is the uid it must belong to. */
export function readJournalJson(path: string, owner: number): unknown {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP') throw new RefusedError(`${path} is a symbolic link, not a migration journal; move it away`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== owner) throw new RefusedError(`${path} is not a regular file owned by uid ${owner}; move it away`);
    if (st.size > MAX_JOURNAL_BYTES) throw new HomecryptError(`${path}: ${st.size} bytes, too large for a migration journal`);
    const buf = Buffer.alloc(st.size);
    const n = readSync(fd, buf, 0, buf.length, 0);
    try {
      return JSON.parse(buf.subarray(0, n).toString('utf8'));
    } catch {
      throw new HomecryptError(`${path}: not valid JSON; a migration journal this build understands was expected`);
    }
  } finally {
    closeSync(fd);
  }
}
