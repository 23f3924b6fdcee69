// What homecrypt knows about a user, for `homecrypt status`.
import { isFuseMountedAt } from '../os/mounts.js';
import { isValidUserName, lookupUser, type UserAccount } from '../os/users.js';
import { UsageError } from '../errors.js';
import { keyStoreSummary } from './key-ops.js';
import { pamEnabled } from './pam-config.js';
import type { Finding } from './pam-stack-check.js';
import { readSessionCount } from './session-counter.js';
import { checkStrayFolders } from './stray-folder.js';
import { loadUserRecord, type Mode, type UserRecord } from './user-record.js';

export interface UserStatus {
  user: string;
  mode: Mode | 'none';
  state?: string;
  keyId?: string;
  lower?: string;
  mountPoint?: string;
  keyStore?: string;
  slots?: { name: string; kind: string }[];
  slotsError?: string;
  mounted?: boolean;
  sessions?: number;
  autoMount?: boolean;
  rewrapPending?: boolean;
  needsRecovery?: boolean;
  /** a recovery key was made but never shown: setup again shows a new one */
  recoveryKeyPending?: boolean;
  /** the account the record was made for is gone (or has another uid): setup --forget */
  orphaned?: boolean;
  /** what to run to finish an interrupted setup, migration or undo */
  resume?: string;
  /** the user's folder under a --home root that no record names (doctor's stray-folder check), when there is one */
  strayFolders?: Finding[];
  pamEnabled: boolean;
}

/** The command that finishes what a record's state says is unfinished. */
export function resumeCommand(rec: UserRecord): string | undefined {
  if (rec.state === 'undoing') return `homecrypt setup --undo --user ${rec.user}`;
  if (rec.state === 'migrating') {
    return rec.mode === 'private'
      ? `homecrypt ecryptfs migrate --user ${rec.user}`
      : `homecrypt setup --user ${rec.user} --home (or homecrypt ecryptfs migrate --user ${rec.user}, if that started it)`;
  }
  if (rec.recoveryKeyPending) return `homecrypt setup --user ${rec.user} --${rec.mode}`;
  return undefined;
}

/**
 * False when something needs doing: an unfinished setup, a password out of
 * sync, an unreadable key store, a deleted account, a folder a stopped setup
 * left (what doctor calls a problem; a folder of unknown origin is a warning).
 */
export function statusIsWell(s: UserStatus): boolean {
  return !(s.orphaned || s.resume || s.recoveryKeyPending || s.needsRecovery || s.slotsError || s.strayFolders?.some((f) => f.level === 'problem'));
}

export function userStatus(name: string): UserStatus {
  const pam = pamEnabled();
  let account: UserAccount;
  try {
    account = lookupUser(name);
  } catch (err) {
    // the account is gone; its record may not be
    const orphan = err instanceof UsageError && isValidUserName(name) ? loadUserRecord(name) : null;
    if (!orphan) throw err;
    return {
      user: name,
      mode: orphan.mode,
      state: orphan.state,
      keyId: orphan.keyId,
      lower: orphan.lower,
      mountPoint: orphan.mountPoint,
      keyStore: orphan.keyStore,
      orphaned: true,
      pamEnabled: pam,
    };
  }
  const rec = loadUserRecord(account.name);
  // a setup --home stopped before its record leaves no record, but a folder (and what doctor says to run)
  const strays = checkStrayFolders(rec ? [rec] : [], account.name);
  const strayFolders = strays.length ? { strayFolders: strays } : {};
  if (!rec) return { user: account.name, mode: 'none', pamEnabled: pam, ...strayFolders };
  const s: UserStatus = {
    user: rec.user,
    mode: rec.mode,
    state: rec.state,
    keyId: rec.keyId,
    lower: rec.lower,
    mountPoint: rec.mountPoint,
    keyStore: rec.keyStore,
    mounted: isFuseMountedAt(rec.mountPoint),
    sessions: readSessionCount(rec.user),
    autoMount: rec.autoMount,
    rewrapPending: rec.rewrapPending,
    needsRecovery: rec.needsRecovery,
    pamEnabled: pam,
    recoveryKeyPending: !!rec.recoveryKeyPending,
    orphaned: rec.uid !== account.uid,
    resume: resumeCommand(rec),
    ...strayFolders,
  };
  try {
    s.slots = keyStoreSummary(rec.keyStore, account).slots.map((x) => ({ name: x.name, kind: x.kind }));
  } catch (err) {
    s.slotsError = (err as Error).message;
  }
  return s;
}
