// `homecrypt key create|slots|unwrap`: the key store of a mount key, its
// keyslots, and unwrapping it into the kernel keyring.
import type { Command } from 'commander';
import { checkKdfTime } from '../../keys/kdf-calibration.js';
import {
  LOGIN_SLOT,
  addPassphraseSlot,
  addRecoverySlot,
  createKeyStore,
  readKeyStoreInfo,
  removeSlot,
  unwrapKeyStore,
  type KeyStoreInfo,
} from '../../keys/key-store.js';
import { insertMountKey } from '../../os/keyring.js';
import { lookupUser } from '../../os/users.js';
import { RefusedError, UsageError } from '../../errors.js';
import { existsSync } from 'node:fs';
import { parseFdOption, readSecrets, wipe, withSecrets } from '../secret-input.js';
import { confirmTyped } from '../confirm.js';
import { recordsUsingKeyStore } from '../../session/user-record.js';
import { resolve } from 'node:path';

export function parseKdfTime(value: string): number {
  const n = Number(value);
  if (!/^\d*\.?\d+$/.test(value)) throw new UsageError(`--kdf-time: "${value}" is not a number of seconds`);
  checkKdfTime(n);
  return n;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function recoveryKeyNotice(file: string, recoveryKey: string): string {
  return [
    'Recovery key (shown only this once):',
    '',
    `    ${recoveryKey}`,
    '',
    'Write it down or print it, and keep it somewhere safe away from this computer.',
    'If you forget your passphrase, it is the only way back to your data:',
    `    homecrypt rewrap ${file} --recovery`,
    'sets a new login passphrase with it. Anyone holding it can open your data.',
    '',
  ].join('\n');
}

function slotTable(info: KeyStoreInfo): string {
  const rows = info.slots.map((s) => [s.name, s.kind, `argon2id t=${s.kdf.iterations} m=${Math.round(s.kdf.memoryKiB / 1024)}MiB p=${s.kdf.parallelism}`]);
  const w0 = Math.max(4, ...rows.map((r) => r[0].length));
  const w1 = Math.max(4, ...rows.map((r) => r[1].length));
  const line = (r: string[]) => `${r[0].padEnd(w0)}  ${r[1].padEnd(w1)}  ${r[2]}\n`;
  return `key ID ${info.keyId} (key store version ${info.version})\n${line(['NAME', 'KIND', 'KDF'])}${rows.map(line).join('')}`;
}

export function registerKeyCommands(program: Command): void {
  const key = program.command('key').description('create and manage key stores (the wrapped mount key and its keyslots)');

  key
    .command('create')
    .description('create a key store FILE: a new random mount key wrapped by a login passphrase, plus a recovery key')
    .argument('<file>', 'the key store to create (must not exist)')
    .option('--kdf-time <seconds>', 'Argon2id calibration target per unlock', parseKdfTime)
    .option('--passphrase-fd <n>', 'read the passphrase from this file descriptor (one line)', parseFdOption)
    .option('--json', 'print the result as JSON (includes the recovery key)')
    .action(async (file: string, o: { kdfTime?: number; passphraseFd?: number; json?: boolean }) => {
      if (existsSync(file)) throw new RefusedError(`${file} already exists; refusing to overwrite a key store`);
      await withSecrets({ fd: o.passphraseFd, count: 1, prompts: ['New login passphrase:'], confirmNew: true, newPassphrase: true }, async ([passphrase]) => {
        const r = await createKeyStore(file, { passphrase, kdfTimeSeconds: o.kdfTime });
        wipe(r.mountKey);
        if (o.json) {
          printJson({ file, keyId: r.keyId, slots: readKeyStoreInfo(file).slots, recoveryKey: r.recoveryKey });
        } else {
          process.stdout.write(`Created key store ${file} (key ID ${r.keyId}).\n\n${recoveryKeyNotice(file, r.recoveryKey)}`);
        }
      });
    });

  key
    .command('slots')
    .description('list, add or remove keyslots of a key store')
    .argument('<file>', 'the key store')
    .argument('[action]', 'list | add-passphrase | add-recovery | remove', 'list')
    .argument('[name]', 'slot name (required for remove; optional for add-*)')
    .option('--kdf-time <seconds>', 'calibrate the new slot to this time (default: same parameters as the slot that opened)', parseKdfTime)
    .option('--passphrase-fd <n>', 'read secrets from this file descriptor, one per line (existing, then new)', parseFdOption)
    .option('--json', 'print the result as JSON')
    .option('--yes', 'remove: do not ask before removing the login slot a user logs in with')
    .action(async (file: string, action: string, name: string | undefined, o: { kdfTime?: number; passphraseFd?: number; json?: boolean; yes?: boolean }) => {
      switch (action) {
        case 'list': {
          const info = readKeyStoreInfo(file);
          if (o.json) printJson(info);
          else process.stdout.write(slotTable(info));
          return;
        }
        case 'add-passphrase': {
          readKeyStoreInfo(file); // a bad file is reported before asking for secrets
          const [existing, added] = await readSecrets({
            fd: o.passphraseFd,
            count: 2,
            prompts: ['Existing passphrase or recovery key:', 'New passphrase for the slot:'],
            confirmNew: true,
            newPassphrase: true,
          });
          try {
            const slot = await addPassphraseSlot(file, existing, added, { name, kdfTimeSeconds: o.kdfTime });
            if (o.json) printJson({ file, added: slot });
            else process.stdout.write(`Added passphrase slot ${slot} to ${file}.\n`);
          } finally {
            wipe(existing, added);
          }
          return;
        }
        case 'add-recovery': {
          readKeyStoreInfo(file);
          await withSecrets({ fd: o.passphraseFd, count: 1, prompts: ['Existing passphrase or recovery key:'] }, async ([existing]) => {
            const recoveryKey = await addRecoverySlot(file, existing, { name, kdfTimeSeconds: o.kdfTime });
            const slot = readKeyStoreInfo(file).slots.at(-1)!.name;
            if (o.json) printJson({ file, added: slot, recoveryKey });
            else process.stdout.write(`Added recovery slot ${slot} to ${file}.\n\n${recoveryKeyNotice(file, recoveryKey)}`);
          });
          return;
        }
        case 'remove': {
          if (!name) throw new UsageError('key slots FILE remove NAME: which slot?');
          if (!readKeyStoreInfo(file).slots.some((s) => s.name === name)) throw new UsageError(`${file}: no slot named ${name}`);
          const users = name === LOGIN_SLOT ? recordsUsingKeyStore(resolve(file)).map((r) => r.user) : [];
          if (users.length && !o.yes) {
            await confirmTyped(
              `${file} is the key store ${users.join(', ')} log(s) in with: without its login slot the login no longer unlocks it (only rewrap --recovery brings it back)`,
              'YES',
              '--yes',
              o.passphraseFd !== undefined,
            );
          }
          await withSecrets({ fd: o.passphraseFd, count: 1, prompts: [`Passphrase or recovery key of a slot other than ${name}:`] }, async ([existing]) => {
            await removeSlot(file, existing, name);
            if (o.json) printJson({ file, removed: name });
            else process.stdout.write(`Removed slot ${name} from ${file}.\n`);
          });
          return;
        }
        default:
          throw new UsageError(`key slots: unknown action "${action}" (list, add-passphrase, add-recovery, remove)`);
      }
    });

  key
    .command('unwrap')
    .description('unwrap the mount key of FILE into your user keyring (as homecrypt:<keyid>)')
    .argument('<file>', 'the key store')
    .option('--passphrase-fd <n>', 'read the passphrase or recovery key from this file descriptor (one line)', parseFdOption)
    .option('--user <name>', "root: into this user's keyring, owned by them (the file must be theirs or root's)")
    .option('--json', 'print the result as JSON')
    .action(async (file: string, o: { passphraseFd?: number; user?: string; json?: boolean }) => {
      const user = o.user === undefined ? undefined : lookupUser(o.user);
      const check = user ? { expectUid: user.uid } : {};
      readKeyStoreInfo(file, check); // a bad file is reported before asking for the passphrase
      const [secret] = await readSecrets({ fd: o.passphraseFd, count: 1, prompts: ['Passphrase or recovery key:'] });
      let mountKey: Buffer | undefined;
      try {
        const r = await unwrapKeyStore(file, secret, check);
        mountKey = r.mountKey;
        const serial = insertMountKey(r.keyId, r.mountKey, user ? { uid: user.uid, gid: user.gid } : {});
        const whose = user ? `${user.name}'s` : 'your';
        if (o.json) printJson({ file, keyId: r.keyId, serial, slot: r.slot, ...(user ? { user: user.name } : {}) });
        else process.stdout.write(`Key ${r.keyId} is in ${whose} keyring (serial ${serial}, opened with slot ${r.slot}).\n`);
      } finally {
        wipe(secret, mountKey);
      }
    });
}
