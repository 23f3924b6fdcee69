// flock(2), the advisory lock of the per-user login lock (users-lock.ts) and of
// key store changes (key-store-lock.ts). The kernel drops it when its holder
// dies, so a crashed process never leaves a stale lock.
import { closeSync, constants as fsc, openSync } from 'node:fs';
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
