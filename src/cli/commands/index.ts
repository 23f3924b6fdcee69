// The command groups of the CLI, in the order `--help` lists them. Each module
// adds its subcommands to the program and nothing else.
import type { Command } from 'commander';
import { registerInstall } from './install.js';
import { registerKeyCommands } from './key.js';
import { registerKeyringCommands } from './keyring.js';
import { registerRewrapCommands } from './rewrap.js';

export type RegisterCommands = (program: Command) => void;

export const commandGroups: RegisterCommands[] = [
  registerKeyCommands,
  registerKeyringCommands,
  registerRewrapCommands,
  registerInstall,
];
