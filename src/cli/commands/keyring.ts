// `homecrypt keyring list|forget`: the mount keys in your kernel user keyring.
import type { Command } from 'commander';
import { forgetMountKey, listMountKeys } from '../../os/keyring.js';
import { KeyNotAvailableError } from '../../errors.js';
import { printJson } from './key.js';

export function registerKeyringCommands(program: Command): void {
  const keyring = program.command('keyring').description('the homecrypt keys in your kernel user keyring');
  keyring.command('list')
    .description('list the mount keys in your user keyring')
    .option('--json', 'print the result as JSON')
    .action((o: { json?: boolean }) => {
      const keys = listMountKeys();
      if (o.json) { printJson(keys); return; }
      if (keys.length === 0) { process.stdout.write('no homecrypt keys in your keyring\n'); return; }
      process.stdout.write(`${'KEY ID'.padEnd(16)}  SERIAL\n`);
      for (const k of keys) process.stdout.write(`${k.keyId}  ${k.serial}\n`);
    });
  keyring.command('forget')
    .description('revoke and unlink a mount key from your user keyring')
    .argument('<keyid>', 'the key ID (16 hex characters)')
    .action((keyId: string) => {
      if (!forgetMountKey(keyId)) throw new KeyNotAvailableError(`key ${keyId} is not in your keyring`);
      process.stdout.write(`Forgot key ${keyId}.\n`);
    });
}
