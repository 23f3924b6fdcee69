// What an attacker with write access to a lower directory does to it, for
// the tests that check the engine notices.
import { renameSync } from 'node:fs';

/** Swaps the files at `a` and `b`, through `via` (a free path on the same filesystem). */
export function swapFiles(a: string, b: string, via: string): void {
  renameSync(a, via);
  renameSync(b, a);
  renameSync(via, b);
}
