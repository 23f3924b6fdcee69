// Running a commander program and reporting its errors: shared by the full CLI
// (main.ts) and the lean entries that register one command group only.
import { Command, CommanderError } from 'commander';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { HomecryptError } from '../errors.js';

/** The program's root, as every entry sets it up (no command groups yet). */
export function rootProgram(): Command {
  return new Command('homecrypt')
    .description('Encrypted home directories that unlock when you log in')
    .showHelpAfterError()
    .exitOverride();
}

export async function runProgram(program: Command, argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

/** Prints a clear one-line reason (never a stack trace for expected errors). */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed help/version or the usage error
    return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  const code = exitCodeFor(err);
  if (err instanceof HomecryptError) {
    process.stderr.write(`homecrypt: ${err.message}\n`);
  } else {
    const e = err as Error;
    process.stderr.write(`homecrypt: internal error: ${e?.message ?? String(err)}\n`);
    if (process.env.HOMECRYPT_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  }
  return code;
}
