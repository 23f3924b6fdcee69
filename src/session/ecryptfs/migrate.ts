// `homecrypt ecryptfs migrate --user U`: an ecryptfs-setup-private directory
// becomes a homecrypt private directory (same places: ~/.Private, ~/Private).
//
//   1. the eCryptfs lower ~/.Private is renamed to ~/.Private.ecryptfs (its
//      names and keys do not depend on where it is);
//   2. homecrypt private setup (key store wrapped by the login passphrase,
//      the same one that unwraps ~/.ecryptfs/wrapped-passphrase);
//   3. every entry is decrypted from the eCryptfs copy and written into the
//      homecrypt volume through the engine's operations on the lower directory
//      (no mount: root cannot enter a user's FUSE mount), then read back and
//      compared by SHA-256 before it counts as done;
//   4. only with --remove-ecryptfs, and only after every entry verified, the
//      eCryptfs copy and ~/.ecryptfs are removed.
// A journal (~/.homecrypt/ecryptfs-migration.json) records the step reached, so
// running the command again after an interruption carries on: entries already
// present with the right content are kept, anything else is written again.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RefusedError, UsageError, HomecryptError } from '../../errors.js';
import { requireRoot } from '../../os/require-root.js';
import { isFuseMountedAt, mountAt } from '../../os/mounts.js';
import { lookupUser, type UserAccount } from '../../os/users.js';
import { runAsUser } from '../../os/processes.js';
import { setupUser } from '../setup.js';
import { unwrapForUser } from '../key-ops.js';
import { loadUserRecord, saveUserRecord } from '../user-record.js';
import { reissueRecoveryKey } from '../recovery-pending.js';
import { clearEcryptfsMountPoint, readPrivateSetup, type PrivateSetup } from '../../ecryptfs/private-dir.js';
import { unwrapPassphraseFile } from '../../ecryptfs/wrapped-passphrase-file.js';
import { openEcryptfs } from '../../ecryptfs/ecryptfs-mount.js';
import { wipeKeys } from '../../ecryptfs/keys.js';
import { homeMigrationUnderWay, migrateEncryptedHome } from './migrate-home.js';
import type { MigrateOptions, MigrateResult } from './migrate-options.js';
import { userWorker } from '../user-worker-client.js';
import { readJournalJson } from '../../ecryptfs/journal-file.js';
import { copyAsUser } from './migrate-copy-as-user.js';

type Step = 'aside' | 'setup' | 'copied' | 'done';
interface Journal {
  version: 1;
  step: Step;
  aside: string;
  startedAt: string;
}

function journalPath(user: UserAccount): string {
  return join(user.home, '.homecrypt', 'ecryptfs-migration.json');
}

function asidePath(user: UserAccount): string {
  return join(user.home, '.Private.ecryptfs');
}

/**
 * ~/.Private.ecryptfs is there with no journal (an interrupted run always has
 * one: it is written before the rename): the eCryptfs copy an earlier
 * migration set aside and kept (it stays until --remove-ecryptfs) whose
 * journal was removed by hand since, or a copy made by hand. It is moved as
 * the user: the folder is theirs.
 */
function asideTaken(user: UserAccount, aside: string): RefusedError {
  return new RefusedError(`${aside} already exists, and no migration journal (${journalPath(user)}) names it`, {
    hint:
      `it is most likely the eCryptfs copy an earlier migration of ${user.name} kept (it stays until --remove-ecryptfs) whose journal was removed since, ` +
      `or a copy made by hand; look inside with ls -la ${aside}, then move it away with runuser -u ${user.name} -- mv -T -- ${aside} ${aside}.old ` +
      `and run homecrypt ecryptfs migrate --user ${user.name} again`,
  });
}

/**
 * Removes the eCryptfs copy and ~/.ecryptfs AS THE USER: both sit in a folder
 * the user controls, so root deleting them could be steered (a swapped-in
 * symlink, a race) at files the user may not delete.
 */
async function removeEcryptfsCopyAsUser(user: UserAccount, aside: string): Promise<void> {
  const r = await runAsUser(user, ['rm', '-rf', '--one-file-system', '--', aside, join(user.home, '.ecryptfs')], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new HomecryptError(`could not remove the eCryptfs copy ${aside}: ${r.stderr.trim() || `rm exited ${r.code}`}`);
}

function readJournal(user: UserAccount): Journal | null {
  const p = journalPath(user);
  const j = readJournalJson(p, user.uid) as Journal | null;
  if (j === null) return null;
  if (j?.version !== 1 || !['aside', 'setup', 'copied', 'done'].includes(j.step) || typeof j.aside !== 'string') {
    throw new HomecryptError(`${p}: not a migration journal this build understands`);
  }
  // The journal lives in the user's home, so the user can edit it; it may only
  // ever name the one place this code moves the eCryptfs copy to.
  if (j.aside !== asidePath(user)) {
    throw new RefusedError(`${p} names ${JSON.stringify(j.aside)}, not ${asidePath(user)}; move the journal away`);
  }
  return j;
}

/** The journal is the user's file in the user's folder: written as the user. */
async function writeJournal(user: UserAccount, j: Journal): Promise<void> {
  await userWorker(user).writer(journalPath(user), journalBytes(j), 0o600);
}

function journalBytes(j: Journal): Buffer {
  return Buffer.from(`${JSON.stringify(j, null, 2)}\n`);
}

/** Migrates a Private directory or, through migrate-home.ts, an encrypted home. */
export async function migrateEcryptfs(o: MigrateOptions): Promise<MigrateResult> {
  requireRoot('homecrypt ecryptfs migrate');
  const user = lookupUser(o.user);
  // an eCryptfs or adopted home in use: root cannot even read its ~/.ecryptfs link
  const m = mountAt(user.home);
  if (m && (m.fsType === 'ecryptfs' || m.fsType.startsWith('fuse'))) {
    throw new RefusedError(`${user.home} is mounted (${m.fsType} ${m.source}); log ${user.name} out (or unmount it) first`);
  }
  if (!readJournal(user) && (homeMigrationUnderWay(user) || isEncryptedHome(user))) return migrateEncryptedHome(o, user);
  return migratePrivate(o);
}

function isEncryptedHome(user: UserAccount): boolean {
  try {
    return readPrivateSetup(user.home, user.name).encryptedHome;
  } catch {
    return false;
  }
}

export async function migratePrivate(o: MigrateOptions): Promise<MigrateResult> {
  requireRoot('homecrypt ecryptfs migrate');
  const user = lookupUser(o.user);
  const say = o.say ?? (() => {});
  let journal = readJournal(user);
  if (journal?.step === 'done') {
    if (o.removeEcryptfs && existsSync(journal.aside)) {
      await removeEcryptfsCopyAsUser(user, journal.aside);
      return { recoveryKey: null, entries: 0, bytes: 0, removed: true, aside: journal.aside };
    }
    throw new RefusedError(`${user.name} was already migrated to homecrypt (${journalPath(user)})`);
  }
  let setup: PrivateSetup;
  if (!journal) {
    setup = readPrivateSetup(user.home, user.name);
    if (setup.encryptedHome)
      throw new UsageError('an eCryptfs encrypted home (mounted on the home itself) cannot be migrated by this build; only Private directories');
    if (isFuseMountedAt(setup.mountPoint) || readFileSync('/proc/mounts', 'utf8').includes(` ${setup.mountPoint} ecryptfs `)) {
      throw new RefusedError(`${setup.mountPoint} is mounted; unmount it first`);
    }
    if (setup.lower !== join(user.home, '.Private'))
      throw new UsageError(`the eCryptfs lower directory is ${setup.lower}, not ~/.Private; migrate handles the ecryptfs-setup-private layout`);
    if (setup.mountPoint !== join(user.home, 'Private')) throw new UsageError(`the eCryptfs mount point is ${setup.mountPoint}, not ~/Private`);
  } else {
    setup = { ...readPrivateSetup(user.home, user.name), lower: journal.aside };
    say(`resuming the migration of ${user.name} (step: ${journal.step})`);
  }
  // the login passphrase must open the eCryptfs copy before anything moves
  const mountPass = unwrapPassphraseFile(setup.wrappedPassphrase, o.loginPassphrase);
  let recoveryKey: string | null = null;
  try {
    wipeKeys(openEcryptfs(journal ? journal.aside : setup.lower, mountPass).keys);
    const worker = userWorker(user);
    if (!journal) {
      const aside = asidePath(user);
      if (existsSync(aside)) throw asideTaken(user, aside);
      clearEcryptfsMountPoint(setup.home, setup.mountPoint);
      journal = { version: 1, step: 'aside', aside, startedAt: new Date().toISOString() };
      // the journal (in ~/.homecrypt, made here if needed) first, then the
      // rename: both in the user's home, so both as the user
      await worker.runAll([
        { req: { op: 'mkdir', path: join(user.home, '.homecrypt'), mode: 0o700 } },
        { req: { op: 'writeFile', path: journalPath(user), mode: 0o600 }, payload: journalBytes(journal) },
        { req: { op: 'rename', from: setup.lower, to: aside } },
      ]);
      say(`moved the eCryptfs directory aside to ${aside}`);
    }
    if (journal.step === 'aside') {
      const existing = loadUserRecord(user.name);
      if (!existing) {
        // "migrating" until every entry is copied: no login mounts a half-filled ~/Private
        const r = await setupUser({
          user: user.name,
          mode: 'private',
          passphrase: o.loginPassphrase,
          checkPassword: o.checkPassword,
          kdfTimeSeconds: o.kdfTimeSeconds,
          initialState: 'migrating',
          onRecoveryKey: (k) => {
            recoveryKey = k;
            return o.onRecoveryKey?.(k);
          },
        });
        recoveryKey ??= r.recoveryKey;
      }
      journal = { ...journal, step: 'setup' };
      await writeJournal(user, journal);
    }
    let rec = loadUserRecord(user.name);
    if (!rec) throw new HomecryptError(`${user.name} has no homecrypt record although the migration journal says it was set up`);
    // interrupted before the recovery key was shown: a new one now
    if (rec.recoveryKeyPending)
      rec = await reissueRecoveryKey(rec, user, o.loginPassphrase, (k) => {
        recoveryKey = k;
        return o.onRecoveryKey?.(k);
      });
    let entries = 0,
      bytes = 0;
    if (journal.step === 'setup') {
      const { mountKey } = await unwrapForUser(rec.keyStore, user, o.loginPassphrase);
      ({ entries, bytes } = await copyAsUser(user, journal.aside, rec.lower, mountPass, mountKey, o));
      journal = { ...journal, step: 'copied' };
      await writeJournal(user, journal);
    }
    if (rec.state !== 'ready') saveUserRecord({ ...rec, state: 'ready' });
    let removed = false;
    if (o.removeEcryptfs && (journal.step === 'copied' || journal.step === 'done')) {
      await removeEcryptfsCopyAsUser(user, journal.aside);
      removed = true;
      say(`removed the eCryptfs copy ${journal.aside} and ~/.ecryptfs`);
    }
    journal = { ...journal, step: 'done' };
    await writeJournal(user, journal);
    return { recoveryKey, entries, bytes, removed, aside: journal.aside };
  } finally {
    mountPass.fill(0);
  }
}
