// Serialises read-modify-write changes of one key store between processes (a
// PAM password change and a `key slots add` at the same moment must not lose
// one of the two). flock(2) on the key store itself: each change replaces the
// file by rename, so after getting the lock a waiter checks that the path still
// names the inode it locked, and retries on the new one if not. The kernel drops
// the lock when the holder dies. Readers need no lock: rename is atomic.
import koffi from 'koffi';
import { closeSync, constants, fstatSync, openSync, statSync } from 'node:fs';
import { RefusedError } from '../errors.js';

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EWOULDBLOCK = 11;

let flockFn: ((fd: number, op: number) => number) | null = null;
function flock(fd: number, op: number): number {
  if (!flockFn) flockFn = koffi.load('libc.so.6').func('int flock(int fd, int operation)') as (fd: number, op: number) => number;
  return flockFn(fd, op);
}

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
        if (flock(fd, LOCK_EX | LOCK_NB) === 0) { locked = true; break; }
        if (koffi.errno() !== EWOULDBLOCK) break; // no flock here (e.g. some network filesystems): go on unlocked
        if (Date.now() > deadline) throw new RefusedError(`${path}: another process is changing this key store; try again`);
        await sleep(25);
      }
      let current;
      try { current = statSync(path); } catch { current = null; }
      const mine = fstatSync(fd);
      if (!locked || (current && current.ino === mine.ino && current.dev === mine.dev)) return await fn();
    } finally {
      if (locked) flock(fd, LOCK_UN);
      closeSync(fd);
    }
    // the file was replaced while we waited: lock the new one
  }
}
