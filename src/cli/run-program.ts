// Running a commander program and reporting its errors: shared by the full CLI
// (main.ts) and the lean entries that register one command group only.
import { Command, CommanderError } from 'commander';
import { ExitCode, errnoOf, exitCodeFor } from './exit-codes.js';
import { HomecryptError, InterruptedError } from '../errors.js';
import { wasInterrupted } from '../os/interrupt.js';

/** The program's root, as every entry sets it up (no command groups yet). */
export function rootProgram(): Command {
  return new Command('homecrypt')
    .description('Encrypted home directories that unlock when you log in')
    // a usage error is one line, with where to look, not the whole help
    .configureOutput({ outputError: (text, write) => write(usageLine(text)) })
    .exitOverride();
}

function usageLine(text: string): string {
  const first = text.trim().split('\n')[0]!.replace(/^error: /, '');
  return `homecrypt: ${first} (see homecrypt help COMMAND)\n`;
}

export async function runProgram(program: Command, argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

/** "EACCES: permission denied, open '/root/x'" → "/root/x: permission denied". */
export function osErrorMessage(err: NodeJS.ErrnoException): string {
  const text = err.message.replace(/^E[A-Z0-9]+: /, '').replace(/, [a-z_]+( '.*')?$/, '');
  return err.path ? `${err.path}: ${text}` : text;
}

/** Prints a clear one-line reason (never a stack trace for expected errors). */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed help/version or the usage error
    return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  // a worker killed by the same Ctrl-C fails on its own: report the interruption
  if (wasInterrupted() && !(err instanceof InterruptedError)) err = new InterruptedError();
  const code = exitCodeFor(err);
  if (err instanceof HomecryptError) {
    process.stderr.write(`homecrypt: ${err.message}\n`);
    if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
  } else if (errnoOf(err)) {
    process.stderr.write(`homecrypt: ${osErrorMessage(err as NodeJS.ErrnoException)}\n`);
  } else {
    const e = err as Error;
    process.stderr.write(`homecrypt: internal error: ${e?.message ?? String(err)}\n`);
  }
  if (process.env.HOMECRYPT_DEBUG && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`);
  return code;
}
