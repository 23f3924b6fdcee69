// The one reader of a secret from a file descriptor (--passphrase-fd, the
// installer's passphrase file, the PAM hook's stdin): byte by byte, so that
// whatever follows stays in the descriptor for the next reader; bounded; into a
// Buffer the caller wipes (never a string, which cannot be wiped). Its
// callers differ only in what they make of an empty or over-long secret.
import { readSync } from 'node:fs';

export interface SecretRead {
  /** The secret's bytes, without the byte that ended it: the caller wipes it. */
  secret: Buffer;
  /** What ended it: one of the stop bytes, the end of input, or the size limit (the rest is left unread). */
  end: 'stop' | 'eof' | 'too-long';
}

const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Reads one secret from fd, up to the first of `stops` (default: newline or
 * NUL, as pam_exec's expose_authtok writes it), the end of input, or `max`
 * bytes. A non-blocking descriptor is waited on; any other read error is thrown
 * as Node's (with its `code`), after the bytes read so far are wiped.
 */
export function readSecret(fd: number, max: number, stops: readonly number[] = [0x0a, 0x00]): SecretRead {
  const line = Buffer.alloc(max);
  const one = Buffer.alloc(1);
  let len = 0;
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, one, 0, 1, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          sleepMs(5);
          continue;
        }
        throw err;
      }
      if (n === 0) return { secret: Buffer.from(line.subarray(0, len)), end: 'eof' };
      if (stops.includes(one[0]!)) return { secret: Buffer.from(line.subarray(0, len)), end: 'stop' };
      if (len === max) return { secret: Buffer.from(line.subarray(0, len)), end: 'too-long' };
      line[len++] = one[0]!;
    }
  } finally {
    one.fill(0);
    line.fill(0);
  }
}
