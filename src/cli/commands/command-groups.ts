// The command groups of the CLI, in the order `--help` lists them. Each module
// adds its subcommands to the program and nothing else.
import type { Command } from 'commander';
import { registerBlockCommands } from './block.js';
import { registerInstall } from './install.js';
import { registerKeyCommands } from './key.js';
import { registerKeyringCommands } from './keyring.js';
import { registerRewrapCommands } from './rewrap.js';
import { registerLoginHookCommands } from './login-hook.js';
import { registerPamCommands } from './pam.js';
import { registerSetupCommands } from './setup.js';
import { registerStatusCommands } from './status.js';
import { registerInitCommand } from './init.js';
import { registerMountCommand } from './mount.js';
import { registerUmountCommand } from './umount.js';
import { registerFsckCommand } from './fsck.js';
import { registerAddKeyCommand } from './add-key.js';
import { registerEcryptfsCommands } from './ecryptfs.js';
import { registerDoctorCommand } from './doctor.js';
import { registerCompleteCommand } from './complete.js';

export type RegisterCommands = (program: Command) => void;

export const commandGroups: RegisterCommands[] = [
  registerKeyCommands,
  registerKeyringCommands,
  registerRewrapCommands,
  registerInstall,
  registerSetupCommands,
  registerStatusCommands,
  registerDoctorCommand,
  registerPamCommands,
  registerLoginHookCommands,
  registerBlockCommands,
  registerInitCommand,
  registerMountCommand,
  registerUmountCommand,
  registerFsckCommand,
  registerAddKeyCommand,
  registerEcryptfsCommands,
  registerCompleteCommand,
];
