// Typed errors shared by every layer, and the exit statuses. The CLI maps errors
// to exit codes in one place (src/cli/exit-codes.ts) and the engine maps them to
// errno values in one place (src/engine/errno.ts), so no layer prints by itself;
// a process that exits on its own (a daemon, a signal) uses ExitCode too.

/**
 * Every exit status of homecrypt's processes, in one place (scripts and the PAM
 * hook depend on them; docs/CLI.md lists them, cli/exit-codes.ts says what
 * each means and maps errors to them).
 */
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
  PERMISSION_DENIED: 11,
  INTERNAL: 70, // a bug: an unexpected exception
  INTERRUPTED: 130, // 128 + SIGINT, as shells report it
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface HomecryptErrorOptions {
  /** What the user can do about it: printed on a line of its own, never part of `message`. */
  hint?: string;
}

/** Base class: `message` is safe to show a user (never holds a secret); it says what happened, `hint` what to do. */
export class HomecryptError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, opts: HomecryptErrorOptions = {}) {
    super(message);
    this.name = new.target.name;
    this.hint = opts.hint;
  }
}

/** The passphrase or recovery key did not unwrap any keyslot. */
export class WrongPassphraseError extends HomecryptError {}

/** A typed recovery key fails its own check characters: a typo, not a wrong key. */
export class RecoveryKeyTypoError extends WrongPassphraseError {}

/** An on-disk structure failed to parse or authenticate. `file` names it. */
export class CorruptFileError extends HomecryptError {
  constructor(
    readonly file: string,
    readonly what: string,
  ) {
    super(`${file}: ${what}`);
  }
}

/** A file is well-formed but of a format or version this build does not read. */
export class UnsupportedFormatError extends HomecryptError {
  constructor(
    readonly file: string,
    readonly what: string,
  ) {
    super(`${file}: ${what}`);
  }
}

/** A kernel feature or system tool the operation needs is absent. */
export class MissingFeatureError extends HomecryptError {}

/** The key needed is not in the keyring (and no passphrase was given). */
export class KeyNotAvailableError extends HomecryptError {}

/** Bad arguments or input that the user can correct. */
export class UsageError extends HomecryptError {}

/** Refused for safety (not enough space, user logged in, would lose data…). */
export class RefusedError extends HomecryptError {}

/**
 * A mount that cannot be unmounted now: something has a file open or its
 * working directory below it. The same refusal for every kind of mount (a
 * block volume's filesystem, a FUSE mount), so the hint names who to look for.
 */
export class MountBusyError extends RefusedError {
  constructor(
    readonly mountPoint: string,
    message = `${mountPoint} is in use (a file open or a working directory in it)`,
    hint = `close what uses it (fuser -vm '${mountPoint}' lists the processes), then run the same command again`,
  ) {
    super(message, { hint });
  }
}

/** A key store asks for more Argon2id work than allowed (src/keys/kdf-budget.ts); nothing was tried. */
export class KdfLimitError extends RefusedError {}

/** A file's ownership or mode makes it unsafe to trust. */
export class UnsafePermissionsError extends HomecryptError {}

/** Data failed authentication (tampered or corrupt ciphertext). */
export class AuthenticationError extends HomecryptError {}

/** Not permitted: the operation needs root, or a file belongs to someone else. */
export class PermissionDeniedError extends HomecryptError {}

/** Stopped by a signal (Ctrl-C) at a safe point; running the command again resumes. */
export class InterruptedError extends HomecryptError {
  constructor(message = 'interrupted', opts: HomecryptErrorOptions = { hint: 'run the same command again to resume' }) {
    super(message, opts);
  }
}
