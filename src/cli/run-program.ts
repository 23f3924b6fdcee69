// Running a commander program and reporting its errors: shared by the full CLI
// (main.ts) and the lean entries that register one command group only.
import { Command, CommanderError } from 'commander';
import { ExitCode, errnoOf, exitCodeFor } from './exit-codes.js';
import { HomecryptError, InterruptedError } from '../errors.js';
import { wasInterrupted } from '../os/interrupt.js';
import { flagsFromArgv, jsonErrorLine, outputFlags, setOutputFlags } from './output.js';

/** The program's root, as every entry sets it up (no command groups yet). */
export function rootProgram(): Command {
  return (
    new Command('homecrypt')
      .description('Encrypted home directories that unlock when you log in')
      // a usage error is one line, with where to look, not the whole help
      .configureOutput({ outputError: (text, write) => write(usageLine(text)) })
      .exitOverride()
      // --json/--quiet/--progress-json as the command that runs parsed them (output.ts)
      .hook('preAction', (_root, action) => setOutputFlags(action.opts()))
  );
}

export async function runProgram(program: Command, argv: string[]): Promise<void> {
  setOutputFlags(flagsFromArgv(argv)); // until the command's own options are parsed
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

function usageLine(text: string): string {
  const first = text
    .trim()
    .split('\n')[0]!
    .replace(/^error: /, '');
  if (outputFlags().json) return jsonErrorLine(first, ExitCode.USAGE, 'USAGE');
  return `homecrypt: ${first} (see homecrypt help COMMAND)\n`;
}

/** The exit status's name in ExitCode ("REFUSED"), which JSON errors carry beside the number. */
function exitName(code: number): string {
  return Object.entries(ExitCode).find(([, v]) => v === code)?.[0] ?? 'FAILURE';
}

/** Prints a clear one-line reason (never a stack trace for expected errors); with --json one JSON line. */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed help/version or the usage error
    return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  // a worker killed by the same Ctrl-C fails on its own: report the interruption
  if (wasInterrupted() && !(err instanceof InterruptedError)) err = new InterruptedError();
  const code = exitCodeFor(err);
  let message: string;
  if (err instanceof HomecryptError) message = err.message;
  else if (errnoOf(err)) message = osErrorMessage(err as NodeJS.ErrnoException);
  else message = `internal error: ${(err as Error)?.message ?? String(err)}`;
  process.stderr.write(outputFlags().json ? jsonErrorLine(message, code, exitName(code)) : `homecrypt: ${message}\n`);
  // what to do about it, on a line of its own (HomecryptError.hint)
  if (err instanceof HomecryptError && err.hint && !outputFlags().json) process.stderr.write(`hint: ${err.hint}\n`);
  if (process.env.HOMECRYPT_DEBUG && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`);
  return code;
}
