// A process holding a secret (the engine's volume key, the login hook's
// passwords): make it non-dumpable (no core file, no ptrace by other users,
// /proc/PID/mem closed).
import { libcFn } from './libc.js';

const PR_SET_DUMPABLE = 4;

export function makeUndumpable(): boolean {
  try {
    const prctl = libcFn('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)');
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) === 0;
  } catch {
    return false;
  }
}
