// Typed errors shared by every layer. The CLI maps them to exit codes in one
// place (src/cli/exit-codes.ts) and the engine maps them to errno values in one
// place (src/engine/errno.ts), so no layer prints or exits by itself.

/** Base class: `message` is safe to show a user (never holds a secret). */
export class HomecryptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The passphrase or recovery key did not unwrap any keyslot. */
export class WrongPassphraseError extends HomecryptError {}

/** A typed recovery key fails its own check characters: a typo, not a wrong key. */
export class RecoveryKeyTypoError extends WrongPassphraseError {}

/** An on-disk structure failed to parse or authenticate. `file` names it. */
export class CorruptFileError extends HomecryptError {
  constructor(readonly file: string, readonly what: string) {
    super(`${file}: ${what}`);
  }
}

/** A file is well-formed but of a format or version this build does not read. */
export class UnsupportedFormatError extends HomecryptError {
  constructor(readonly file: string, readonly what: string) {
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
  constructor(message = 'interrupted: run the same command again to resume') {
    super(message);
  }
}
