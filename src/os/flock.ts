// flock(2), the advisory lock of the per-user login lock (users-lock.ts), of
// key store changes (key-store-lock.ts) and of a lower directory a mount daemon
// serves (engine/lower-lock.ts). The kernel drops it when its holder dies, so a
// crashed process never leaves a stale lock.
import { closeSync, constants as fsc, openSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { errnoError, libcFn, type LibcFn } from './libc.js';

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EWOULDBLOCK = constants.errno.EWOULDBLOCK;

let flockFn: LibcFn | null = null;

/**
 * Takes the exclusive flock(2) of fd without waiting: true when taken, false
 * when another holder has it; throws ErrnoError when the file cannot be locked
 * at all (e.g. some network filesystems).
 */
export function tryLockExclusive(fd: number, what: string): boolean {
  flockFn ??= libcFn('int flock(int fd, int operation)');
  if (flockFn(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const err = errnoError('flock', what);
  if (err.errno === EWOULDBLOCK) return false;
  throw err;
}

/** Releases the flock of fd (the kernel also does when fd's last copy closes). */
export function unlock(fd: number): void {
  flockFn ??= libcFn('int flock(int fd, int operation)');
  flockFn(fd, LOCK_UN);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs fn while holding the exclusive flock of the file at `path` (made 0600,
 * never through a symlink), polling every 25 ms; past `waitMs` throws what
 * `busy` makes (the holder may be stuck: no waiter waits without end).
 */
export async function withFileLock<T>(path: string, waitMs: number, busy: () => Error, fn: () => Promise<T>): Promise<T> {
  const fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW, 0o600);
  try {
    const deadline = Date.now() + waitMs;
    while (!tryLockExclusive(fd, path)) {
      if (Date.now() >= deadline) throw busy();
      await sleep(25);
    }
    try {
      return await fn();
    } finally {
      unlock(fd);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The pid that /proc/locks (`text`) gives for the exclusive flock held on the
 * file of device `dev` and inode `ino`, or null when it lists none. The pid is
 * the locker's as this process's pid namespace sees it (0 or -1 outside it).
 */
export function flockHolderIn(text: string, dev: number, ino: number): number | null {
  // "1: FLOCK  ADVISORY  WRITE 4242 fe:00:260072 0 EOF"; a waiter's line reads "1: -> FLOCK …"
  const [major, minor] = majorMinor(dev);
  for (const line of text.split('\n')) {
    const m = /^\d+: FLOCK\s+ADVISORY\s+WRITE\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (m && parseInt(m[2]!, 16) === major && parseInt(m[3]!, 16) === minor && m[4] === String(ino)) return Number(m[1]);
  }
  return null;
}

/** The pid holding the exclusive flock of the file `st` names, from /proc/locks; null when it cannot be told. */
export function flockHolder(st: { dev: number; ino: number }): number | null {
  try {
    const pid = flockHolderIn(readFileSync('/proc/locks', 'latin1'), st.dev, st.ino);
    return pid !== null && pid > 0 ? pid : null;
  } catch {
    return null; // no /proc: the holder goes unnamed
  }
}

/** glibc's major()/minor() of a dev_t (12 bits of major, 20 of minor, spread over 64 bits). */
function majorMinor(dev: number): [number, number] {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n);
  const minor = (d & 0xffn) | ((d >> 12n) & 0xffffff00n);
  return [Number(major), Number(minor)];
}
