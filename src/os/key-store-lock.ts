// Serialises read-modify-write changes of one key store between processes (a
// PAM password change and a `key slots add` at the same moment must not lose
// one of the two). flock(2) on the key store itself: each change replaces the
// file by rename, so after getting the lock a waiter checks that the path still
// names the inode it locked, and retries on the new one if not. The kernel drops
// the lock when the holder dies. Readers need no lock: rename is atomic.
import { closeSync, constants, fstatSync, openSync, statSync } from 'node:fs';
import { RefusedError } from '../errors.js';
import { ErrnoError } from './libc.js';
import { tryLockExclusive, unlock } from './flock.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function withKeyStoreLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      return fn(); // absent or unopenable: the operation itself reports why
    }
    let locked = false;
    try {
      for (;;) {
        try {
          if (tryLockExclusive(fd, path)) {
            locked = true;
            break;
          }
        } catch (err) {
          if (err instanceof ErrnoError) break; // no flock here (e.g. some network filesystems): go on unlocked
          throw err;
        }
        if (Date.now() > deadline) throw new RefusedError(`${path}: another process is changing this key store; try again`);
        await sleep(25);
      }
      let current;
      try {
        current = statSync(path);
      } catch {
        current = null;
      }
      const mine = fstatSync(fd);
      if (!locked || (current && current.ino === mine.ino && current.dev === mine.dev)) return await fn();
    } finally {
      if (locked) unlock(fd);
      closeSync(fd);
    }
    // the file was replaced while we waited: lock the new one
  }
}
