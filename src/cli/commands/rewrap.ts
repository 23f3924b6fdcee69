// `homecrypt rewrap FILE`: a new login passphrase for the same mount key (no
// data is touched). With --recovery, the recovery key stands in for the old one.
import type { Command } from 'commander';
import { readKeyStoreInfo, rewrapLogin, unwrapKeyStore } from '../../keys/key-store.js';
import { looksLikeRecoveryKey } from '../../crypto/recovery-key.js';
import { UsageError } from '../../errors.js';
import { parseFdOption, readSecrets, wipe, withSecretTries } from '../secret-input.js';
import { noteLoginRewrapped } from '../../session/login-slot-synced.js';
import { note } from '../output.js';
import { parseKdfTime, printJson } from './key.js';

export function registerRewrapCommands(program: Command): void {
  program
    .command('rewrap')
    .description('change the login passphrase of key store FILE (old then new); the data is not touched')
    .argument('<file>', 'the key store')
    .option('--recovery', 'prove it with the recovery key instead of the old passphrase')
    .option('--kdf-time <seconds>', "recalibrate Argon2id to this time (default: keep the slot's parameters)", parseKdfTime)
    .option('--passphrase-fd <n>', 'read the old secret, then the new passphrase, from this file descriptor (one per line)', parseFdOption)
    .option('--json', 'print the result as JSON')
    .action(async (file: string, o: { recovery?: boolean; kdfTime?: number; passphraseFd?: number; json?: boolean }) => {
      readKeyStoreInfo(file); // a bad file is reported before asking for secrets
      // the old secret is checked (on a terminal: a few tries) before the new one is asked for
      const oldSecret = await withSecretTries(
        { fd: o.passphraseFd, count: 1, prompts: [o.recovery ? 'Recovery key:' : 'Current passphrase:'] },
        async ([s]) => {
          if (o.recovery && !looksLikeRecoveryKey(s!.toString('utf8'))) {
            throw new UsageError('--recovery: that is not a recovery key (8 groups of 5 characters, like XXXXX-XXXXX-…)');
          }
          (await unwrapKeyStore(file, s!)).mountKey.fill(0);
          return Buffer.from(s!);
        },
      );
      let newSecret: Buffer | undefined;
      try {
        [newSecret] = await readSecrets({ fd: o.passphraseFd, count: 1, prompts: ['New login passphrase:'], confirmNew: true, newPassphrase: true });
        const r = await rewrapLogin(file, oldSecret, newSecret, { kdfTimeSeconds: o.kdfTime });
        if (o.json) printJson({ file, keyId: r.keyId, slot: 'login', openedWith: r.openedWith });
        else process.stdout.write(`New login passphrase set for ${file} (key ID ${r.keyId}).\n`);
        for (const user of await noteLoginRewrapped(file, r.keyId)) note(`${user}'s record no longer says the password is out of sync`);
      } finally {
        wipe(oldSecret, newSecret);
      }
    });
}
