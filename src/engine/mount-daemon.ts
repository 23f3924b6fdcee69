// Running a mount: in the foreground (the process serves FUSE until unmounted)
// or as a daemon that `homecrypt mount` starts and waits for. The mount keys
// reach the daemon through a pipe (fd 3), never argv or the environment; the
// daemon reports "ready" or its error through another pipe (fd 4), so
// `homecrypt mount` returns only once the mount is usable, or fails clearly.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { PermissionDeniedError, RefusedError, UsageError } from '../errors.js';
import { userNameOf } from '../os/users.js';
import { fuseMountOwner, fuseMounts, isDeadConnection, isFuseMountedAt, mountAt, type MountEntry } from '../os/mounts.js';
import { allowOtherRefusal, fusermountUnmount } from '../fuse/index.js';
import { DEFAULT_CACHE_TIMEOUT, FSNAME_PREFIX, mountVolume, openVolume } from './volume.js';
import { makeUndumpable } from '../os/no-dump.js';
import { rateLimitedLog } from './log-limit.js';
import { lowerServedError, lowerServer, takeLowerLock, type LowerLock } from './lower-lock.js';
import { REPORT_MAX_BYTES, readReport, reportOf, reportedError, type DaemonReport } from './daemon-report.js';

export interface MountRunOptions {
  allowOther?: boolean;
  /** Seconds the kernel may cache names and attributes (volume.ts, DEFAULT_CACHE_TIMEOUT). */
  cacheTimeout?: number;
}

/** Default log file of a daemon serving `mountPoint` (outside the mount, owned by the caller). */
export function defaultLogFile(mountPoint: string): string {
  const uid = process.getuid?.() ?? 0;
  let dir = `/run/user/${uid}`;
  if (!existsSync(dir)) {
    dir = `/tmp/homecrypt-${uid}`;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
      throw new RefusedError(`${dir} is not a private directory of yours; give --log-file`);
    }
  }
  const h = createHash('sha256').update(resolve(mountPoint)).digest('hex').slice(0, 12);
  return `${dir}/homecrypt-mount-${h}.log`;
}

/**
 * Refuses a LOWER that a live mount already serves: two daemons on one lower
 * directory each keep their own sizes, keys and write records, so a file
 * written through both can lose writes or end as EIO. First the mount table
 * (the `homecrypt:LOWER` source every mount names, compared by device and
 * inode), which names the mount point; then the lock every daemon holds on its
 * lower directory (lower-lock.ts), which also finds a mount lazily detached at
 * a logout, out of the table but still serving a process left inside. Said
 * here, before any passphrase; the daemon takes the lock itself
 * (serveMount), so one started meanwhile is still refused.
 */
export async function refuseIfLowerServed(lower: string): Promise<void> {
  const m = listedMountOf(lower);
  if (m) {
    throw new RefusedError(`${lower} is already mounted at ${m.mountPoint}`, {
      hint: `use that mount, or unmount it first (homecrypt umount ${m.mountPoint}); two mounts of one lower directory would each overwrite the other's writes`,
    });
  }
  const served = await lowerServer(lower);
  if (served) throw lowerServedError(lower, served.pid);
}

/** The listed homecrypt mount (this caller's or root's) that serves `lower`, or null (none, or `lower` cannot be statted). */
export function listedMountOf(lower: string): MountEntry | null {
  let own: Stats;
  try {
    own = statSync(lower);
  } catch {
    return null;
  }
  return mountServing(fuseMounts(), own, process.getuid?.() ?? 0, (p) => {
    try {
      return statSync(p);
    } catch {
      return null; // a lower directory we cannot stat (another user's, gone) is not this one
    }
  });
}

/**
 * The homecrypt mount in `mounts` whose lower directory is `lower`, among
 * those made by `uid` or root only: anyone can name a FUSE mount of their own
 * `homecrypt:/home/.homecrypt/alice/lower`, and must not keep alice's login
 * from mounting by it (fusermount3 sets user_id to the mounter's uid).
 */
export function mountServing(
  mounts: MountEntry[],
  lower: { dev: number; ino: number },
  uid: number,
  stat: (path: string) => { dev: number; ino: number } | null,
): MountEntry | null {
  for (const m of mounts) {
    if (m.fsType !== 'fuse.homecrypt' || !m.source.startsWith(FSNAME_PREFIX)) continue;
    const owner = fuseMountOwner(m);
    if (owner !== uid && owner !== 0) continue;
    const st = stat(m.source.slice(FSNAME_PREFIX.length));
    if (st && st.dev === lower.dev && st.ino === lower.ino) return m;
  }
  return null;
}

/**
 * Checks a mount point before mounting: a directory, empty, not mounted, and
 * what fusermount3 would refuse an ordinary user (checkMountPointAccess, and
 * --allow-other against /etc/fuse.conf), so that it is said before any
 * passphrase is asked for. A stale homecrypt mount (its daemon died) is
 * unmounted first.
 */
export async function prepareMountPoint(
  mountPoint: string,
  opts: {
    /** entries the mount may cover (an adopted eCryptfs home's own symlinks); anything else refuses */
    mayHold?: (name: string) => boolean;
    /** other users are to be let in: fusermount3 allows it an ordinary user only by /etc/fuse.conf */
    allowOther?: boolean;
  } = {},
): Promise<string | null> {
  const mnt = resolve(mountPoint);
  let note: string | null = null;
  const m = mountAt(mnt);
  if (m && m.fsType.startsWith('fuse')) {
    let stale = false;
    try {
      statSync(mnt);
    } catch (err) {
      stale = isDeadConnection(err);
    }
    if (!stale) throw new RefusedError(`${mnt} is already mounted (${m.source})`);
    await fusermountUnmount(mnt, true);
    note = `cleaned up a stale mount at ${mnt} (its daemon had died)`;
  } else if (m) {
    throw new RefusedError(`${mnt} is already a mount point (${m.fsType} ${m.source})`);
  }
  let st;
  try {
    st = statSync(mnt);
  } catch {
    throw new UsageError(`mount point ${mnt} does not exist`);
  }
  if (!st.isDirectory()) throw new UsageError(`mount point ${mnt} is not a directory`);
  checkMountPointAccess(mnt, st);
  const allowOtherRefused = opts.allowOther ? allowOtherRefusal(mnt) : null;
  if (allowOtherRefused) throw allowOtherRefused;
  const held = readdirSync(mnt).filter((n) => !opts.mayHold?.(n));
  if (held.length > 0) {
    if (opts.mayHold)
      throw new RefusedError(
        `mount point ${mnt} holds ${held.slice(0, 5).join(', ')}${held.length > 5 ? ', …' : ''}, which the mount would hide; move them away first`,
      );
    throw new RefusedError(`mount point ${mnt} is not empty`);
  }
  return note;
}

/**
 * What fusermount3 demands of an ordinary user's mount point (write access; a
 * sticky directory of one's own), checked here so that a refusal comes before
 * any passphrase is asked for, as a permission error.
 */
function checkMountPointAccess(mnt: string, st: Stats): void {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return;
  const notYours = () =>
    new PermissionDeniedError(`you cannot mount on ${mnt}: it belongs to ${userNameOf(st.uid)}`, { hint: 'mount on an empty directory of your own' });
  if ((st.mode & 0o1000) !== 0 && st.uid !== uid) throw notYours();
  try {
    accessSync(mnt, constants.W_OK);
  } catch {
    if (st.uid !== uid) throw notYours();
    throw new PermissionDeniedError(`you have no write access to the mount point ${mnt}`, { hint: `chmod u+w ${mnt}` });
  }
}

/**
 * Serves the volume at `mountPoint` in this process until it is unmounted
 * (by `homecrypt umount`, fusermount -u, or SIGTERM/SIGINT), then shuts down
 * in order (serveToTheEnd) and resolves with nothing left to keep the process.
 * `onReady` runs once the kernel has the mount.
 */
export async function serveMount(lower: string, mountPoint: string, keys: Buffer[], opts: MountRunOptions, onReady: () => void): Promise<void> {
  makeUndumpable();
  const vol = openVolume(lower, keys);
  for (const k of keys) k.fill(0);
  const mnt = resolve(mountPoint);
  // before the mount: a daemon refused here has mounted nothing
  const lock = await takeLowerLock(vol.lowerRoot, daemonLog);
  let mounted;
  try {
    mounted = await mountVolume(vol, mnt, { allowOther: opts.allowOther, cacheTimeout: opts.cacheTimeout, log: daemonLog });
  } catch (err) {
    lock.release();
    throw err;
  }
  // the format first: tests (and people) find the daemon's pid at the line's end
  daemonLog(`homecrypt: ${formatNote(vol.formatVersion)}`);
  daemonLog(
    `homecrypt: cache timeout ${opts.cacheTimeout ?? DEFAULT_CACHE_TIMEOUT} s (names and attributes; a change made in the lower directory while mounted can stay unseen that long)`,
  );
  daemonLog(`homecrypt: mounted ${vol.lowerRoot} at ${mnt} (pid ${process.pid})`);
  onReady();
  await serveToTheEnd(mnt, mounted, lock, daemonLog);
}

/** What a mount says about the volume format it opened (log and `homecrypt mount`). */
export function formatNote(version: number): string {
  return version >= 2
    ? `volume format ${version}`
    : `volume format ${version}, opened read-write as before (names are not bound to their directories, and a crash ` +
        'during a write can leave a block unreadable (EIO); new volumes are format 2)';
}

/** A daemon's log line: to stderr, which the parent pointed at the log file (bounded: src/engine/log-limit.ts). */
export const daemonLog = rateLimitedLog((line: string): void => void process.stderr.write(`${new Date().toISOString()} ${line}\n`));

/** A mount as a daemon serves it (homecrypt volumes, eCryptfs directories). */
export interface ServedMount {
  unmount(opts?: { lazy?: boolean }): Promise<void>;
  /** The connection is over (FuseMount.ended; absent with fuse-native, whose end only the mount table shows). */
  ended?: Promise<void>;
  /** The engine's end: queued writes, pending flushes, every lower descriptor (EncryptedFilesystem.close). */
  close(): Promise<void>;
}

/**
 * Serves `mounted` to its end, then shuts down in order: the engine closes
 * (the write queued after the last reply, the fsyncs and closes still on the
 * pool, every lower descriptor), then the lower directory's lock goes, and a
 * last line says the daemon is exiting, with nothing left to keep this
 * process (its caller returns and Node exits). A mount detached lazily (a
 * logout with a process still inside) keeps serving that process until it
 * lets go, and holds the lock meanwhile. Shared by every kind of mount a
 * daemon serves. True once serving has ended; false when a detached mount
 * still serves and this bridge cannot tell when it ends (fuse-native): the
 * caller must then keep what serving needs (keys) to the process's end.
 */
export async function serveToTheEnd(mnt: string, mounted: ServedMount, lock: LowerLock, log: (line: string) => void): Promise<boolean> {
  if (!(await serveUntilUnmounted(mnt, mounted, log))) {
    // without the connection's end to wait for, the kernel drops the lock when this process exits
    if (!mounted.ended) return false;
    await mounted.ended;
    log(`homecrypt: the connection of the detached mount ${mnt} has ended`);
  }
  await mounted.close();
  lock.release();
  log(`homecrypt: every lower file is written and closed; exiting (pid ${process.pid})`);
  return true;
}

/**
 * Resolves once `mounted` is gone: unmounted on SIGTERM/SIGINT/SIGHUP (lazily
 * when busy), or unmounted from outside, which the connection's end tells at
 * once (`ended`) and a poll of the mount table otherwise. True when serving
 * has ended with it; false when the mount was only detached (lazily, here or
 * by a logout) and the connection still serves the processes left inside it
 * until the last one lets go.
 */
export function serveUntilUnmounted(mnt: string, mounted: Pick<ServedMount, 'unmount' | 'ended'>, log: (line: string) => void): Promise<boolean> {
  return new Promise<boolean>((done) => {
    let stopping = false;
    /** The mount was seen gone from outside (by its connection's end or by the poll). */
    let gone = false;
    const stop = async (why: string) => {
      if (stopping) return;
      stopping = true;
      log(`homecrypt: ${why}: unmounting ${mnt}`);
      let ended = true;
      try {
        await mounted.unmount();
      } catch {
        ended = false;
        try {
          await mounted.unmount({ lazy: true });
        } catch (err) {
          log(`homecrypt: ${(err as Error).message}`);
        }
      }
      clearInterval(timer);
      done(ended);
    };
    // someone else unmounted us (homecrypt umount, fusermount -u): the kernel
    // ends the connection, which the kernel bridge sees at once (read says
    // ENODEV); a poll of the mount table also notices a mount detached lazily
    // from outside (umount -l), whose connection lives on
    void mounted.ended?.then(() => {
      if (stopping || gone) return;
      gone = true;
      clearInterval(timer);
      log(
        isFuseMountedAt(mnt)
          ? `homecrypt: the FUSE connection of ${mnt} was aborted; its stale mount is left for homecrypt umount (or the next mount) to clean`
          : `homecrypt: ${mnt} was unmounted (its FUSE connection ended)`,
      );
      done(true);
    });
    const timer = setInterval(() => {
      if (!gone && !isFuseMountedAt(mnt)) {
        gone = true;
        clearInterval(timer);
        log(`homecrypt: ${mnt} was unmounted`);
        // a mount detached from outside (umount -l) fails to unmount here while its connection lives
        mounted.unmount().then(
          () => done(true),
          () => done(false),
        );
      }
    }, 300);
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void stop(sig));
  });
}

/** The daemon side: keys from fd 3, readiness to fd 4. */
export async function runDaemonChild(lower: string, mountPoint: string, keyFd: number, readyFd: number, opts: MountRunOptions): Promise<void> {
  await runDaemonSide(keyFd, readyFd, async (raw, onReady) => {
    const keys: Buffer[] = [];
    for (let i = 0; i + 32 <= raw.length; i += 32) keys.push(Buffer.from(raw.subarray(i, i + 32)));
    raw.fill(0);
    await serveMount(lower, mountPoint, keys, opts, onReady);
  });
}

/**
 * The daemon half of the start-up handshake: the secret arrives on `keyFd`
 * (never argv or the environment), "ready" or the error's report
 * (daemon-report.ts: its message, type and hint) goes back on `readyFd`.
 * `serve` owns the secret: it wipes it once it has made its keys, not when
 * serving ends hours later.
 */
export async function runDaemonSide(keyFd: number, readyFd: number, serve: (secret: Buffer, onReady: () => void) => Promise<void>): Promise<void> {
  const secret = readFileSync(keyFd);
  closeSync(keyFd);
  const say = (msg: string): boolean => {
    try {
      writeSync(readyFd, `${msg}\n`);
      closeSync(readyFd);
      return true;
    } catch {
      return false; // parent gone
    }
  };
  const ready = () => {
    // the parent is gone (killed while it waited): nobody knows of this mount, so it goes as on SIGTERM,
    // whose handler serving installs right after this call
    if (!say('ready')) process.kill(process.pid, 'SIGTERM');
  };
  try {
    await serve(secret, ready);
  } catch (err) {
    say(reportOf(err));
    throw err;
  }
}

const BIN = fileURLToPath(new URL('../../bin/homecrypt', import.meta.url));

/** A daemon started and ready; `stop` ends it and waits until its mount is gone. */
export interface StartedDaemon {
  pid: number;
  stop(): Promise<void>;
}

/** Starts a daemon for the mount and waits until it is ready or has failed. */
export async function startMountDaemon(
  lower: string,
  mountPoint: string,
  keys: Buffer[],
  opts: MountRunOptions & {
    logFile: string;
  },
): Promise<StartedDaemon> {
  const mnt = resolve(mountPoint);
  const args = ['mount', resolve(lower), mnt, '--foreground', '--key-fd', '3', '--ready-fd', '4'];
  if (opts.allowOther) args.push('--allow-other');
  if (opts.cacheTimeout !== undefined) args.push('--cache-timeout', String(opts.cacheTimeout));
  const secret = Buffer.concat(keys);
  for (const k of keys) k.fill(0);
  // never keep a directory (maybe inside some mount) busy
  const started = await startDaemon(args, secret, { logFile: opts.logFile, cwd: '/' });
  if ('error' in started) {
    // the log's last lines, less those that only repeat the error and its hint
    const tail = (() => {
      try {
        const lines = readFileSync(opts.logFile, 'utf8').trim().split('\n').slice(-3);
        return lines.filter((l) => !l.includes(started.error) && !(started.hint && l.includes(started.hint))).join('; ');
      } catch {
        return '';
      }
    })();
    const see = `see the daemon's log ${opts.logFile}${tail ? `, which ends: ${tail}` : ''}`;
    // the daemon's own type: `homecrypt mount` exits as `--foreground` would
    throw reportedError(started, `mount failed: ${started.error}`, started.hint ? `${started.hint}; ${see}` : see);
  }
  return {
    pid: started.pid,
    async stop() {
      await started.stop();
      // a daemon that could not unmount (or was killed): no mount left behind
      if (isFuseMountedAt(mnt)) await fusermountUnmount(mnt, true);
    },
  };
}

/**
 * The parent half of the handshake: runs `homecrypt args…` detached with its
 * output in `logFile`, writes `secret` to its fd 3 and waits (60 s at most)
 * for its word on fd 4. A daemon that fails is terminated and its report
 * returned for the caller to word (daemon-report.ts `reportedError`).
 */
export async function startDaemon(
  args: string[],
  secret: Buffer,
  opts: { logFile: string; cwd?: string },
): Promise<StartedDaemon | Extract<DaemonReport, { ready: false }>> {
  const log = openSync(opts.logFile, 'a', 0o600);
  const child = spawn(process.execPath, [BIN, ...args], {
    detached: true,
    cwd: opts.cwd,
    stdio: ['ignore', log, log, 'pipe', 'pipe'],
    env: { ...process.env, HOMECRYPT_DAEMON: '1' },
  });
  closeSync(log);
  const keyPipe = child.stdio[3] as NodeJS.WritableStream;
  const readyPipe = child.stdio[4] as NodeJS.ReadableStream;
  // socketpairs: a peer closing with data unread shows up as ECONNRESET
  keyPipe.on('error', () => undefined);
  keyPipe.end(secret);
  const result = await new Promise<string>((res) => {
    let text = '';
    const timer = setTimeout(() => res('error the daemon did not report within 60 s'), 60_000);
    readyPipe.setEncoding('utf8'); // a character split across two reads stays whole
    readyPipe.on('data', (d: string) => {
      // past the most a report may be is enough to tell it is too long
      if (text.length <= REPORT_MAX_BYTES) text += d;
    });
    const finish = () => {
      clearTimeout(timer);
      res(text.trim() || 'error the daemon exited before the mount was ready');
    };
    readyPipe.on('end', finish);
    readyPipe.on('error', finish);
    child.on('error', (err) => {
      clearTimeout(timer);
      res(`error ${err.message}`);
    });
  });
  const report = readReport(result);
  if (!report.ready) {
    try {
      child.kill('SIGTERM');
    } catch {
      /* gone */
    }
    return report;
  }
  child.unref();
  (readyPipe as unknown as { destroy(): void }).destroy();
  return { pid: child.pid ?? 0, stop: () => stopChild(child) };
}

/** SIGTERM (the daemon unmounts and exits), SIGKILL if it has not exited 10 s later; resolves once it has. */
function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    // a ref'd timer: the child is unref'd, and its exit alone would not keep this process waiting
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}
