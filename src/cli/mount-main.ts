// `homecrypt mount …` alone: bin/homecrypt starts here when the first argument
// is `mount`. That command is the mount daemon of every login (the PAM hook
// starts `homecrypt mount --foreground` as the user), and a login should not
// pay for loading every other command group (block mode, installer, eCryptfs
// tools, prompts): this entry loads the mount command and what it imports only.
// Same command, options, help and exit codes as through main.ts.
import type { Command } from 'commander';
import { registerMountCommand } from './commands/mount.js';
import { rootProgram, runProgram } from './run-program.js';

export function buildMountProgram(): Command {
  const program = rootProgram();
  registerMountCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await runProgram(buildMountProgram(), argv);
}
