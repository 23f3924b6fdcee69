// `homecrypt keyring list|forget`: the mount keys in your kernel user keyring.
import type { Command } from 'commander';
import { forgetMountKey, listMountKeys } from '../../os/keyring.js';
import { KeyNotAvailableError } from '../../errors.js';
import { printJson } from './key.js';
import { lookupUser } from '../../os/users.js';

function target(user?: string) {
  if (user === undefined) return { opts: {}, whose: 'your' };
  const u = lookupUser(user);
  return { opts: { uid: u.uid, gid: u.gid }, whose: `${u.name}'s` };
}

export function registerKeyringCommands(program: Command): void {
  const keyring = program.command('keyring').description('the homecrypt keys in your kernel user keyring');
  keyring
    .command('list')
    .description('list the mount keys in your user keyring')
    .option('--user <name>', "root: list this user's keyring")
    .option('--json', 'print the result as JSON')
    .action((o: { json?: boolean; user?: string }) => {
      const t = target(o.user);
      const keys = listMountKeys(t.opts);
      if (o.json) {
        printJson(keys);
        return;
      }
      if (keys.length === 0) {
        process.stdout.write(`no homecrypt keys in ${t.whose} keyring\n`);
        return;
      }
      process.stdout.write(`${'KEY ID'.padEnd(16)}  SERIAL\n`);
      for (const k of keys) process.stdout.write(`${k.keyId}  ${k.serial}\n`);
    });
  keyring
    .command('forget')
    .description('revoke and unlink a mount key from your user keyring')
    .argument('<keyid>', 'the key ID (16 hex characters)')
    .option('--user <name>', "root: forget it in this user's keyring")
    .action((keyId: string, o: { user?: string }) => {
      const t = target(o.user);
      if (!forgetMountKey(keyId, t.opts)) throw new KeyNotAvailableError(`key ${keyId} is not in ${t.whose} keyring`);
      process.stdout.write(`Forgot key ${keyId}.\n`);
    });
}
