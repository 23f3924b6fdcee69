// A per-user advisory lock (flock) that serialises the login hooks of one user:
// two sessions opening or closing at the same instant must not both see "first"
// or both see "last". flock is released by the kernel if the holder dies, so a
// crashed hook never leaves a stale lock. A waiter gives up after a bounded
// time (the holder may be stuck), so no login waits on another without end.
import { closeSync, mkdirSync, openSync, constants } from 'node:fs';
import { join } from 'node:path';
import { tryLockExclusive, unlock } from './flock.js';

export const LOCK_DIR = '/run/homecrypt/locks';
/** How long a hook waits for another hook of the same user (docs/LOGIN.md). */
export const LOCK_WAIT_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs fn while holding the exclusive lock of `name` (a validated user name); throws if it stays busy for waitMs. */
export async function withUserLock<T>(name: string, fn: () => Promise<T>, dir = LOCK_DIR, waitMs = LOCK_WAIT_MS): Promise<T> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fd = openSync(join(dir, `${name}.lock`), constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    const deadline = Date.now() + waitMs;
    while (!tryLockExclusive(fd, `${name}.lock`)) {
      if (Date.now() >= deadline) throw new Error(`another homecrypt hook of ${name} has held ${name}.lock for over ${waitMs / 1000} s; going on without it`);
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
