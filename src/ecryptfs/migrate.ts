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
import { createHash } from 'node:crypto';
import { existsSync, lchownSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, unlinkSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { RefusedError, UsageError, HomecryptError } from '../errors.js';
import { writeFileAtomic } from '../os/atomic-file.js';
import { isFuseMountedAt, mountAt } from '../os/mounts.js';
import { lookupUser, type UserAccount } from '../os/users.js';
import { runAsUser } from '../os/processes.js';
import { setupUser } from '../session/setup.js';
import { unwrapForUser } from '../session/key-ops.js';
import { loadUserRecord } from '../session/user-record.js';
import { openVolume } from '../engine/volume.js';
import { EncryptedFilesystem } from '../engine/filesystem.js';
import { FuseError } from '../fuse/index.js';
import { clearEcryptfsMountPoint, readPrivateSetup, type PrivateSetup } from './private-dir.js';
import { unwrapPassphraseFile } from './wrapped-passphrase-file.js';
import { openEcryptfs } from './mount.js';
import { walkLower } from './tree.js';
import { wipeKeys } from './keys.js';
import { EcryptfsVolume } from './volume.js';

const CHUNK = 1 << 20;

type Step = 'aside' | 'setup' | 'copied' | 'done';
interface Journal { version: 1; step: Step; aside: string; startedAt: string }

export interface MigrateOptions {
  user: string;
  loginPassphrase: Buffer;
  kdfTimeSeconds?: number;
  checkPassword: boolean;
  removeEcryptfs: boolean;
  say?: (line: string) => void;
  onProgress?: (done: { entries: number; bytes: number }, total: { entries: number; bytes: number }) => void;
  /** Called as soon as the recovery key exists (before copying), so it is shown even if copying fails. */
  onRecoveryKey?: (key: string) => void;
  /** Test hook: throw after this many entries were copied (simulates a crash). */
  failAfterEntries?: number;
}

export interface MigrateResult { recoveryKey: string | null; entries: number; bytes: number; removed: boolean; aside: string; home?: boolean }

function journalPath(user: UserAccount): string {
  return join(user.home, '.homecrypt', 'ecryptfs-migration.json');
}

function asidePath(user: UserAccount): string {
  return join(user.home, '.Private.ecryptfs');
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
  if (!existsSync(p)) return null;
  const j = JSON.parse(readFileSync(p, 'utf8')) as Journal;
  if (j.version !== 1 || !['aside', 'setup', 'copied', 'done'].includes(j.step) || typeof j.aside !== 'string') {
    throw new HomecryptError(`${p}: not a migration journal this build understands`);
  }
  // The journal lives in the user's home, so the user can edit it; it may only
  // ever name the one place this code moves the eCryptfs copy to.
  if (j.aside !== asidePath(user)) {
    throw new RefusedError(`${p} names ${JSON.stringify(j.aside)}, not ${asidePath(user)}; move the journal away`);
  }
  return j;
}

function writeJournal(user: UserAccount, j: Journal): void {
  const p = journalPath(user);
  writeFileAtomic(p, Buffer.from(`${JSON.stringify(j, null, 2)}\n`), { mode: 0o600, uid: user.uid, gid: user.gid });
}

/** Migrates a Private directory or, through migrate-home.ts, an encrypted home. */
export async function migrateEcryptfs(o: MigrateOptions): Promise<MigrateResult> {
  if (process.geteuid?.() !== 0) throw new RefusedError('homecrypt ecryptfs migrate must run as root');
  const user = lookupUser(o.user);
  // an eCryptfs or adopted home in use: root cannot even read its ~/.ecryptfs link
  const m = mountAt(user.home);
  if (m && (m.fsType === 'ecryptfs' || m.fsType.startsWith('fuse'))) {
    throw new RefusedError(`${user.home} is mounted (${m.fsType} ${m.source}); log ${user.name} out (or unmount it) first`);
  }
  const { homeMigrationUnderWay, migrateEncryptedHome } = await import('./migrate-home.js');
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
  if (process.geteuid?.() !== 0) throw new RefusedError('homecrypt ecryptfs migrate must run as root');
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
    if (setup.encryptedHome) throw new UsageError('an eCryptfs encrypted home (mounted on the home itself) cannot be migrated by this build; only Private directories');
    if (isFuseMountedAt(setup.mountPoint) || readFileSync('/proc/mounts', 'utf8').includes(` ${setup.mountPoint} ecryptfs `)) {
      throw new RefusedError(`${setup.mountPoint} is mounted; unmount it first`);
    }
    if (setup.lower !== join(user.home, '.Private')) throw new UsageError(`the eCryptfs lower directory is ${setup.lower}, not ~/.Private; migrate handles the ecryptfs-setup-private layout`);
    if (setup.mountPoint !== join(user.home, 'Private')) throw new UsageError(`the eCryptfs mount point is ${setup.mountPoint}, not ~/Private`);
  } else {
    setup = { ...readPrivateSetup(user.home, user.name), lower: journal.aside };
    say(`resuming the migration of ${user.name} (step: ${journal.step})`);
  }
  // the login passphrase must open the eCryptfs copy before anything moves
  const mountPass = unwrapPassphraseFile(setup.wrappedPassphrase, o.loginPassphrase);
  let ec = (() => {
    try {
      return openEcryptfs(journal ? journal.aside : setup.lower, mountPass);
    } finally {
      mountPass.fill(0);
    }
  })();
  let recoveryKey: string | null = null;
  try {
    if (!journal) {
      const aside = asidePath(user);
      if (existsSync(aside)) throw new RefusedError(`${aside} already exists; move it away first`);
      clearEcryptfsMountPoint(setup.home, setup.mountPoint);
      journal = { version: 1, step: 'aside', aside, startedAt: new Date().toISOString() };
      // the journal (in ~/.homecrypt, made here if needed) first, then the rename
      if (!existsSync(join(user.home, '.homecrypt'))) {
        mkdirSync(join(user.home, '.homecrypt'), { mode: 0o700 });
        lchownSync(join(user.home, '.homecrypt'), user.uid, user.gid);
      }
      writeJournal(user, journal);
      renameSync(setup.lower, aside);
      ec = new EcryptfsVolume({ lowerDir: aside, keys: ec.keys, keyBytes: ec.keyBytes });
      say(`moved the eCryptfs directory aside to ${aside}`);
    }
    if (journal.step === 'aside') {
      const existing = loadUserRecord(user.name);
      if (!existing) {
        const r = await setupUser({ user: user.name, mode: 'private', passphrase: o.loginPassphrase, checkPassword: o.checkPassword, kdfTimeSeconds: o.kdfTimeSeconds });
        recoveryKey = r.recoveryKey;
        if (recoveryKey) o.onRecoveryKey?.(recoveryKey);
      }
      journal = { ...journal, step: 'setup' };
      writeJournal(user, journal);
    }
    const rec = loadUserRecord(user.name);
    if (!rec) throw new HomecryptError(`${user.name} has no homecrypt record although the migration journal says it was set up`);
    let entries = 0, bytes = 0;
    if (journal.step === 'setup') {
      ({ entries, bytes } = copyAll(ec, user, rec.lower, rec.keyStore, o, await unwrapForUser(rec.keyStore, user, o.loginPassphrase)));
      journal = { ...journal, step: 'copied' };
      writeJournal(user, journal);
    }
    let removed = false;
    if (o.removeEcryptfs && (journal.step === 'copied' || journal.step === 'done')) {
      await removeEcryptfsCopyAsUser(user, journal.aside);
      removed = true;
      say(`removed the eCryptfs copy ${journal.aside} and ~/.ecryptfs`);
    }
    journal = { ...journal, step: 'done' };
    writeJournal(user, journal);
    return { recoveryKey, entries, bytes, removed, aside: journal.aside };
  } finally {
    wipeKeys(ec.keys);
  }
}

export function copyAll(ec: EcryptfsVolume, user: UserAccount, lower: string, _keyStore: string, o: MigrateOptions,
  key: { mountKey: Buffer }): { entries: number; bytes: number } {
  const vol = openVolume(lower, [key.mountKey]);
  key.mountKey.fill(0);
  const fs = new EncryptedFilesystem({ lowerRoot: vol.lowerRoot, format: vol.format, log: (l) => o.say?.(l) });
  const all = [...walkLower(ec)];
  const sizeOf = (lowerPath: string) => {
    const f = ec.openFile(lowerPath, false);
    try { return f.size; } finally { f.close(); }
  };
  const total = { entries: all.length, bytes: all.reduce((n, e) => n + (e.type === 'f' ? sizeOf(e.lowerPath) : 0), 0) };
  const done = { entries: 0, bytes: 0 };
  const exists = (p: string) => {
    try { fs.getattr(p); return true; } catch (e) { if (e instanceof FuseError || (e as NodeJS.ErrnoException).code === 'ENOENT') return false; throw e; }
  };
  const own = (p: string) => lchownSync(fs.lower(p).abs, user.uid, user.gid);
  for (const e of all) {
    const p = `/${e.path}`;
    if (e.type === 'd') {
      if (!exists(p)) fs.mkdir(p, e.mode);
      own(p);
    } else if (e.type === 'l') {
      if (exists(p)) {
        if (fs.readlink(p) !== e.target) { fs.unlink(p); fs.symlink(e.target, p); }
      } else fs.symlink(e.target, p);
      own(p);
    } else {
      const src = ec.openFile(e.lowerPath, false);
      try {
        const size = src.size;
        const hash = createHash('sha256');
        for (let off = 0; off < size; off += CHUNK) hash.update(src.read(off, CHUNK));
        const want = hash.digest('hex');
        if (!(exists(p) && fileHash(fs, p) === want)) {
          if (exists(p)) fs.unlink(p);
          const fh = fs.create(p, e.mode);
          try {
            for (let off = 0; off < size; off += CHUNK) {
              const chunk = src.read(off, CHUNK);
              fs.write(p, fh, chunk, off);
            }
          } finally {
            fs.release(p, fh);
          }
          own(p);
          const st = lstatSync(e.lowerPath);
          fs.utimens(p, st.atimeMs, st.mtimeMs);
          const got = fileHash(fs, p);
          if (got !== want) throw new HomecryptError(`${e.path}: verification failed after copying (the eCryptfs copy is untouched)`);
        }
        done.bytes += size;
      } finally {
        src.close();
      }
    }
    done.entries++;
    o.onProgress?.(done, total);
    if (o.failAfterEntries !== undefined && done.entries >= o.failAfterEntries) throw new HomecryptError('simulated interruption (test hook)');
  }
  fs.closeAll();
  chownTree(vol.lowerRoot, user);
  return done;
}

/** Everything the engine wrote as root (entries, sidecars) becomes the user's. */
function chownTree(dir: string, user: UserAccount): void {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    lchownSync(p, user.uid, user.gid);
    if (lstatSync(p).isDirectory()) chownTree(p, user);
  }
}

function fileHash(fs: EncryptedFilesystem, p: string): string {
  const fh = fs.open(p, 0);
  try {
    const h = createHash('sha256');
    const buf = Buffer.alloc(CHUNK);
    for (let off = 0; ; off += CHUNK) {
      const n = fs.read(p, fh, buf, off);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
      if (n < CHUNK) break;
    }
    return h.digest('hex');
  } finally {
    fs.release(p, fh);
  }
}

