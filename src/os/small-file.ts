// A small file read whole from a directory that others may write to (a
// volume's config, a long name's sidecar): opened without blocking (a fifo put
// there must not hang the reader), refused unless it is a regular file (not
// /dev/zero behind a link), and never read past a bound (a huge or growing
// file), so a hostile file is a clear error, never a hang or a full heap.
import { closeSync, constants as fsc, fstatSync, readSync } from 'node:fs';
import { CorruptFileError } from '../errors.js';
import { openatSync } from './lower-fs-calls.js';

/**
 * The bytes of `name` in the directory open as `dir` (AT_FDCWD: `name` is a
 * path), at most `max` of them; `where` names the file in errors. A symlink
 * is refused (ELOOP) unless `follow`; with `owner`, a file of another uid is
 * refused before a byte is read (root reading in a user's folder: a hard link
 * there may name a file only root may read). The open's own errors (ENOENT …)
 * are thrown as they are, the others as CorruptFileError.
 */
export function readSmallFileAt(dir: number, name: string, max: number, where: string, opts: { follow?: boolean; owner?: number } = {}): Buffer {
  const fd = openatSync(dir, name, fsc.O_RDONLY | fsc.O_NONBLOCK | (opts.follow ? 0 : fsc.O_NOFOLLOW));
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CorruptFileError(where, 'is not a regular file');
    if (opts.owner !== undefined && st.uid !== opts.owner) throw new CorruptFileError(where, `belongs to uid ${st.uid}, not ${opts.owner}`);
    if (st.size > max) throw new CorruptFileError(where, `holds ${st.size} bytes, more than the ${max} it may`);
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, n)) > 0;) n += r;
    if (n > max) throw new CorruptFileError(where, `holds more than the ${max} bytes it may`);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
