// The homecrypt command: parses arguments and prints; the work is done by the
// layers below. Each command group registers itself from src/cli/commands/.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { HomecryptError } from '../errors.js';
import { commandGroups } from './commands/index.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return String(pkg.version);
}

export function buildProgram(): Command {
  const program = new Command('homecrypt')
    .description('Encrypted home directories that unlock when you log in')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commandGroups) register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
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
