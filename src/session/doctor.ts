// `homecrypt doctor`: what is wrong with this system's homecrypt set-up, in
// plain words with what to run. One named rule per concern, each returning
// findings: the PAM stacks (pam-stack-check.ts), then per user record: the
// account behind it, an unfinished setup, the login slot, a mount or a key
// left behind after the sessions ended, a mount whose daemon is gone; a
// folder in /home/.homecrypt that no record names (stray-folder.ts); and what a
// setup --private stopped before its record left in a home (its marker says so).
import { existsSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { listMountKeys } from '../os/keyring.js';
import { isDeadConnection, isFuseMountedAt } from '../os/mounts.js';
import { argvOf, processesOf } from '../os/processes.js';
import { lookupUser, type UserAccount } from '../os/users.js';
import { keyStoreSummary } from './key-ops.js';
import { checkPamStacks, type Finding } from './pam-stack-check.js';
import { readSessionCount } from './session-counter.js';
import { isPrivateSetupMarker, readSetupMarker, setupMarkerPath, setupMarkerUsers } from './setup-marker.js';
import { judgePrivateLeftover, privateSetupMarkerOf } from './private-leftover.js';
import { resumeCommand } from './status.js';
import { accountNamed, checkStrayFolders } from './stray-folder.js';
import { keptPrivateCopy } from './ecryptfs/migration-kept.js';
import { keptHomeCopy } from './ecryptfs/home-journal.js';
import { listUserRecords, loadUserRecord, recordPath, type UserRecord } from './user-record.js';

export type { Finding } from './pam-stack-check.js';

export interface DoctorOptions {
  pamDir?: string;
  user?: string;
}

export interface DoctorReport {
  findings: Finding[];
  users: string[];
}

function accountOf(rec: UserRecord): UserAccount | null {
  try {
    const a = lookupUser(rec.user);
    return a.uid === rec.uid ? a : null;
  } catch (e) {
    if (e instanceof UsageError) return null;
    throw e;
  }
}

function checkAccount(rec: UserRecord): Finding[] {
  if (accountOf(rec)) return [];
  return [
    {
      check: 'stale-record',
      level: 'problem',
      message: `${rec.user}: the record names uid ${rec.uid}, but that account no longer exists (or now has another uid); a new account of that name would be refused`,
      fix: `homecrypt setup --forget --user ${rec.user} (the encrypted data in ${rec.lower} is left in place)`,
    },
  ];
}

function checkUnfinished(rec: UserRecord): Finding[] {
  const resume = resumeCommand(rec);
  if (!resume) return [];
  const what =
    rec.state === 'undoing'
      ? 'an undo was interrupted'
      : rec.state === 'migrating'
        ? 'a setup or migration was interrupted; the directory is not mounted at login'
        : 'the recovery key was never shown';
  return [{ check: 'unfinished', level: 'problem', message: `${rec.user}: ${what}`, fix: `run ${resume} again` }];
}

function checkLoginSlot(rec: UserRecord, user: UserAccount): Finding[] {
  if (rec.needsRecovery) {
    return [
      {
        check: 'login-slot',
        level: 'problem',
        message: `${rec.user}: the login password no longer opens the key store (it was changed or reset without homecrypt), so logins do not unlock`,
        fix: `homecrypt rewrap --recovery ${rec.keyStore} (with ${rec.user}'s recovery key)`,
      },
    ];
  }
  let slots: { name: string; kind: string }[];
  try {
    slots = keyStoreSummary(rec.keyStore, user).slots;
  } catch (e) {
    return [
      {
        check: 'key-store',
        level: 'problem',
        message: `${rec.user}: the key store cannot be read: ${(e as Error).message}`,
        fix: 'restore it from a backup; without it the data cannot be opened',
      },
    ];
  }
  const out: Finding[] = [];
  if (!slots.some((s) => s.name === 'login')) {
    out.push({
      check: 'login-slot',
      level: 'problem',
      message: `${rec.user}: the key store ${rec.keyStore} has no login slot, so logins do not unlock`,
      fix: `homecrypt rewrap --recovery ${rec.keyStore} (sets the login passphrase again; use ${rec.user}'s password)`,
    });
  }
  if (rec.rewrapPending) {
    out.push({
      check: 'login-slot',
      level: 'warning',
      message: `${rec.user}: the password was changed; the key store is re-wrapped at the next login`,
      fix: `nothing, or have ${rec.user} log in once`,
    });
  }
  return out;
}

/**
 * A mount whose daemon is gone: stat says so for mounts root may look into;
 * the user's own FUSE mounts deny root (no allow_other), so there the test is
 * whether a `homecrypt mount … MOUNTPOINT` of that user still runs.
 */
function daemonGone(rec: UserRecord, user: UserAccount): boolean {
  if (!isFuseMountedAt(rec.mountPoint)) return false;
  try {
    statSync(rec.mountPoint);
    return false;
  } catch (e) {
    if (isDeadConnection(e)) return true;
    if ((e as NodeJS.ErrnoException).code !== 'EACCES') return false;
  }
  return !processesOf(user.uid).some((p) => {
    const argv = argvOf(p.pid);
    return argv.includes('mount') && argv.includes(rec.mountPoint);
  });
}

function checkLeftovers(rec: UserRecord, user: UserAccount): Finding[] {
  const out: Finding[] = [];
  const sessions = readSessionCount(rec.user);
  const dead = daemonGone(rec, user);
  if (dead) {
    out.push({
      check: 'dead-mount',
      level: 'problem',
      message: `${rec.user}: ${rec.mountPoint} is mounted but the daemon serving it is gone: reading it fails`,
      fix: `homecrypt umount ${rec.mountPoint}`,
    });
  } else if (rec.state === 'ready' && sessions === 0 && isFuseMountedAt(rec.mountPoint)) {
    out.push({
      check: 'leftover-mount',
      level: 'warning',
      message: `${rec.user}: ${rec.mountPoint} is mounted though no session of ${rec.user} is open`,
      fix: `homecrypt session unmount --user ${rec.user}`,
    });
  }
  if (sessions === 0 && !isFuseMountedAt(rec.mountPoint)) {
    let keys: { keyId: string }[] = [];
    try {
      keys = listMountKeys({ uid: user.uid, gid: user.gid });
    } catch {
      /* no keyring for that user: nothing left */
    }
    if (keys.some((k) => k.keyId === rec.keyId)) {
      out.push({
        check: 'leftover-key',
        level: 'warning',
        message: `${rec.user}: the mount key ${rec.keyId} is still in ${rec.user}'s keyring though nothing is mounted and no session is open`,
        fix: `homecrypt keyring forget ${rec.keyId} --user ${rec.user}`,
      });
    }
  }
  return out;
}

/**
 * An eCryptfs copy a finished migration kept (migrate without
 * --remove-ecryptfs): the user's data, still encrypted the old way and opened
 * by the old wrapped passphrase, beside the homecrypt volume that replaced it.
 */
function checkKeptEcryptfsCopy(rec: UserRecord, user: UserAccount): Finding[] {
  const copy = rec.mode === 'private' ? keptPrivateCopy(user) : keptHomeCopy(user);
  if (!copy) return [];
  return [
    {
      check: 'ecryptfs-copy-kept',
      level: 'warning',
      message: `${rec.user}: the eCryptfs copy ${copy} that homecrypt ecryptfs migrate kept is still there, beside the homecrypt volume that holds the same files (a second copy of ${rec.user}'s data, still opened by the old eCryptfs passphrase)`,
      fix: `once ${rec.user} has checked the migrated files: homecrypt ecryptfs migrate --user ${rec.user} --remove-ecryptfs`,
    },
  ];
}

/** What a setup --private stopped before its record left: its marker names the user, no record does. */
function interruptedPrivateFinding(name: string): Finding | null {
  const m = readSetupMarker(name);
  // a record (even one other checks find unreadable) is what that setup meant to leave: the marker is stale then
  if (!isPrivateSetupMarker(m) || existsSync(recordPath(name))) return null;
  const marker = setupMarkerPath(name);
  const account = accountNamed(name);
  if (!account || !privateSetupMarkerOf(account)) {
    return {
      check: 'interrupted-setup',
      level: 'warning',
      message: `${name}: a setup --private of uid ${m.uid} (home ${m.home}) was stopped before it wrote the record, and that account is gone or changed since`,
      fix: `look in ${m.home}/.Private and ${m.home}/.homecrypt (they may hold data), then remove ${marker}`,
    };
  }
  const left = judgePrivateLeftover(account, m);
  const again = left.kind === 'own' && left.ecryptfsMigration ? `homecrypt ecryptfs migrate --user ${name}` : `homecrypt setup --user ${name} --private`;
  if (left.kind === 'unknown') {
    return {
      check: 'interrupted-setup',
      level: 'warning',
      message: `${name}: a setup --private was stopped before it wrote the record, but not all of ${left.left.join(', ')} is provably its own: ${left.why}`,
      fix: `look inside; keep what holds data (encrypted data opens with its recovery key), else move it away; setup --private of ${name} is refused while it is there`,
    };
  }
  if (!left.left.length) {
    return {
      check: 'interrupted-setup',
      level: 'warning',
      message: `${name}: a setup --private was stopped before it made anything; ${name} is not set up`,
      fix: `run ${again} again to set ${name} up, or remove ${marker}`,
    };
  }
  return {
    check: 'interrupted-setup',
    level: 'problem',
    message: `${name}: ${left.left.join(', ')} ${left.left.length > 1 ? 'were' : 'was'} left by a setup --private stopped before it wrote ${name}'s record (no file of ${name}'s was touched; its recovery key was never shown)`,
    fix: `${left.mountPointInUse ? `move the files in ${account.home}/Private away, then ` : ''}run ${again} again (it removes them first)`,
  };
}

function checkInterruptedPrivate(only?: string): Finding[] {
  return setupMarkerUsers()
    .filter((name) => only === undefined || name === only)
    .map(interruptedPrivateFinding)
    .filter((f): f is Finding => f !== null);
}

export function runDoctor(opts: DoctorOptions = {}): DoctorReport {
  const records = opts.user ? [loadUserRecord(opts.user)].filter((r): r is UserRecord => !!r) : listUserRecords();
  const strays = [...checkStrayFolders(opts.user ? records : listUserRecords(), opts.user), ...checkInterruptedPrivate(opts.user)];
  if (opts.user && !records.length && !strays.length) throw new UsageError(`${opts.user} has no homecrypt record`);
  const findings: Finding[] = checkPamStacks({ pamDir: opts.pamDir ?? '/etc/pam.d' }, records.length > 0);
  findings.push(...strays);
  for (const rec of records) {
    // a stale record needs forgetting first; nothing else about it matters then
    const stale = checkAccount(rec);
    findings.push(...stale);
    if (stale.length) continue;
    findings.push(...checkUnfinished(rec));
    const user = accountOf(rec)!;
    findings.push(...checkLoginSlot(rec, user), ...checkLeftovers(rec, user), ...checkKeptEcryptfsCopy(rec, user));
  }
  return { findings, users: records.map((r) => r.user) };
}
