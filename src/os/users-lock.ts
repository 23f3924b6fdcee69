// A per-user advisory lock (flock) that serialises the login hooks of one user:
// two sessions opening or closing at the same instant must not both see "first"
// or both see "last". flock is released by the kernel if the holder dies, so a
// crashed hook never leaves a stale lock.
import koffi from 'koffi';
import { closeSync, mkdirSync, openSync, constants } from 'node:fs';
import { join } from 'node:path';

const LOCK_EX = 2;
const LOCK_UN = 8;

let flockFn: ((fd: number, op: number) => number) | null = null;
function flock(fd: number, op: number): number {
  if (!flockFn) flockFn = koffi.load('libc.so.6').func('int flock(int fd, int operation)') as (fd: number, op: number) => number;
  return flockFn(fd, op);
}

export const LOCK_DIR = '/run/homecrypt/locks';

/** Runs fn while holding the exclusive lock of `name` (a validated user name). */
export async function withUserLock<T>(name: string, fn: () => Promise<T>, dir = LOCK_DIR): Promise<T> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fd = openSync(join(dir, `${name}.lock`), constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    // blocking in the main thread is fine: the hook does nothing else meanwhile
    if (flock(fd, LOCK_EX) !== 0) throw new Error(`cannot lock ${name}.lock`);
    try {
      return await fn();
    } finally {
      flock(fd, LOCK_UN);
    }
  } finally {
    closeSync(fd);
  }
}
