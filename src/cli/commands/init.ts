// `homecrypt init LOWER`: a new encrypted lower directory (0700) with its
// volume config and, unless --keystore points elsewhere, its key store.
import type { Command } from 'commander';
import { existsSync, rmSync, rmdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createKeyStore, unwrapKeyStore } from '../../keys/key-store.js';
import { DEFAULT_KEYSTORE_NAME, prepareLowerDir, writeNewVolumeConfig } from '../../engine/volume.js';
import { parseFdOption, readSecrets, wipe } from '../secret-input.js';
import { parseKdfTime, printJson, recoveryKeyNotice } from './key.js';

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description('create an encrypted lower directory LOWER (mount it with homecrypt mount)')
    .argument('<lower>', 'the lower directory to create (new or empty)')
    .option('--keystore <file>', `use or create the key store FILE instead of LOWER/${DEFAULT_KEYSTORE_NAME}`)
    .option('--passphrase-fd <n>', 'read the passphrase from this file descriptor (one line)', parseFdOption)
    .option('--kdf-time <seconds>', 'Argon2id calibration target per unlock', parseKdfTime)
    .option('--plaintext-names', 'keep file names in the clear (contents stay encrypted)')
    .option('--json', 'print the result as JSON (includes the recovery key when one was made)')
    .action(async (lowerArg: string, o: { keystore?: string; passphraseFd?: number; kdfTime?: number; plaintextNames?: boolean; json?: boolean }) => {
      const lower = resolve(lowerArg);
      const existed = existsSync(lower);
      prepareLowerDir(lower);
      const ksPath = o.keystore ? resolve(o.keystore) : join(lower, DEFAULT_KEYSTORE_NAME);
      const reuse = !!o.keystore && existsSync(ksPath);
      let createdKs = false;
      let mountKey: Buffer | undefined;
      let recoveryKey: string | undefined;
      let keyId: string;
      try {
        const [passphrase] = await readSecrets({
          fd: o.passphraseFd,
          count: 1,
          prompts: [reuse ? `Passphrase of ${ksPath}:` : 'New login passphrase:'],
          confirmNew: !reuse,
          newPassphrase: !reuse,
        });
        try {
          if (reuse) {
            ({ mountKey, keyId } = await unwrapKeyStore(ksPath, passphrase));
          } else {
            const r = await createKeyStore(ksPath, { passphrase, kdfTimeSeconds: o.kdfTime });
            createdKs = true;
            ({ mountKey, keyId, recoveryKey } = r);
          }
        } finally {
          wipe(passphrase);
        }
        writeNewVolumeConfig(lower, mountKey, { plaintextNames: o.plaintextNames, keystore: o.keystore ? ksPath : DEFAULT_KEYSTORE_NAME });
      } catch (err) {
        // leave nothing half-done
        if (createdKs) rmSync(ksPath, { force: true });
        rmSync(join(lower, 'homecrypt.conf'), { force: true });
        if (!existed) {
          try {
            rmdirSync(lower);
          } catch {
            /* not empty */
          }
        }
        throw err;
      } finally {
        wipe(mountKey);
      }
      if (o.json) {
        printJson({ lower, keyId, keystore: ksPath, names: o.plaintextNames ? 'plaintext' : 'encrypted', ...(recoveryKey ? { recoveryKey } : {}) });
      } else {
        process.stdout.write(`Created encrypted directory ${lower} (key ID ${keyId}, key store ${ksPath}).\n`);
        if (recoveryKey) process.stdout.write(`\n${recoveryKeyNotice(ksPath, recoveryKey)}`);
      }
    });
}
