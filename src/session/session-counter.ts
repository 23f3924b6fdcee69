// How many login sessions a user has open, so the first one mounts and only
// the last one unmounts. The count lives in /run (gone at reboot, like the
// sessions) and is only touched under the user's lock (src/os/users-lock.ts).
import { mkdirSync, readFileSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

export const COUNTER_DIR = '/run/homecrypt/sessions';

export function counterDir(): string {
  return process.env.HOMECRYPT_RUN_DIR_FOR_TESTS ? join(process.env.HOMECRYPT_RUN_DIR_FOR_TESTS, 'sessions') : COUNTER_DIR;
}

export function readSessionCount(user: string, dir = counterDir()): number {
  let text: string;
  try {
    text = readFileSync(join(dir, user), 'utf8');
  } catch {
    return 0;
  }
  const n = Number(text.trim());
  // a garbled counter must not wedge logins: treat it as no session
  return Number.isInteger(n) && n >= 0 && n < 1e6 ? n : 0;
}

export function writeSessionCount(user: string, n: number, dir = counterDir()): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, user);
  if (n <= 0) {
    try {
      unlinkSync(file);
    } catch {
      /* none */
    }
    return;
  }
  writeFileSync(file, `${n}\n`, { mode: 0o600 });
}

/** Caller holds the user's lock. Returns the new count. */
export function countSessionOpened(user: string, mounted: boolean, dir = counterDir()): number {
  // sessions counted while nothing is mounted are leftovers of a crash or a
  // reboot-less restart of the hook: start again from this session
  const before = mounted ? readSessionCount(user, dir) : 0;
  const n = before + 1;
  writeSessionCount(user, n, dir);
  return n;
}

/** Caller holds the user's lock. Returns the new count (never below 0). */
export function countSessionClosed(user: string, dir = counterDir()): number {
  const n = Math.max(0, readSessionCount(user, dir) - 1);
  writeSessionCount(user, n, dir);
  return n;
}
