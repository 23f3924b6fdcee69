// A per-user advisory lock (flock) that serialises the login hooks of one user:
// two sessions opening or closing at the same instant must not both see "first"
// or both see "last". flock is released by the kernel if the holder dies, so a
// crashed hook never leaves a stale lock. A waiter gives up after a bounded
// time (the holder may be stuck), so no login waits on another without end.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { withFileLock } from './flock.js';

export const LOCK_DIR = '/run/homecrypt/locks';
/** How long a hook waits for another hook of the same user (docs/LOGIN.md). */
export const LOCK_WAIT_MS = 30_000;

/** Runs fn while holding the exclusive lock of `name` (a validated user name); throws if it stays busy for waitMs. */
export async function withUserLock<T>(name: string, fn: () => Promise<T>, dir = LOCK_DIR, waitMs = LOCK_WAIT_MS): Promise<T> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return withFileLock(
    join(dir, `${name}.lock`),
    waitMs,
    () => new Error(`another homecrypt hook of ${name} has held ${name}.lock for over ${waitMs / 1000} s; going on without it`),
    fn,
  );
}
