// What /etc/fuse.conf lets an ordinary user ask of fusermount3, read as
// fusermount3 reads it (read_conf, strip_line, parse_line in libfuse 3.14's
// util/fusermount.c), so that a mount it would refuse is refused before any
// passphrase is asked for, and one it would allow is never refused here.
import { readFileSync } from 'node:fs';
import { PermissionDeniedError } from '../../errors.js';
import { ALLOW_OTHER_HINT, ALLOW_OTHER_REFUSED } from './fusermount-refusal.js';

export const FUSE_CONF = '/etc/fuse.conf';

/** fgets(3)'s buffer in read_conf: a line (with its newline) longer than 255 bytes is skipped whole. */
const LINE_BUFFER = 256;

/** C's isspace in the "C" locale. */
const isSpace = (b: number): boolean => b === 0x20 || (b >= 0x09 && b <= 0x0d);

/** strip_line: cut at the first '#', then the white space at both ends. */
function stripLine(line: Buffer): string {
  const hash = line.indexOf(0x23);
  let end = hash >= 0 ? hash : line.length;
  while (end > 0 && isSpace(line[end - 1]!)) end--;
  let start = 0;
  while (start < end && isSpace(line[start]!)) start++;
  return line.subarray(start, end).toString('latin1');
}

/**
 * Whether `conf` (the file's bytes) has the line user_allow_other, as
 * fusermount3 decides it: only lines ending in a newline count (the last one
 * without is ignored), each read in fgets chunks of 255 bytes, a line longer
 * than that skipped whole, a NUL ending the line where it stands.
 */
export function confAllowsOther(conf: Buffer): boolean {
  let allowed = false;
  let atLineStart = true;
  let pos = 0;
  while (pos < conf.length) {
    const nl = conf.indexOf(0x0a, pos);
    const end = Math.min(pos + LINE_BUFFER - 1, nl >= 0 ? nl + 1 : conf.length);
    const chunk = conf.subarray(pos, end);
    pos = end;
    const nul = chunk.indexOf(0);
    const line = nul >= 0 ? chunk.subarray(0, nul) : chunk; // strlen
    const endsLine = line.length > 0 && line[line.length - 1] === 0x0a;
    if (atLineStart) {
      if (endsLine) allowed ||= stripLine(line) === 'user_allow_other';
      else atLineStart = false;
    } else if (endsLine) {
      atLineStart = true;
    }
  }
  return allowed;
}

/**
 * The refusal fusermount3 would give an ordinary user asking for allow_other
 * at `mountPoint`, or null when it would not refuse it: root (fusermount3
 * checks only others), a fuse.conf with user_allow_other, or one this user
 * cannot read (fusermount3 reads it as root, so it is its word then).
 */
export function allowOtherRefusal(mountPoint: string, conf = FUSE_CONF): PermissionDeniedError | null {
  if ((process.getuid?.() ?? 0) === 0) return null;
  let text: Buffer;
  try {
    text = readFileSync(conf);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return null;
    text = Buffer.alloc(0); // no file: nothing allowed
  }
  if (confAllowsOther(text)) return null;
  return new PermissionDeniedError(`you cannot mount on ${mountPoint} with --allow-other: ${ALLOW_OTHER_REFUSED}`, { hint: ALLOW_OTHER_HINT });
}
