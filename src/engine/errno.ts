// Every error the engine can meet, mapped to the errno a FUSE caller sees, in
// one place. Authentication failures are EIO (never wrong bytes); a file under
// a mount key that is not loaded is ENOKEY.
import { constants } from 'node:os';
import { AuthenticationError, CorruptFileError, KeyNotAvailableError, UnsupportedFormatError } from '../errors.js';
import { FuseError, errnoOf } from '../fuse/index.js';

export const E = constants.errno;
export const ENOKEY = 126;

export function errnoFor(err: unknown): number {
  if (err instanceof FuseError) return err.errno;
  if (err instanceof AuthenticationError || err instanceof CorruptFileError || err instanceof UnsupportedFormatError) return E.EIO;
  if (err instanceof KeyNotAvailableError) return ENOKEY;
  return errnoOf(err) ?? E.EIO;
}

/** True for errors that mean the lower data is damaged or tampered with (to log). */
export function isIntegrityError(err: unknown): boolean {
  return err instanceof AuthenticationError || err instanceof CorruptFileError || err instanceof UnsupportedFormatError;
}

// Expected failures (ENODATA for security.capability on every write, ENOENT
// lookups) are frequent: reuse one error per errno rather than capture a new
// stack trace each time.
const shared = new Map<number, FuseError>();
export function fail(errno: number, message?: string): never {
  if (message !== undefined) throw new FuseError(errno, message);
  let e = shared.get(errno);
  if (!e) shared.set(errno, (e = new FuseError(errno)));
  throw e;
}
