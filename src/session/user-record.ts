// The per-user record: which users have homecrypt, in which mode, where their
// lower directory, mount point and key store are, and the login state the PAM
// hook keeps between phases. One JSON file per user under /etc/homecrypt/users/
// (format: docs/FORMAT-USER-RECORD.md). A user without a record is untouched
// by every hook.
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, unlinkSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { CorruptFileError, UnsafePermissionsError, UnsupportedFormatError } from '../errors.js';
import { writeFileAtomic } from '../os/atomic-file.js';
import { isValidUserName } from '../os/users.js';

export const RECORD_VERSION = 1;
export const DEFAULT_RECORD_DIR = '/etc/homecrypt/users';

export type Mode = 'private' | 'home';
export type SetupState = 'ready' | 'migrating' | 'undoing';

export interface UserRecord {
  version: 1;
  user: string;
  uid: number;
  mode: Mode;
  /** encrypted lower directory */
  lower: string;
  /** where the plaintext appears */
  mountPoint: string;
  keyStore: string;
  keyId: string;
  autoMount: boolean;
  state: SetupState;
  /**
   * Set by the password hook when the login password changed while the mount
   * key was in the keyring: the next login re-wraps with the new password.
   */
  rewrapPending: boolean;
  /** Set when the password changed with no key at hand: the recovery key is needed. */
  needsRecovery: boolean;
  /**
   * A recovery key was made but not yet shown (setup was interrupted before it
   * could show it): running setup again replaces it with a new one and shows
   * that. Written only when true.
   */
  recoveryKeyPending?: boolean;
  createdAt: string;
}

/** A new record of `user` whose encrypted data is where `layout` says (user-layout.ts), set up to log in with the mount key `keyId`. */
export function newUserRecord(
  user: { name: string; uid: number },
  layout: { mode: Mode; lower: string; mountPoint: string; keyStore: string },
  keyId: string,
  state: SetupState,
): UserRecord {
  return {
    version: 1,
    user: user.name,
    uid: user.uid,
    mode: layout.mode,
    lower: layout.lower,
    mountPoint: layout.mountPoint,
    keyStore: layout.keyStore,
    keyId,
    autoMount: true,
    state,
    rewrapPending: false,
    needsRecovery: false,
    createdAt: new Date().toISOString(),
  };
}

export function recordDir(): string {
  return process.env.HOMECRYPT_RECORD_DIR_FOR_TESTS ?? DEFAULT_RECORD_DIR;
}

export function recordPath(user: string, dir = recordDir()): string {
  if (!isValidUserName(user)) throw new CorruptFileError(user, 'not a valid user name');
  return join(dir, `${user}.json`);
}

const KEY_ID = /^[0-9a-f]{16,64}$/;

/** Validates untrusted JSON into a record; every field is checked before use. */
export function parseUserRecord(text: string, file: string): UserRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CorruptFileError(file, 'not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CorruptFileError(file, 'not a JSON object');
  const r = raw as Record<string, unknown>;
  if (r.version !== RECORD_VERSION) {
    if (typeof r.version === 'number') throw new UnsupportedFormatError(file, `user record version ${r.version} (this build reads ${RECORD_VERSION})`);
    throw new CorruptFileError(file, 'missing "version"');
  }
  const str = (k: string, abs = false): string => {
    const v = r[k];
    if (typeof v !== 'string' || v.length === 0 || v.length > 4096 || v.includes('\0')) throw new CorruptFileError(file, `"${k}" must be a non-empty string`);
    if (abs && (!v.startsWith('/') || v.split('/').includes('..'))) throw new CorruptFileError(file, `"${k}" must be an absolute path without ".."`);
    return v;
  };
  const bool = (k: string, dflt?: boolean): boolean => {
    const v = r[k] ?? dflt;
    if (typeof v !== 'boolean') throw new CorruptFileError(file, `"${k}" must be true or false`);
    return v;
  };
  const user = str('user');
  if (!isValidUserName(user)) throw new CorruptFileError(file, '"user" is not a valid user name');
  const uid = r.uid;
  if (typeof uid !== 'number' || !Number.isInteger(uid) || uid < 0 || uid > 0xfffffffe) throw new CorruptFileError(file, '"uid" must be a uid');
  const mode = r.mode;
  if (mode !== 'private' && mode !== 'home') throw new CorruptFileError(file, '"mode" must be "private" or "home"');
  const state = r.state;
  if (state !== 'ready' && state !== 'migrating' && state !== 'undoing') throw new CorruptFileError(file, '"state" must be "ready", "migrating" or "undoing"');
  const keyId = str('keyId');
  if (!KEY_ID.test(keyId)) throw new CorruptFileError(file, '"keyId" must be lowercase hex');
  return {
    version: RECORD_VERSION,
    user,
    uid,
    mode,
    lower: str('lower', true),
    mountPoint: str('mountPoint', true),
    keyStore: str('keyStore', true),
    keyId,
    autoMount: bool('autoMount'),
    state,
    rewrapPending: bool('rewrapPending', false),
    needsRecovery: bool('needsRecovery', false),
    ...(bool('recoveryKeyPending', false) ? { recoveryKeyPending: true } : {}),
    createdAt: str('createdAt'),
  };
}

export function serializeUserRecord(rec: UserRecord): string {
  const { version, user, uid, mode, lower, mountPoint, keyStore, keyId, autoMount, state, rewrapPending, needsRecovery, createdAt } = rec;
  const pending = rec.recoveryKeyPending ? { recoveryKeyPending: true } : {};
  return `${JSON.stringify({ version, user, uid, mode, lower, mountPoint, keyStore, keyId, autoMount, state, rewrapPending, needsRecovery, ...pending, createdAt }, null, 2)}\n`;
}

/** The record of `user`, or null when the user does not use homecrypt. */
export function loadUserRecord(user: string, dir = recordDir()): UserRecord | null {
  const file = recordPath(user, dir);
  if (!existsSync(file)) return null;
  const st = lstatSync(file);
  // the hook runs as root on what this file says: only root may write it
  if (!st.isFile() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new UnsafePermissionsError(`${file} must be a regular file owned by root and not writable by others`);
  }
  const rec = parseUserRecord(readFileSync(file, 'utf8'), file);
  if (rec.user !== user) throw new CorruptFileError(file, `names user ${rec.user}, not ${user}`);
  return rec;
}

export function saveUserRecord(rec: UserRecord, dir = recordDir()): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileAtomic(recordPath(rec.user, dir), Buffer.from(serializeUserRecord(rec)), { mode: 0o644 });
}

export function removeUserRecord(user: string, dir = recordDir()): void {
  try {
    unlinkSync(recordPath(user, dir));
  } catch {
    /* already gone */
  }
}

/** Every readable record (a damaged one is skipped: this is for lookups, not for the hook). */
export function listUserRecords(dir = recordDir()): UserRecord[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: UserRecord[] = [];
  for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
    try {
      const rec = loadUserRecord(n.slice(0, -5), dir);
      if (rec) out.push(rec);
    } catch {
      /* reported by status and the hook, not here */
    }
  }
  return out;
}

/** The records whose key store is `keyStore` (the same file, by real path). */
export function recordsUsingKeyStore(keyStore: string, dir = recordDir()): UserRecord[] {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return p;
    }
  };
  const target = real(keyStore);
  return listUserRecords(dir).filter((r) => real(r.keyStore) === target);
}
