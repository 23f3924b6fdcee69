// `homecrypt add-key LOWER KEYSTORE`: adds the mount key of another key store
// to a volume and makes it the key new files are created under (files already
// there keep theirs). Mounting then needs both keys (keyring, or the volume's
// key store for the first).
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { keyIdOf } from '../../crypto/key-id.js';
import { readKeyStoreInfo, unwrapKeyStore } from '../../keys/key-store.js';
import { readMountKey } from '../../os/keyring.js';
import { readVolumeConfig, setCurrentKey } from '../../engine/volume.js';
import { gatherVolumeKeys } from '../../engine/volume-keys.js';
import { parseFdOption, readSecrets, wipe, withSecrets } from '../secret-input.js';

export function registerAddKeyCommand(program: Command): void {
  program
    .command('add-key')
    .description('make the mount key of KEYSTORE the one new files of LOWER use (old files keep theirs)')
    .argument('<lower>', 'the encrypted lower directory')
    .argument('<keystore>', 'the key store holding the new mount key')
    .option('--keystore <file>', "the volume's own key store, when its config names none or another")
    .option(
      '--passphrase-fd <n>',
      "read passphrases from this descriptor: the volume's (if its key is not in the keyring), then KEYSTORE's (if not in the keyring)",
      parseFdOption,
    )
    .action(async (lowerArg: string, newStore: string, o: { keystore?: string; passphraseFd?: number }) => {
      const lower = resolve(lowerArg);
      const config = readVolumeConfig(lower);
      const keys = await gatherVolumeKeys(lower, config, {
        keystore: o.keystore,
        secret: async () => (await readSecrets({ fd: o.passphraseFd, count: 1, prompts: ['Passphrase of the volume:'] }))[0]!,
      });
      const nameKey = keys.find((k) => keyIdOf(k) === config.nameKeyId);
      if (!nameKey) throw new UsageError(`the volume's mount key ${config.nameKeyId} is not available`);
      const newId = readKeyStoreInfo(newStore).keyId;
      let newKey: Buffer | null = null;
      try {
        try {
          newKey = readMountKey(newId);
        } catch {
          newKey = null;
        }
        if (!newKey) {
          newKey = await withSecrets(
            { fd: o.passphraseFd, count: 1, prompts: [`Passphrase of ${newStore}:`] },
            async ([secret]) => (await unwrapKeyStore(newStore, secret!)).mountKey,
          );
        }
        setCurrentKey(lower, nameKey, newKey);
        process.stdout.write(`New files in ${lower} now use key ID ${newId}; mounting needs it in the keyring (homecrypt key unwrap ${newStore}).\n`);
      } finally {
        wipe(newKey, ...keys);
      }
    });
}
