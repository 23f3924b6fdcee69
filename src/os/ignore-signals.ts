// The last moments of a command whose work is done and reported: Node puts
// back the default action of SIGINT, SIGTERM and SIGHUP (death, status 130)
// while it tears itself down, ~0.1 s, so a late Ctrl-C would report a finished
// mount as interrupted and leave it up. From here those signals are ignored.
import { constants } from 'node:os';
import { libcFn } from './libc.js';

const SIG_IGN = 1;

export function ignoreSignalsFromNow(): void {
  const signal = libcFn('intptr_t signal(int signum, intptr_t handler)');
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // no listener left: Node stops its own handler now, not at exit, and leaves SIG_IGN alone
    process.removeAllListeners(name);
    signal(constants.signals[name], SIG_IGN);
  }
}
