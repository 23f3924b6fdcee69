// The homecrypt command: parses arguments and prints; the work is done by the
// layers below. Each command group registers itself from src/cli/commands/.
// (`homecrypt mount` starts through the lean mount-main.ts instead: bin/homecrypt.)
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { commandGroups } from './commands/command-groups.js';
import { rootProgram, runProgram } from './run-program.js';
import { completeReporting } from './output.js';

export { reportError } from './run-program.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return String(pkg.version);
}

export function buildProgram(): Command {
  const program = rootProgram().version(packageVersion(), '-V, --version');
  for (const register of commandGroups) register(program);
  completeReporting(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // A reader that stops early (`homecrypt block status | head`) ends us quietly, as it would `ls`.
  // While writeOut waits on a write (a recovery key) it has its own listener and decides what a
  // failed write means, so this one steps aside; it never throws, which would crash mid-command.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (process.stdout.listenerCount('error') > 1) return;
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    process.stderr.write(`homecrypt: cannot write to standard output: ${err.code ?? err.message}\n`);
    process.exit(1);
  });
  await runProgram(buildProgram(), argv);
}
