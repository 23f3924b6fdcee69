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

export function fail(errno: number, message?: string): never {
  throw new FuseError(errno, message);
}
