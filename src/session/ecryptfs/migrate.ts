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
import { unwrapPassphrase } from '../../format/ecryptfs/wrapped-passphrase.js';
import { openEcryptfs } from '../../ecryptfs/ecryptfs-mount.js';
import { wipeKeys } from '../../ecryptfs/keys.js';
import { migrateEncryptedHome } from './migrate-home.js';
import { homeMigrationUnderWay } from './home-journal.js';
import type { MigrateOptions, MigrateResult } from './migrate-options.js';
import { userWorker } from '../user-worker-client.js';
import { copyFinished, privateAsidePath, privateJournalBytes, privateJournalPath, readPrivateJournal, type PrivateJournal } from './private-journal.js';
import { copyAsUser } from './migrate-copy-as-user.js';

/**
 * ~/.Private.ecryptfs is there with no journal (an interrupted run always has
 * one: it is written before the rename): the eCryptfs copy an earlier
 * migration set aside and kept (it stays until --remove-ecryptfs) whose
 * journal was removed by hand since, or a copy made by hand. It is moved as
 * the user: the folder is theirs.
 */
function asideTaken(user: UserAccount, aside: string): RefusedError {
  return new RefusedError(`${aside} already exists, and no migration journal (${privateJournalPath(user)}) names it`, {
    hint:
      `it is most likely the eCryptfs copy an earlier migration of ${user.name} kept (it stays until --remove-ecryptfs) whose journal was removed since, ` +
      `or a copy made by hand; look inside with ls -la ${aside}, then move it away with runuser -u ${user.name} -- mv -T -- ${aside} ${aside}.old ` +
      `and run homecrypt ecryptfs migrate --user ${user.name} again`,
  });
}

/**
 * The journal says every entry was copied, but the user has no record: the
 * migration was undone since (`setup --undo` by a build that kept the
 * journal) or the record removed. Carrying on would say "already migrated" of
 * a user who no longer uses homecrypt, and --remove-ecryptfs would delete the
 * eCryptfs copy while reporting a migration.
 */
function staleJournal(user: UserAccount, aside: string): RefusedError {
  const j = privateJournalPath(user);
  const copy = existsSync(aside)
    ? `${aside} is the eCryptfs copy that migration kept (the Private directory as it was then): keep it, or remove it as ${user.name} ` +
      `with runuser -u ${user.name} -- rm -rf -- ${aside} ${join(user.home, '.ecryptfs')}; `
    : '';
  return new RefusedError(`${j} says ${user.name}'s eCryptfs Private directory was migrated, but ${user.name} does not use homecrypt any more`, {
    hint:
      `the migration was undone since (setup --undo) or its record removed, and the journal is stale: remove it with runuser -u ${user.name} -- rm -- ${j}; ` +
      `${copy}to encrypt ${join(user.home, 'Private')} again: homecrypt setup --private --user ${user.name}`,
  });
}

/**
 * No ~/.Private and no journal: nothing to migrate. A ~/.Private.ecryptfs
 * beside it is the copy an earlier migration kept (that migration undone
 * since, or its journal removed); migrating it again would bring back the
 * Private directory as it was then, so it is named, not used.
 */
function nothingToMigrate(user: UserAccount, lower: string): RefusedError {
  const aside = privateAsidePath(user);
  const mnt = join(user.home, 'Private');
  return new RefusedError(`${user.name} has no eCryptfs Private directory to migrate: ${lower} is not there`, {
    hint: existsSync(aside)
      ? `${aside} is the eCryptfs copy an earlier migration kept (undone since, or its journal removed), and ${mnt} is not encrypted: ` +
        `to encrypt it again, homecrypt setup --private --user ${user.name}; remove the copy as ${user.name} once it is no longer needed: ` +
        `runuser -u ${user.name} -- rm -rf -- ${aside} ${join(user.home, '.ecryptfs')}`
      : `homecrypt status --user ${user.name} says whether ${user.name} uses homecrypt`,
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

/** The journal is the user's file in the user's folder: written as the user. */
async function writeJournal(user: UserAccount, j: PrivateJournal): Promise<void> {
  await userWorker(user).writer(privateJournalPath(user), privateJournalBytes(j), 0o600);
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
  if (!readPrivateJournal(user) && (homeMigrationUnderWay(user) || isEncryptedHome(user))) return migrateEncryptedHome(o, user);
  return migratePrivate(o);
}

function isEncryptedHome(user: UserAccount): boolean {
  try {
    return readPrivateSetup(user).encryptedHome;
  } catch {
    return false;
  }
}

export async function migratePrivate(o: MigrateOptions): Promise<MigrateResult> {
  requireRoot('homecrypt ecryptfs migrate');
  const user = lookupUser(o.user);
  const say = o.say ?? (() => {});
  let journal = readPrivateJournal(user);
  if (journal && copyFinished(journal) && !loadUserRecord(user.name)) throw staleJournal(user, journal.aside);
  if (journal?.step === 'done') {
    if (o.removeEcryptfs && existsSync(journal.aside)) {
      await removeEcryptfsCopyAsUser(user, journal.aside);
      return { recoveryKey: null, entries: 0, bytes: 0, removed: true, aside: journal.aside };
    }
    throw new RefusedError(`${user.name} was already migrated to homecrypt (${privateJournalPath(user)})`);
  }
  let setup: PrivateSetup;
  if (!journal) {
    // a user with a record and no journal already uses homecrypt (set up afresh, or adopted):
    // the rename aside below would take the volume its record names away from it
    const rec = loadUserRecord(user.name);
    if (rec)
      throw new RefusedError(
        `${user.name} already uses homecrypt (${rec.mode} mode, ${rec.lower}), and no migration journal (${privateJournalPath(user)}) says a migration is under way`,
        {
          hint: `homecrypt status --user ${user.name} shows the setup; there is nothing of it to migrate`,
        },
      );
    setup = readPrivateSetup(user);
    if (setup.encryptedHome)
      throw new UsageError('an eCryptfs encrypted home (mounted on the home itself) cannot be migrated by this build; only Private directories');
    if (!existsSync(setup.lower)) throw nothingToMigrate(user, setup.lower);
    if (isFuseMountedAt(setup.mountPoint) || readFileSync('/proc/mounts', 'utf8').includes(` ${setup.mountPoint} ecryptfs `)) {
      throw new RefusedError(`${setup.mountPoint} is mounted; unmount it first`);
    }
    if (setup.lower !== join(user.home, '.Private'))
      throw new UsageError(`the eCryptfs lower directory is ${setup.lower}, not ~/.Private; migrate handles the ecryptfs-setup-private layout`);
    if (setup.mountPoint !== join(user.home, 'Private')) throw new UsageError(`the eCryptfs mount point is ${setup.mountPoint}, not ~/Private`);
  } else {
    setup = { ...readPrivateSetup(user), lower: journal.aside };
    say(`resuming the migration of ${user.name} (step: ${journal.step})`);
  }
  // the login passphrase must open the eCryptfs copy before anything moves
  const mountPass = unwrapPassphrase(setup.wrapped, o.loginPassphrase);
  let recoveryKey: string | null = null;
  try {
    wipeKeys(openEcryptfs(journal ? journal.aside : setup.lower, mountPass).keys);
    const worker = userWorker(user);
    if (!journal) {
      const aside = privateAsidePath(user);
      if (existsSync(aside)) throw asideTaken(user, aside);
      clearEcryptfsMountPoint(setup.home, setup.mountPoint);
      journal = { version: 1, step: 'aside', aside, startedAt: new Date().toISOString() };
      // the journal (in ~/.homecrypt, made here if needed) first, then the
      // rename: both in the user's home, so both as the user
      await worker.runAll([
        { req: { op: 'mkdir', path: join(user.home, '.homecrypt'), mode: 0o700 } },
        { req: { op: 'writeFile', path: privateJournalPath(user), mode: 0o600 }, payload: privateJournalBytes(journal) },
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
