// `homecrypt init LOWER`: a new encrypted lower directory (0700) with its
// volume config and, unless --keystore points elsewhere, its key store.
import type { Command } from 'commander';
import { existsSync, rmSync, rmdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { InterruptedError } from '../../errors.js';
import { deferInterrupts, throwIfInterrupted, wasInterrupted } from '../../os/interrupt.js';
import { VOLUME_CONFIG_NAME } from '../../format/volume-config.js';
import { DIR_IV_NAME } from '../../format/dir-iv.js';
import { createKeyStore, unwrapKeyStore } from '../../keys/key-store.js';
import { DEFAULT_KEYSTORE_NAME, prepareLowerDir, writeNewVolumeConfig } from '../../engine/volume.js';
import { parseFdOption, readSecrets, wipe } from '../secret-input.js';
import { parseKdfTime, printJson, recoveryKeyNotice } from './key.js';

/** Leaves nothing of a failed init: what it wrote in LOWER, its new key store, and the directories it made. */
function removeUnfinished(lower: string, created: string | null, newKeyStore: string | null): void {
  if (newKeyStore) rmSync(newKeyStore, { force: true });
  for (const name of [VOLUME_CONFIG_NAME, DIR_IV_NAME]) rmSync(join(lower, name), { force: true });
  if (!created) return;
  // from LOWER up to the first directory mkdir made; one that is not empty is someone's, kept
  for (let dir = lower; ; dir = dirname(dir)) {
    try {
      rmdirSync(dir);
    } catch {
      return;
    }
    if (dir === created) return;
  }
}

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
      // Ctrl-C is noted and acted on below, where what was made can be removed
      deferInterrupts();
      const created = prepareLowerDir(lower);
      const ksPath = o.keystore ? resolve(o.keystore) : join(lower, DEFAULT_KEYSTORE_NAME);
      const reuse = !!o.keystore && existsSync(ksPath);
      let createdKs = false;
      let mountKey: Buffer | undefined;
      let recoveryKey: string | undefined;
      let keyId: string;
      try {
        throwIfInterrupted();
        const [passphrase] = await readSecrets({
          fd: o.passphraseFd,
          count: 1,
          prompts: [reuse ? `Passphrase of ${ksPath}:` : 'New login passphrase:'],
          confirmNew: !reuse,
          newPassphrase: !reuse,
        });
        try {
          throwIfInterrupted();
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
        throwIfInterrupted();
        writeNewVolumeConfig(lower, mountKey, { plaintextNames: o.plaintextNames, keystore: o.keystore ? ksPath : DEFAULT_KEYSTORE_NAME });
        // the last safe point: past it the volume is reported made
        throwIfInterrupted();
      } catch (err) {
        removeUnfinished(lower, created, createdKs ? ksPath : null);
        throw wasInterrupted() ? new InterruptedError(`interrupted: ${lower} was not made`, { hint: 'run the same command again' }) : err;
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
