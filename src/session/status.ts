// What homecrypt knows about a user, for `homecrypt status`.
import { isFuseMountedAt } from '../os/mounts.js';
import { lookupUser } from '../os/users.js';
import { keyStoreSummary } from './key-ops.js';
import { pamEnabled } from './pam-config.js';
import { readSessionCount } from './session-counter.js';
import { loadUserRecord, type Mode } from './user-record.js';

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
  pamEnabled: boolean;
}

export function userStatus(name: string): UserStatus {
  const account = lookupUser(name);
  const rec = loadUserRecord(account.name);
  const pam = pamEnabled();
  if (!rec) return { user: account.name, mode: 'none', pamEnabled: pam };
  const s: UserStatus = {
    user: rec.user, mode: rec.mode, state: rec.state, keyId: rec.keyId, lower: rec.lower, mountPoint: rec.mountPoint,
    keyStore: rec.keyStore, mounted: isFuseMountedAt(rec.mountPoint), sessions: readSessionCount(rec.user),
    autoMount: rec.autoMount, rewrapPending: rec.rewrapPending, needsRecovery: rec.needsRecovery, pamEnabled: pam,
  };
  try {
    s.slots = keyStoreSummary(rec.keyStore, account).slots.map((x) => ({ name: x.name, kind: x.kind }));
  } catch (err) {
    s.slotsError = (err as Error).message;
  }
  return s;
}
