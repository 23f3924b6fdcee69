// What every installer step is handed: the target, its log and the answers.
import type { Answers } from './answers.js';
import type { InTarget } from './in-target.js';
import type { InstallLog } from './install-log.js';

export interface StepContext {
  target: InTarget;
  log: InstallLog;
  answers: Answers;
  /** The first user's passphrase (also their login password); null when not needed. */
  passphrase: Buffer | null;
  /** Where this homecrypt's files are (the checkout, or /usr/lib/homecrypt). */
  sourceRoot: string;
  /** Progress for the operator (stderr). */
  say: (line: string) => void;
}

/** Runs a command inside the target, logs it, and returns its result. */
/** The passphrase as one line for a --passphrase-fd (a copy: the caller wipes it). */
export function secretLine(passphrase: Buffer | null): Buffer {
  return Buffer.concat([passphrase ?? Buffer.alloc(0), Buffer.from('\n')]);
}

export async function runLogged(
  ctx: StepContext,
  step: string,
  argv: string[],
  opts: Parameters<InTarget['run']>[1] = {},
): Promise<Awaited<ReturnType<InTarget['run']>>> {
  const r = await ctx.target.run(argv, opts);
  ctx.log.command(step, argv, r.code, r.stderr);
  return r;
}

/**
 * The line of a failed command's stderr that says why: the last error line
 * (homecrypt's, commander's, apt's), else the last line.
 */
export function reason(stderr: string, code: number): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const errors = lines.filter((l) => /^(homecrypt: |error: |E: |chroot: |dpkg: error)/.test(l));
  return (errors.pop() ?? lines.pop() ?? `exit ${code}`).slice(0, 500);
}
