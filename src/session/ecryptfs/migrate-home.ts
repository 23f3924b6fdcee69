// `homecrypt ecryptfs migrate --user U` for an eCryptfs encrypted home: the
// home becomes a homecrypt --home mode home (src/session/user-layout.ts: lower and
// key store in /home/.homecrypt/U/, mounted on /home/U at login).
//
//   1. checks before anything is written: the login passphrase opens the
//      eCryptfs data, the home is not mounted, the user has no process running
//      (the session code's rule for moving a home), the unmounted /home/U holds
//      nothing but ecryptfs-utils' links, and the homecrypt root has room for a
//      full copy (the eCryptfs copy stays until the end);
//   2. homecrypt's key store (login + recovery slots) and lower directory; the
//      user record says "migrating", so no login mounts the half-filled home;
//   3. every entry decrypted from /home/.ecryptfs/U/.Private and written through
//      the engine's operations, read back and compared by SHA-256 (copyAll);
//   4. ecryptfs-utils' links leave the unmounted /home/U, the record becomes
//      "ready" (replacing an earlier `ecryptfs adopt`);
//   5. only with --remove-ecryptfs, and only after 4: /home/.ecryptfs/U goes.
// The journal /home/.homecrypt/U/ecryptfs-migration.json records the step
// reached; running the command again carries on from there.
import { closeSync, existsSync, lstatSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { HomecryptError, RefusedError, UsageError } from '../../errors.js';
import { bytesOfName } from '../../format/name-bytes.js';
import type { UserAccount } from '../../os/users.js';
import { withUserLock } from '../../os/users-lock.js';
import { createKeyStore } from '../../keys/key-store.js';
import { layoutFor } from '../user-layout.js';
import { initLower } from '../lower-dir.js';
import { unwrapForUser } from '../key-ops.js';
import { availableBytes, checkFreeSpace, refuseWhileRunning } from '../setup.js';
import { loadUserRecord, newUserRecord, saveUserRecord } from '../user-record.js';
import { judgeLeftover, removedEmptyNote, removeIfEmpty, type Leftover } from '../setup-leftover.js';
import { isAdoptedEcryptfs } from './adopt.js';
import { checkUnmountedHome, ecryptfsUserDir, makeMountPointWritable, removeLeftovers } from '../../ecryptfs/encrypted-home.js';
import { openEcryptfs } from '../../ecryptfs/ecryptfs-mount.js';
import { readPrivateSetup, readWrappedPassphrase } from '../../ecryptfs/private-dir.js';
import { unwrapPassphrase } from '../../format/ecryptfs/wrapped-passphrase.js';
import { walkLower } from '../../ecryptfs/tree.js';
import { wipeKeys } from '../../ecryptfs/keys.js';
import type { MigrateOptions, MigrateResult } from './migrate-options.js';
import { copyAsUser } from './migrate-copy-as-user.js';
import { journalPath, readJournal, writeJournal, type HomeJournal } from './home-journal.js';
import { userWorker } from '../user-worker-client.js';
import { makeOwnedDirAt, openTrustedDir, removeTreeAt, withFd } from '../../os/dir-fd.js';

/**
 * The user's folder under /home/.homecrypt is there with no record and no
 * journal: what a setup --home stopped before its record left (its marker
 * says so, setup-leftover.ts; doctor names it too), or a folder no setup of
 * this account made, which may be the only copy of someone's data.
 */
function baseTaken(user: UserAccount, base: string): RefusedError {
  let left: Leftover;
  try {
    left = judgeLeftover(user, base);
  } catch (err) {
    left = { kind: 'unknown', why: (err as Error).message };
  }
  const again = `run homecrypt ecryptfs migrate --user ${user.name} again`;
  if (left.kind === 'own') {
    return new RefusedError(`${base} already exists: a setup --home of ${user.name} stopped before it wrote the record left it`, {
      hint: `nothing in it is needed (a key store whose recovery key was never shown, and an empty volume; homecrypt doctor --user ${user.name} says so too): remove it with rm -r -- ${base}, then ${again}`,
    });
  }
  // (a journal there was read before this, so 'ecryptfs-migration' does not come here)
  return new RefusedError(`${base} already exists and no record names it${left.kind === 'unknown' ? ` (${left.why})` : ''}`, {
    hint:
      `it may hold encrypted data, e.g. of an account forgotten with setup --forget (it opens with that recovery key): look inside with ls -la ${base}; ` +
      `keep it elsewhere if it does, e.g. mv -T -- ${base} ${base}.kept, or remove it; then ${again}`,
  });
}

function removeEcryptfsCopy(j: HomeJournal, say: (l: string) => void): void {
  // /home/.ecryptfs/U is the user's, in root's /home/.ecryptfs: root removes
  // it walking by directory descriptors (O_NOFOLLOW), so a folder swapped for
  // a link mid-walk is removed as a link and nothing outside is reached
  try {
    withFd(openTrustedDir(dirname(j.ecryptfsDir)), (fd) => removeTreeAt(fd, basename(j.ecryptfsDir), j.ecryptfsDir));
  } catch (err) {
    throw new HomecryptError(`could not remove the eCryptfs copy ${j.ecryptfsDir}: ${(err as Error).message}`);
  }
  say(`removed the eCryptfs copy ${j.ecryptfsDir}`);
}

export async function migrateEncryptedHome(o: MigrateOptions, user: UserAccount): Promise<MigrateResult> {
  if (user.uid === 0) throw new RefusedError("refusing to migrate root's home");
  const say = o.say ?? (() => {});
  return withUserLock(user.name, async () => {
    const layout = layoutFor(user, 'home');
    let journal = readJournal(layout);
    if (journal?.step === 'done') {
      if (o.removeEcryptfs && existsSync(journal.ecryptfsDir)) {
        removeEcryptfsCopy(journal, say);
        return { recoveryKey: null, entries: 0, bytes: 0, removed: true, aside: journal.ecryptfsDir, home: true };
      }
      throw new RefusedError(`${user.name} was already migrated to homecrypt (${journalPath(layout)})`);
    }
    const home = layout.mountPoint;
    if (journal) {
      say(`resuming the migration of ${user.name}'s encrypted home (step: ${journal.step})`);
    } else {
      const setup = readPrivateSetup(user);
      if (!setup.encryptedHome) throw new UsageError(`${user.name} has no eCryptfs encrypted home`);
      journal = {
        version: 1,
        step: 'start',
        lower: setup.lower,
        ecryptfsDir: ecryptfsUserDir(setup),
        wrapped: setup.wrappedPassphrase,
        startedAt: new Date().toISOString(),
      };
      const rec = loadUserRecord(user.name);
      if (rec && !(isAdoptedEcryptfs(rec.lower, rec.keyStore) && rec.lower === setup.lower)) {
        throw new RefusedError(`${user.name} is already a homecrypt user (${rec.mode} mode); see homecrypt status --user ${user.name}`);
      }
      if (existsSync(layout.base!)) {
        if (!removeIfEmpty(layout.base!)) throw baseTaken(user, layout.base!);
        say(removedEmptyNote(layout.base!));
      }
    }
    // the same on every run: a login since the interruption must not be under way
    checkUnmountedHome(home);
    await refuseWhileRunning(user, 'migrating the eCryptfs home');
    // the login passphrase must open the eCryptfs data before anything is written
    // read again by descriptor (key-dir.ts), never by the path the journal kept: that is the user's to change
    const pass = unwrapPassphrase(readWrappedPassphrase(user), o.loginPassphrase);
    const ec = (() => {
      try {
        return openEcryptfs(journal.lower, pass);
      } catch (err) {
        pass.fill(0);
        throw err;
      }
    })();
    const worker = userWorker(user);
    try {
      let recoveryKey: string | null = null;
      let mountKey: Buffer | null = null;
      if (journal.step === 'start') {
        const root = dirname(layout.base!);
        // /home/.homecrypt (root's) and /home/.homecrypt/U (the user's), made
        // and owned through descriptors, as setup --home does
        withFd(openTrustedDir(dirname(root)), (fd) => closeSync(makeOwnedDirAt(fd, basename(root), { uid: 0, gid: 0 }, 0o711, root)));
        checkFreeSpace(copyNeeds(ec), availableBytes(root), root);
        withFd(openTrustedDir(root), (fd) => closeSync(makeOwnedDirAt(fd, basename(layout.base!), user, 0o700, layout.base)));
        // a run interrupted in this step left at most a partial key store and
        // lower: start the step again (in the user's folder: as the user)
        await worker.runAll([{ req: { op: 'remove', path: layout.lower } }, { req: { op: 'remove', path: layout.keyStore } }]);
        writeJournal(layout, journal);
        const made = await createKeyStore(layout.keyStore, {
          passphrase: o.loginPassphrase,
          kdfTimeSeconds: o.kdfTimeSeconds,
          writer: worker.writer,
        });
        mountKey = made.mountKey;
        await initLower(user, layout.lower, layout.keyStore, mountKey);
        saveUserRecord(newUserRecord(user, layout, made.keyId, 'migrating'));
        recoveryKey = made.recoveryKey;
        o.onRecoveryKey?.(recoveryKey);
        journal = { ...journal, step: 'setup' };
        writeJournal(layout, journal);
      }
      const rec = loadUserRecord(user.name);
      if (!rec || rec.lower !== layout.lower)
        throw new HomecryptError(`${user.name} has no homecrypt home record although the migration journal says it was set up`);
      let entries = 0,
        bytes = 0;
      if (journal.step === 'setup') {
        mountKey ??= (await unwrapForUser(rec.keyStore, user, o.loginPassphrase)).mountKey;
        ({ entries, bytes } = await copyAsUser(user, journal.lower, layout.lower, pass, mountKey, o));
        mountKey = null;
        // the next login mounts homecrypt's home here, on an empty directory
        removeLeftovers(home);
        makeMountPointWritable(home);
        saveUserRecord({ ...rec, state: 'ready' });
        journal = { ...journal, step: 'copied' };
        writeJournal(layout, journal);
        say(`every entry verified; ${user.name}'s home is homecrypt's from the next login`);
      }
      mountKey?.fill(0);
      let removed = false;
      if (o.removeEcryptfs) {
        removeEcryptfsCopy(journal, say);
        removed = true;
      }
      journal = { ...journal, step: 'done' };
      writeJournal(layout, journal);
      return { recoveryKey, entries, bytes, removed, aside: journal.ecryptfsDir, home: true };
    } finally {
      wipeKeys(ec.keys);
      pass.fill(0);
    }
  });
}

/** What a full copy needs on the homecrypt root: the plaintext plus headers and per-block tags. */
function copyNeeds(ec: ReturnType<typeof openEcryptfs>): number {
  let files = 0,
    bytes = 0;
  for (const e of walkLower(ec)) {
    files++;
    if (e.type === 'f') bytes += lstatSync(bytesOfName(e.lowerPath)).size;
  }
  return bytes + files * (4096 + 64) + Math.ceil(bytes / 4096) * 32 + 16 * 1024 * 1024;
}
