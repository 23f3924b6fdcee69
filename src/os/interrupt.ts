// Ctrl-C (SIGINT), SIGTERM and SIGHUP during work that must not stop halfway
// (a migration, a wipe, an undo): the first signal is noted and the work stops
// at its next safe point, where the state on disk says how to carry on; a
// second signal stops at once. Either way the user reads the same advice:
// run the same command again to resume.
import { ExitCode, InterruptedError } from '../errors.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let signalled = 0;
let installed = false;

function onSignal(): void {
  signalled++;
  if (signalled === 1) {
    process.stderr.write('\nhomecrypt: stopping at the next safe point (press Ctrl-C again to stop at once)\n');
    return;
  }
  const stopped = new InterruptedError();
  process.stderr.write(`\nhomecrypt: ${stopped.message}\nhint: ${stopped.hint}\n`);
  process.exit(ExitCode.INTERRUPTED);
}

/** From now on a signal interrupts at the next safe point instead of killing the process. */
export function deferInterrupts(): void {
  if (installed) return;
  installed = true;
  for (const s of SIGNALS) process.on(s, onSignal);
}

export function wasInterrupted(): boolean {
  return signalled > 0;
}

/** A safe point: throws InterruptedError once a signal came. */
export function throwIfInterrupted(): void {
  if (signalled > 0) throw new InterruptedError();
}

/** Lets pending signal handlers run during long synchronous work (a wipe, a copy). */
export function yieldToSignals(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
