// Every exit status of the homecrypt command, in one place (scripts and the
// PAM hook depend on them; docs/CLI.md lists them).
import {
  AuthenticationError, CorruptFileError, HomecryptError, KeyNotAvailableError, MissingFeatureError,
  RefusedError, UnsafePermissionsError, UnsupportedFormatError, UsageError, WrongPassphraseError,
} from '../errors.js';

export const ExitCode = {
  OK: 0,
  FAILURE: 1, // generic failure, or "not all well" (fsck, status checks)
  USAGE: 2,
  WRONG_PASSPHRASE: 3,
  CORRUPT: 4,
  UNSUPPORTED: 5,
  KEY_NOT_AVAILABLE: 6,
  MISSING_FEATURE: 7,
  REFUSED: 8,
  UNSAFE_PERMISSIONS: 9,
  AUTHENTICATION: 10,
  INTERNAL: 70, // a bug: an unexpected exception
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof WrongPassphraseError) return ExitCode.WRONG_PASSPHRASE;
  if (err instanceof CorruptFileError) return ExitCode.CORRUPT;
  if (err instanceof UnsupportedFormatError) return ExitCode.UNSUPPORTED;
  if (err instanceof KeyNotAvailableError) return ExitCode.KEY_NOT_AVAILABLE;
  if (err instanceof MissingFeatureError) return ExitCode.MISSING_FEATURE;
  if (err instanceof RefusedError) return ExitCode.REFUSED;
  if (err instanceof UnsafePermissionsError) return ExitCode.UNSAFE_PERMISSIONS;
  if (err instanceof AuthenticationError) return ExitCode.AUTHENTICATION;
  if (err instanceof UsageError) return ExitCode.USAGE;
  if (err instanceof HomecryptError) return ExitCode.FAILURE;
  return ExitCode.INTERNAL;
}
