// Turning a user into a homecrypt user (and back): key store, lower directory,
// mount point, the per-user record, and for --home the migration of the
// existing home, which is resumable: the record says "migrating" until the
// last file is in, and running setup again carries on where it stopped.
// Root never acts on a name inside a folder the user controls: that work is
// done by the user worker, as the user; the few steps only root can do (a
// folder in /home/.homecrypt, moving the home in /home) go by directory
// descriptor (src/os/dir-fd.ts). See docs/SECURITY.md.
import { closeSync, existsSync, lstatSync, readdirSync, statfsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname } from 'node:path';
import { RefusedError, UsageError, WrongPassphraseError, HomecryptError } from '../errors.js';
import { fchmodFd, fstatFd, makeOwnedDirAt, openDirAt, openDirsAt, openTrustedDir, renameAt, rmdirAt, withFd } from '../os/dir-fd.js';
import { isFuseMountedAt } from '../os/mounts.js';
import { requireRoot } from '../os/require-root.js';
import { checkPassword } from '../os/pam-authenticate.js';
import { argvOf, processesOf } from '../os/processes.js';
import { lookupUser, type UserAccount } from '../os/users.js';
import { withUserLock } from '../os/users-lock.js';
import { createKeyStore } from '../keys/key-store.js';
import { HOMECRYPT_BIN, mountAsUser, unmountAsUser } from './engine-ops.js';
import { initLowerStep } from './lower-dir.js';
import { dropKeyFromUserKeyring, keyFromUserKeyring, putKeyInUserKeyring, unwrapForUser } from './key-ops.js';
import { layoutFor, type Layout } from './user-layout.js';
import { spaceNeeded, type MoveProgress, type TreeSummary } from './migrate-tree.js';
import { readSessionCount } from './session-counter.js';
import { judgeLeftover, removedEmptyNote, removeIfEmpty, writeSetupMarker } from './setup-leftover.js';
import { removeSetupMarker, writeMarker } from './setup-marker.js';
import { privateLeftoverOf } from './private-leftover.js';
import { homeMigrationLeftByUndo, migrationLeftByUndo, type MigrationLeft } from './ecryptfs/migration-kept.js';
import { reissueRecoveryKey, showRecoveryKeyOnce, type ShowRecoveryKey } from './recovery-pending.js';
import { throwIfInterrupted } from '../os/interrupt.js';
import { loadUserRecord, newUserRecord, removeUserRecord, saveUserRecord, type Mode, type UserRecord } from './user-record.js';
import { stagedWrites, userWorker, type UserWorker, type WorkerStep } from './user-worker-client.js';

export interface SetupOptions {
  user: string;
  mode: Mode;
  passphrase: Buffer;
  kdfTimeSeconds?: number;
  checkPassword: boolean;
  /** progress of a home migration */
  onProgress?: (p: MoveProgress, total: TreeSummary) => void;
  say?: (line: string) => void;
  /**
   * Shows the recovery key as soon as it exists, before any file moves, so an
   * interruption cannot lose it (recovery-pending.ts); without it the key is
   * returned in the result instead.
   */
  onRecoveryKey?: ShowRecoveryKey;
  /** state of a new --private record (ecryptfs migrate: "migrating" until its copy is done) */
  initialState?: UserRecord['state'];
}

export interface SetupResult {
  record: UserRecord;
  recoveryKey: string | null;
  moved: MoveProgress | null;
  resumed: boolean;
}

export { requireRoot };

/**
 * A folder root makes in a root-owned directory (/home/.homecrypt/U, the
 * new empty home in /home), handed to `owner`: made and chowned by
 * descriptor, so no name a user can change is followed.
 */
function makeDirInTrusted(parent: string, name: string, owner: { uid: number; gid: number }, mode: number): void {
  withFd(openTrustedDir(parent), (pfd) => closeSync(makeOwnedDirAt(pfd, name, owner, mode, `${parent}/${name}`)));
}

const ROOT = { uid: 0, gid: 0 };

/** home mode: /home/.homecrypt (root's, 0711) and the user's folder in it (the user's, 0700). */
function makeHomeBase(user: UserAccount, layout: Layout): void {
  const root = dirname(layout.base!);
  makeDirInTrusted(dirname(root), basename(root), ROOT, 0o711);
  makeDirInTrusted(root, basename(layout.base!), user, 0o700);
}

/**
 * home mode: the user's folder in /home/.homecrypt emptied as the user, then removed by root (rmdir follows nothing).
 * An empty one goes at once: that includes a folder still root's, never handed over (a setup killed between its
 * mkdir and its chown), which the user could not even list.
 */
async function removeHomeBase(w: UserWorker, layout: Layout): Promise<void> {
  if (removeIfEmpty(layout.base!)) return;
  await w.run({ op: 'emptyDir', path: layout.base! });
  const root = dirname(layout.base!);
  withFd(openTrustedDir(root), (rfd) => {
    try {
      rmdirAt(rfd, basename(layout.base!), layout.base!);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  });
}

function isEmptyDir(path: string): boolean {
  try {
    return readdirSync(path).length === 0;
  } catch {
    return true;
  }
}

export async function refuseWhileRunning(user: UserAccount, what: string): Promise<void> {
  // a mount daemon of a session that just ended takes a moment to exit (one that has exited and waits
  // for init to reap it is not counted: processesOf leaves zombies out)
  await waitUntil(() => processesOf(user.uid).length === 0, 5000);
  // One whose mount is already gone is on its way out (it finishes its flushes and closes its lower
  // files first, slower on a loaded machine): waited for longer, since it cannot be what blocks the move.
  const left = processesOf(user.uid);
  if (left.length > 0 && left.every((p) => isExitingMountDaemon(p.pid))) await waitUntil(() => processesOf(user.uid).length === 0, 30_000);
  const procs = processesOf(user.uid);
  if (procs.length > 0) {
    const list = procs
      .slice(0, 5)
      .map((p) => `${p.pid} (${isExitingMountDaemon(p.pid) ? 'homecrypt mount daemon, unmounted but not exiting' : p.comm})`)
      .join(', ');
    throw new RefusedError(`${user.name} has ${procs.length} process(es) running (${list}${procs.length > 5 ? ', …' : ''})`, {
      hint: `log ${user.name} out first: ${what} needs none of their processes running`,
    });
  }
}

/** `homecrypt mount LOWER MOUNTPOINT … --foreground` as mountAsUser starts it, its MOUNTPOINT no longer mounted. */
function isExitingMountDaemon(pid: number): boolean {
  const argv = argvOf(pid);
  if (argv[1] !== HOMECRYPT_BIN || argv[2] !== 'mount' || !argv.includes('--foreground')) return false;
  const mountPoint = argv[4];
  return mountPoint !== undefined && !isFuseMountedAt(mountPoint);
}

async function waitUntil(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

const MiB = 1024 * 1024;
function mib(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`;
}

/** Throws a RefusedError naming how much space is needed when there is not enough. */
export function checkFreeSpace(needed: number, available: number, where: string): void {
  if (available < needed) {
    throw new RefusedError(
      `not enough free space on ${where}: the migration needs ${mib(needed)} free, there is ${mib(available)}; free ${mib(needed - available)} and run setup again`,
    );
  }
}

export function availableBytes(path: string): number {
  const s = statfsSync(path);
  return Number(s.bavail) * Number(s.bsize);
}

async function survey(user: UserAccount, dir: string): Promise<TreeSummary> {
  return (await userWorker(user).run({ op: 'survey', dir })) as TreeSummary;
}

/** Moves src's files into dst as the user (after the steps `before`); src is removed once empty when asked. */
async function moveAsUser(
  user: UserAccount,
  src: string,
  dst: string,
  removeSrc: boolean,
  onProgress?: (p: MoveProgress) => void,
  before: WorkerStep[] = [],
): Promise<MoveProgress> {
  try {
    const results = await userWorker(user).runAll([...before, { req: { op: 'move', src, dst, removeSrc } }], { onProgress });
    return results[results.length - 1] as MoveProgress;
  } catch (err) {
    throw new HomecryptError(`moving ${src} to ${dst} as ${user.name} failed: ${(err as Error).message}`);
  }
}

async function verifyLoginPassword(user: UserAccount, passphrase: Buffer): Promise<void> {
  const r = checkPassword('homecrypt', user.name, passphrase);
  if (!r.ok) {
    throw new WrongPassphraseError(
      `that is not ${user.name}'s login password (PAM: ${r.reason}); the key must be wrapped with the password used to log in (--no-password-check to skip this check)`,
    );
  }
}

export async function setupUser(opts: SetupOptions): Promise<SetupResult> {
  requireRoot('homecrypt setup');
  const user = lookupUser(opts.user);
  if (user.uid === 0) throw new RefusedError("refusing to encrypt root's home");
  return withUserLock(user.name, async () => {
    const existing = checkSetupRecord(user, opts.mode);
    if (opts.checkPassword) await verifyLoginPassword(user, opts.passphrase);
    const layout = layoutFor(user, opts.mode);
    if (existing?.state === 'ready') return reissuePending(opts, user, existing);
    if (existing) return resumeHome(opts, user, layout, existing);
    return opts.mode === 'private' ? setupPrivate(opts, user, layout) : setupHome(opts, user, layout);
  });
}

/**
 * What an earlier setup left, checked before any secret is asked for: null for
 * a fresh setup, or a record to resume (an unfinished --home, or a recovery key
 * never shown). Anything else is refused.
 */
export function checkSetupRecord(user: UserAccount, mode: UserRecord['mode']): UserRecord | null {
  const existing = loadUserRecord(user.name);
  if (!existing) return null;
  if (existing.uid !== user.uid) {
    throw new RefusedError(
      `${user.name}'s record names uid ${existing.uid} but the account has uid ${user.uid} (an account deleted and made again?); see homecrypt setup --forget --user ${user.name}`,
    );
  }
  if (existing.state === 'undoing') {
    throw new RefusedError(`${user.name}'s setup --undo was interrupted; run homecrypt setup --undo --user ${user.name} again to finish it`);
  }
  if (existing.state === 'ready' && !existing.recoveryKeyPending) {
    throw new RefusedError(`${user.name} is already set up (${existing.mode} mode); see homecrypt status --user ${user.name}`);
  }
  if (existing.mode !== mode) {
    throw new RefusedError(`${user.name} has an unfinished ${existing.mode} setup; run setup --${existing.mode} again to finish it`);
  }
  if (existing.state === 'migrating' && mode === 'private') {
    throw new RefusedError(`${user.name}'s migration from eCryptfs is unfinished; run homecrypt ecryptfs migrate --user ${user.name} again to finish it`);
  }
  return existing;
}

async function reissuePending(opts: SetupOptions, user: UserAccount, rec: UserRecord): Promise<SetupResult> {
  opts.say?.(`the recovery key of ${rec.user} was never shown (setup was interrupted): making a new one`);
  removeSetupMarker(user.name); // left when the run that wrote the record stopped right after it
  const show: ShowRecoveryKey = opts.onRecoveryKey ?? (() => {});
  let shown: string | null = null;
  const done = await reissueRecoveryKey(rec, user, opts.passphrase, (k, r) => {
    shown = k;
    return show(k, r);
  });
  return { record: done, recoveryKey: opts.onRecoveryKey ? null : shown, moved: null, resumed: true };
}

/**
 * The key store and the lower directory, written by the user worker in one
 * run with the steps `before` and `after` them (one process start: on a busy
 * machine each costs seconds). `beforeWrite` sees the key store's bytes
 * before the worker writes anything.
 */
async function createKeysAndLower(
  opts: SetupOptions,
  user: UserAccount,
  layout: Layout,
  before: WorkerStep[] = [],
  after: WorkerStep[] = [],
  beforeWrite?: (keyId: string, keyStore: Buffer) => void,
): Promise<{ keyId: string; recoveryKey: string; mountKey: Buffer }> {
  const staged = stagedWrites();
  const { keyId, mountKey, recoveryKey } = await createKeyStore(layout.keyStore, {
    passphrase: opts.passphrase,
    kdfTimeSeconds: opts.kdfTimeSeconds,
    writer: staged.writer,
  });
  try {
    const written = staged.steps.filter((s) => s.req.op === 'writeFile' && s.req.path === layout.keyStore).pop();
    beforeWrite?.(keyId, written?.payload ?? Buffer.alloc(0));
    await userWorker(user).runAll([...before, ...staged.steps, initLowerStep(layout.lower, layout.keyStore, mountKey), ...after]);
  } catch (err) {
    mountKey.fill(0);
    throw err;
  }
  return { keyId, recoveryKey, mountKey };
}

/**
 * What a --private setup stopped at once left before its record: refused when
 * it is not provably that setup's, else removed (saying so) as the user.
 */
async function clearPrivateLeftover(opts: SetupOptions, user: UserAccount, layout: Layout): Promise<void> {
  const leftover = privateLeftoverOf(user);
  if (!leftover) return;
  if (leftover.kind === 'unknown') {
    throw new RefusedError(`${leftover.left.join(', ')}: left by an interrupted setup of ${user.name}, but ${leftover.why}`, {
      hint: 'look inside: it may hold data (encrypted data opens with the recovery key it was made with); move it away, then run setup again',
    });
  }
  if (leftover.mountPointInUse) throw new RefusedError(`${layout.mountPoint} exists and is not empty; move its files away first`);
  if (leftover.left.length)
    opts.say?.(
      `removing ${leftover.left.join(', ')}, left by a setup of ${user.name} that was stopped before it wrote the record (its recovery key was never shown)`,
    );
  await userWorker(user).runAll(leftover.steps);
}

async function setupPrivate(opts: SetupOptions, user: UserAccount, layout: Layout): Promise<SetupResult> {
  await clearPrivateLeftover(opts, user, layout);
  if (existsSync(layout.lower)) throw new RefusedError(`${layout.lower} already exists; move it away first`);
  if (existsSync(layout.mountPoint) && !isEmptyDir(layout.mountPoint))
    throw new RefusedError(`${layout.mountPoint} exists and is not empty; move its files away first`);
  if (existsSync(layout.keyStore)) throw new RefusedError(`${layout.keyStore} already exists; move it away first`);
  const keyDirExisted = existsSync(layout.keyDir);
  const mountPointExisted = existsSync(layout.mountPoint);
  let record: UserRecord;
  let recoveryKey: string;
  const w = userWorker(user);
  try {
    const made = await createKeysAndLower(
      opts,
      user,
      layout,
      [{ req: { op: 'mkdir', path: layout.keyDir, mode: 0o700 } }],
      [{ req: { op: 'mkdir', path: layout.mountPoint, mode: 0o700 } }],
      (keyId, keyStore) =>
        // before the worker makes anything: a run stopped at once leaves what it names (private-leftover.ts)
        writeMarker({
          user: user.name,
          uid: user.uid,
          mode: 'private',
          home: user.home,
          keyId,
          keyStoreSha256: createHash('sha256').update(keyStore).digest('hex'),
          madeKeyDir: !keyDirExisted,
          madeMountPoint: !mountPointExisted,
        }),
    );
    made.mountKey.fill(0);
    recoveryKey = made.recoveryKey;
    record = { ...newUserRecord(user, layout, made.keyId, opts.initialState ?? 'ready'), ...(opts.onRecoveryKey ? { recoveryKeyPending: true } : {}) };
    saveUserRecord(record);
    removeSetupMarker(user.name);
  } catch (err) {
    // nothing half-done: take back what this run created (as the user: all of it is in their home)
    const undo: WorkerStep[] = [{ req: { op: 'remove', path: layout.lower } }, { req: { op: 'remove', path: layout.keyStore } }];
    if (!keyDirExisted) undo.push({ req: { op: 'remove', path: layout.keyDir } });
    if (!mountPointExisted) undo.push({ req: { op: 'rmdirIfEmpty', path: layout.mountPoint } });
    await w.runAll(undo).then(
      () => removeSetupMarker(user.name),
      () => {
        /* the first error is the one to report; the marker lets a rerun remove the rest */
      },
    );
    throw err;
  }
  if (opts.onRecoveryKey) return { record: await showRecoveryKeyOnce(record, recoveryKey, opts.onRecoveryKey), recoveryKey: null, moved: null, resumed: false };
  return { record, recoveryKey, moved: null, resumed: false };
}

async function setupHome(opts: SetupOptions, user: UserAccount, layout: Layout): Promise<SetupResult> {
  const home = layout.mountPoint;
  if (!existsSync(home)) throw new RefusedError(`${user.name}'s home ${home} does not exist`);
  if (isFuseMountedAt(home)) throw new RefusedError(`${home} is already a mount point`);
  let leftover = existsSync(layout.base!) ? judgeLeftover(user, layout.base!) : null;
  if (leftover?.kind === 'unknown' && removeIfEmpty(layout.base!)) {
    opts.say?.(removedEmptyNote(layout.base!));
    leftover = null;
  }
  if (leftover?.kind === 'ecryptfs-migration') {
    throw new RefusedError(`${layout.base} holds an unfinished eCryptfs migration of ${user.name}`, {
      hint: `run homecrypt ecryptfs migrate --user ${user.name} again to finish it`,
    });
  }
  if (leftover?.kind === 'unknown') {
    throw new RefusedError(`${layout.base} already exists and no record names it: ${leftover.why}`, {
      hint: 'look inside: it may hold encrypted data (of an account forgotten with setup --forget: it opens with that recovery key); move it away, then run setup again',
    });
  }
  await refuseWhileRunning(user, 'moving the home');
  if (leftover) {
    opts.say?.(`removing ${layout.base}, left by a setup of ${user.name} that was stopped before the home was touched (its recovery key was never shown)`);
    await removeHomeBase(userWorker(user), layout);
    removeSetupMarker(user.name);
  }
  // what will be moved, checked as the user who will move it
  const surveyed = await survey(user, home);
  if (surveyed.problems.length > 0) {
    throw new RefusedError(`cannot move ${home}: ${surveyed.problems.slice(0, 5).join('; ')}${surveyed.problems.length > 5 ? '; …' : ''}`);
  }
  const root = dirname(layout.base!);
  makeDirInTrusted(dirname(root), basename(root), ROOT, 0o711);
  if (lstatSync(root).dev !== lstatSync(home).dev) {
    throw new RefusedError(`${root} is not on the same filesystem as ${home}; the migration renames the home aside`);
  }
  checkFreeSpace(spaceNeeded(surveyed), availableBytes(root), root);

  writeSetupMarker(user, layout.base!, false);
  makeHomeBase(user, layout);
  writeSetupMarker(user, layout.base!, true);
  let made: Awaited<ReturnType<typeof createKeysAndLower>>;
  try {
    made = await createKeysAndLower(opts, user, layout);
    throwIfInterrupted();
  } catch (err) {
    // nothing half-done: the home is untouched so far; take back the rest
    await removeHomeBase(userWorker(user), layout).then(
      () => removeSetupMarker(user.name),
      () => {
        /* the first error is the one to report; the marker lets a rerun remove the rest */
      },
    );
    throw err;
  }
  const { keyId, recoveryKey, mountKey } = made;
  let record: UserRecord = { ...newUserRecord(user, layout, keyId, 'migrating'), ...(opts.onRecoveryKey ? { recoveryKeyPending: true } : {}) };
  saveUserRecord(record);
  removeSetupMarker(user.name);
  // the key is shown before anything moves: from here on an interruption resumes
  if (opts.onRecoveryKey) record = await showRecoveryKeyOnce(record, recoveryKey, opts.onRecoveryKey);
  moveHomeAside(user, layout);
  try {
    await putKeyInUserKeyring(user, keyId, mountKey);
  } finally {
    mountKey.fill(0);
  }
  const moved = await migrate(opts, user, layout, surveyed);
  const done = { ...record, state: 'ready' as const };
  saveUserRecord(done);
  return { record: done, recoveryKey: opts.onRecoveryKey ? null : recoveryKey, moved, resumed: false };
}

async function resumeHome(opts: SetupOptions, user: UserAccount, layout: Layout, rec: UserRecord): Promise<SetupResult> {
  // an interrupted setup leaves its mount daemon behind: stop it first, so
  // only the user's own processes count against resuming
  if (isFuseMountedAt(layout.mountPoint)) {
    await unmountAsUser(user, layout.mountPoint);
  }
  await refuseWhileRunning(user, 'moving the home');
  opts.say?.(`resuming the interrupted migration of ${user.name}'s home`);
  removeSetupMarker(user.name); // left when the run that wrote the record stopped right after it
  const { keyId, mountKey } = await unwrapForUser(rec.keyStore, user, opts.passphrase);
  let reissued: string | null = null;
  if (rec.recoveryKeyPending) {
    rec = await reissueRecoveryKey(rec, user, opts.passphrase, (k, r) => {
      reissued = k;
      return opts.onRecoveryKey?.(k, r);
    });
  }
  // none of the steps below mounts anything
  const mounted = isFuseMountedAt(layout.mountPoint);
  // a crash between moving the home aside and handing over the new one left no home, or root's empty one
  if (existsSync(layout.aside!) && !mounted) remakeHomeAfterCrash(user, layout);
  // interrupted between showing the key and moving the home aside
  if (!existsSync(layout.aside!) && !mounted && !isEmptyDir(layout.mountPoint)) moveHomeAside(user, layout);
  else if (!mounted && !isEmptyDir(layout.mountPoint)) await moveStrayFilesAside(opts, user, layout);
  try {
    await putKeyInUserKeyring(user, keyId, mountKey);
  } finally {
    mountKey.fill(0);
  }
  const surveyed = existsSync(layout.aside!) ? await survey(user, layout.aside!) : { files: 0, bytes: 0, largest: 0, problems: [] };
  const moved = await migrate(opts, user, layout, surveyed);
  const done = { ...rec, state: 'ready' as const };
  saveUserRecord(done);
  return { record: done, recoveryKey: opts.onRecoveryKey ? null : reissued, moved, resumed: true };
}

/** The new empty home moveHomeAside makes, made (or handed over) again, by descriptor, with the mode of the home moved aside. */
function remakeHomeAfterCrash(user: UserAccount, layout: Layout): void {
  const home = layout.mountPoint;
  withFd(openTrustedDir(dirname(home)), (hp) => {
    try {
      if (withFd(openDirAt(hp, basename(home), home), (h) => fstatFd(h).uid) !== 0) return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const root = dirname(layout.base!);
    let homeMode: number;
    try {
      homeMode = withFd(openDirsAt(openTrustedDir(root), [basename(layout.base!), basename(layout.aside!)], root), (a) => fstatFd(a).mode & 0o7777);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTDIR' && code !== 'ELOOP') throw err;
      // in the user's own folder: something else was put where the home was moved aside
      throw new RefusedError(`${layout.aside} is not the folder the home was moved aside to (a link or a file is in its place)`, {
        hint: `put the moved home back at ${layout.aside} and run homecrypt setup again`,
      });
    }
    closeSync(makeOwnedDirAt(hp, basename(home), user, homeMode, home));
  });
}

/**
 * A login while the migration was stopped gets the empty mount point as its
 * home and may write there; the volume cannot be mounted over those files.
 * They go (as the user) into a dated folder of the plain copy, so the
 * migration carries them into the encrypted home, where the user finds them.
 */
async function moveStrayFilesAside(opts: SetupOptions, user: UserAccount, layout: Layout): Promise<void> {
  const name = `written-during-interrupted-setup-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const folder = `${layout.aside!}/${name}`;
  opts.say?.(`${layout.mountPoint} was written to while the migration was stopped; those files go into ${layout.mountPoint}/${name}`);
  const before: WorkerStep[] = [
    ...(existsSync(layout.aside!) ? [] : [{ req: { op: 'mkdir' as const, path: layout.aside!, mode: 0o700 } }]),
    { req: { op: 'mkdir', path: folder, mode: 0o700 } },
  ];
  await moveAsUser(user, layout.mountPoint, folder, false, undefined, before);
}

/**
 * home mode: the home (in root's /home) renamed into the user's folder in
 * /home/.homecrypt as `plain`, and a new empty home made in its place with its
 * mode, all by directory descriptor.
 */
function moveHomeAside(user: UserAccount, layout: Layout): void {
  throwIfInterrupted();
  const home = layout.mountPoint;
  const root = dirname(layout.base!);
  withFd(openTrustedDir(dirname(home)), (hp) =>
    withFd(openTrustedDir(root), (rfd) =>
      withFd(openDirAt(rfd, basename(layout.base!), layout.base), (bfd) => {
        const homeMode = withFd(openDirAt(hp, basename(home), home), (h) => fstatFd(h).mode & 0o7777);
        renameAt(hp, basename(home), bfd, basename(layout.aside!), `${home} → ${layout.aside}`);
        closeSync(makeOwnedDirAt(hp, basename(home), user, homeMode, home));
      }),
    ),
  );
}

async function migrate(opts: SetupOptions, user: UserAccount, layout: Layout, surveyed: TreeSummary): Promise<MoveProgress> {
  if (!isFuseMountedAt(layout.mountPoint)) await mountAsUser(user, layout.lower, layout.mountPoint, layout.keyStore);
  let moved: MoveProgress = { files: 0, bytes: 0 };
  try {
    if (existsSync(layout.aside!)) {
      throwIfInterrupted();
      moved = await moveAsUser(user, layout.aside!, layout.mountPoint, true, (p) => opts.onProgress?.(p, surveyed));
    }
  } finally {
    await unmountAsUser(user, layout.mountPoint);
    await dropKeyFromUserKeyring(user, (loadUserRecord(user.name) ?? { keyId: '' }).keyId);
  }
  return moved;
}

export interface UndoOptions {
  user: string;
  passphrase: Buffer | null;
  say?: (line: string) => void;
  onProgress?: (p: MoveProgress) => void;
}

export interface UndoResult {
  record: UserRecord;
  /** what undo found and left in place (an eCryptfs migration's copy): the user's, never removed by undo */
  kept: string[];
  /** what stays, why, and what to do with it, for people */
  notes: string[];
}

/** Puts the plaintext back where the mount point was and removes homecrypt from the user. */
export async function undoSetup(opts: UndoOptions): Promise<UndoResult> {
  requireRoot('homecrypt setup --undo');
  const user = lookupUser(opts.user);
  return withUserLock(user.name, async () => {
    const found = loadUserRecord(user.name);
    if (!found) throw new UsageError(`${user.name} does not use homecrypt`);
    if (found.state === 'migrating') throw new RefusedError(`${user.name}'s setup is unfinished; run setup --${found.mode} to finish it before undoing it`);
    // an interrupted undo leaves its mount daemon behind (no login mounts a home being undone):
    // stopped first, so only the user's own processes count against resuming, as resumeHome does
    if (found.state === 'undoing' && isFuseMountedAt(found.mountPoint)) await unmountAsUser(user, found.mountPoint);
    if (found.mode === 'home' || readSessionCount(user.name) > 0) await refuseWhileRunning(user, 'undoing the encryption');
    const layout = layoutFor(user, found.mode);
    // an interrupted undo that already put the plaintext back has only the clean-up left:
    // the unmounted mount point is empty until the plaintext is put back in its place, and
    // the key store goes only after it (an empty plaintext leaves no other sign)
    const putBack =
      found.state === 'undoing' &&
      !isFuseMountedAt(found.mountPoint) &&
      !existsSync(layout.restore) &&
      (!isEmptyDir(found.mountPoint) || !existsSync(found.keyStore));
    // the secret is checked before anything changes
    if (!putBack) await unlockForUndo(opts, user, found);
    if (found.state === 'undoing') opts.say?.(`resuming the interrupted undo of ${user.name}`);
    // from here on logins leave the half-moved directory alone, and a rerun knows where it is
    const rec: UserRecord = { ...found, state: 'undoing' };
    saveUserRecord(rec);
    const w = userWorker(user);
    if (!putBack) {
      throwIfInterrupted();
      if (!isFuseMountedAt(rec.mountPoint)) await mountAsUser(user, rec.lower, rec.mountPoint, rec.keyStore);
      try {
        throwIfInterrupted();
        await moveAsUser(user, rec.mountPoint, layout.restore, false, opts.onProgress, [{ req: { op: 'mkdir', path: layout.restore, mode: 0o700 } }]);
      } finally {
        await unmountAsUser(user, rec.mountPoint);
        await dropKeyFromUserKeyring(user, rec.keyId);
      }
      throwIfInterrupted();
    }
    let left: MigrationLeft;
    if (rec.mode === 'home') {
      // the journal naming an eCryptfs copy the migration kept goes with the base: read it first
      left = homeMigrationLeftByUndo(user, rec.mountPoint);
      if (!putBack) restoreHome(user, layout);
      await w.run({ op: 'remove', path: rec.keyStore }); // first, as below (putBack)
      await removeHomeBase(w, layout);
    } else {
      // an eCryptfs migration's journal goes with the key store; its copy of the data stays
      left = migrationLeftByUndo(user, rec.mountPoint);
      await w.runAll([
        ...(putBack ? [] : [{ req: { op: 'replaceDir' as const, from: layout.restore, to: rec.mountPoint, mode: 0o700 } }]),
        // the key store before the lower directory: its absence then says the plaintext is back (putBack)
        { req: { op: 'remove' as const, path: rec.keyStore } },
        { req: { op: 'remove' as const, path: rec.lower } },
        ...left.steps,
        { req: { op: 'rmdirIfEmpty' as const, path: layout.keyDir } },
      ]);
    }
    removeUserRecord(user.name);
    return { record: rec, kept: left.kept, notes: left.notes };
  });
}

/** The mount key into the user's keyring (from the passphrase or recovery key unless it is there already). */
async function unlockForUndo(opts: UndoOptions, user: UserAccount, rec: UserRecord): Promise<void> {
  let key = await keyFromUserKeyring(user, rec.keyId);
  if (!key) {
    if (!opts.passphrase) throw new UsageError(`${user.name}'s key is not unlocked: give the login passphrase or the recovery key`);
    const r = await unwrapForUser(rec.keyStore, user, opts.passphrase);
    key = r.mountKey;
    await putKeyInUserKeyring(user, rec.keyId, key);
  }
  key.fill(0);
}

/**
 * home mode, undo: the restored plain folder (in the user's folder under
 * /home/.homecrypt) put back as the home in /home, by descriptor, keeping the
 * home's mode. The user can rename things in their folder meanwhile: what
 * lands in /home is checked to be the directory that was vetted.
 */
function restoreHome(user: UserAccount, layout: Layout): void {
  const home = layout.mountPoint;
  const name = basename(home);
  const root = dirname(layout.base!);
  withFd(openTrustedDir(dirname(home)), (hp) =>
    withFd(openTrustedDir(root), (rfd) =>
      withFd(openDirAt(rfd, basename(layout.base!), layout.base), (bfd) => {
        const mode = withFd(openDirAt(hp, name, home), (h) => fstatFd(h).mode & 0o7777);
        const vetted = withFd(openDirAt(bfd, basename(layout.restore), layout.restore), (r) => fstatFd(r));
        if (vetted.uid !== user.uid) throw new RefusedError(`${layout.restore} does not belong to ${user.name}; not putting it in place of ${home}`);
        rmdirAt(hp, name, home);
        renameAt(bfd, basename(layout.restore), hp, name, `${layout.restore} → ${home}`);
        const replaced = new RefusedError(
          `${layout.restore} was replaced (by a process of ${user.name}) while it was put back as ${home}; nothing was changed through it. ` +
            `The restored files are in ${layout.base} (a renamed folder); check ${home} and run setup --undo again`,
        );
        let h: number;
        try {
          h = openDirAt(hp, name, home);
        } catch {
          throw replaced;
        }
        withFd(h, () => {
          const st = fstatFd(h);
          if (st.ino !== vetted.ino || st.dev !== vetted.dev) throw replaced;
          fchmodFd(h, mode);
        });
      }),
    ),
  );
}

/** Turns mounting at login on or off for a set-up user. */
export async function setAutoMount(name: string, on: boolean): Promise<UserRecord> {
  requireRoot('homecrypt setup --auto-mount');
  const user = lookupUser(name);
  return withUserLock(user.name, async () => {
    const rec = loadUserRecord(user.name);
    if (!rec) throw new UsageError(`${user.name} does not use homecrypt`);
    const next = { ...rec, autoMount: on };
    saveUserRecord(next);
    return next;
  });
}
