// Whether a process of a test has ended, as homecrypt itself judges it
// (src/os/processes.ts, `exited`): gone, or a zombie whose threads are all
// gone, which holds no file, mount or lock. A mount daemon is reparented to
// init, which reaps when it gets to it (1-2 s late on this machine, never in
// some containers), so a test must not wait for the pid to disappear.
import { readFileSync } from 'node:fs';
import { exited } from '../../src/os/processes.js';
import { until } from './wait.js';

export function hasExited(pid: number): boolean {
  try {
    return exited(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

/** Waits until `pid` has ended (hasExited); fails naming `what` after `ms`. */
export function waitForExit(pid: number, what: string, ms = 15_000): Promise<void> {
  return until(`${what} (pid ${pid}) to exit`, () => hasExited(pid), ms);
}
