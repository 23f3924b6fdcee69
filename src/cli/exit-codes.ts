// What every exit status of the homecrypt command means, and which error maps to
// which (the statuses are ExitCode in src/errors.ts; docs/CLI.md lists them and a
// test keeps that table, the man page and this file the same). An OS error (errno) that reaches the
// top is mapped here too, so none is reported as an internal error.
import {
  AuthenticationError,
  CorruptFileError,
  ExitCode,
  HomecryptError,
  InterruptedError,
  KeyNotAvailableError,
  MissingFeatureError,
  PermissionDeniedError,
  RefusedError,
  UnsafePermissionsError,
  UnsupportedFormatError,
  UsageError,
  WrongPassphraseError,
} from '../errors.js';

// defined beside the errors (src/errors.ts), so a process below the CLI can exit with one
export { ExitCode } from '../errors.js';

/** What each status means: the man page and docs/CLI.md print these words. */
export const EXIT_MEANING: Record<keyof typeof ExitCode, string> = {
  OK: 'success',
  FAILURE: 'failure, or for checks (fsck, status): not all is well; also an OS error such as no space left',
  USAGE: 'wrong usage or input the user can correct: unknown command or option, missing argument, no such file or user, no terminal, confirmation not given',
  WRONG_PASSPHRASE: 'wrong passphrase or recovery key (also a typo in a recovery key, or a password PAM does not accept)',
  CORRUPT: 'a corrupt, truncated or foreign file (the message names it)',
  UNSUPPORTED: 'a format version or feature this version does not support',
  KEY_NOT_AVAILABLE: 'the key is not in the keyring and could not be unwrapped',
  MISSING_FEATURE: 'the system lacks something needed (a kernel feature, a program)',
  REFUSED: 'refused to act, to keep data safe (would overwrite, data present, in use, already exists; the message says why)',
  UNSAFE_PERMISSIONS: 'a key file or directory has unsafe owner or permissions',
  AUTHENTICATION: 'data failed authentication (tampered or corrupt ciphertext)',
  PERMISSION_DENIED: 'not permitted: the command needs root, or the file belongs to someone else (EACCES, EPERM, EROFS)',
  INTERNAL: 'an internal error (a bug; HOMECRYPT_DEBUG=1 prints the stack)',
  INTERRUPTED: 'interrupted (Ctrl-C, SIGTERM, SIGHUP): run the same command again to resume',
};

/** errno codes by the exit status they map to; any other errno is FAILURE. */
export const ERRNO_EXIT: Record<string, ExitCode> = {
  EACCES: ExitCode.PERMISSION_DENIED,
  EPERM: ExitCode.PERMISSION_DENIED,
  EROFS: ExitCode.PERMISSION_DENIED,
  ENOENT: ExitCode.USAGE,
  ENOTDIR: ExitCode.USAGE,
  EISDIR: ExitCode.USAGE,
  ELOOP: ExitCode.USAGE,
  ENAMETOOLONG: ExitCode.USAGE,
  ENXIO: ExitCode.USAGE,
  ENODEV: ExitCode.USAGE,
  EINVAL: ExitCode.USAGE,
  EEXIST: ExitCode.REFUSED,
  ENOTEMPTY: ExitCode.REFUSED,
  EBUSY: ExitCode.REFUSED,
  EXDEV: ExitCode.REFUSED,
  ETXTBSY: ExitCode.REFUSED,
};

/** The errno code of an OS error (Node's SystemError or an errno-carrying Error), or null. */
export function errnoOf(err: unknown): string | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : null;
}

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof InterruptedError) return ExitCode.INTERRUPTED;
  if (err instanceof WrongPassphraseError) return ExitCode.WRONG_PASSPHRASE;
  if (err instanceof CorruptFileError) return ExitCode.CORRUPT;
  if (err instanceof UnsupportedFormatError) return ExitCode.UNSUPPORTED;
  if (err instanceof KeyNotAvailableError) return ExitCode.KEY_NOT_AVAILABLE;
  if (err instanceof MissingFeatureError) return ExitCode.MISSING_FEATURE;
  if (err instanceof PermissionDeniedError) return ExitCode.PERMISSION_DENIED;
  if (err instanceof RefusedError) return ExitCode.REFUSED;
  if (err instanceof UnsafePermissionsError) return ExitCode.UNSAFE_PERMISSIONS;
  if (err instanceof AuthenticationError) return ExitCode.AUTHENTICATION;
  if (err instanceof UsageError) return ExitCode.USAGE;
  // an OS error, or a HomecryptError of no type above that carries one's code (a mount daemon's, daemon-report.ts)
  const errno = errnoOf(err);
  if (errno) return ERRNO_EXIT[errno] ?? ExitCode.FAILURE;
  if (err instanceof HomecryptError) return ExitCode.FAILURE;
  return ExitCode.INTERNAL;
}
