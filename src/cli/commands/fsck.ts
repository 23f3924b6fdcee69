// `homecrypt fsck LOWER`: authenticates every name and byte of an encrypted
// lower directory and reports what fails, changing nothing. Exit 0 when all
// is well, 1 when something failed. A lower directory a daemon serves (its
// lock, engine/lower-lock.ts) is still checked, with a warning.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { openVolume, readVolumeConfig } from '../../engine/volume.js';
import { gatherVolumeKeys } from '../../engine/volume-keys.js';
import { fsckVolume } from '../../engine/fsck.js';
import { lowerServer } from '../../engine/lower-lock.js';
import { listedMountOf } from '../../engine/mount-daemon.js';
import { ExitCode } from '../exit-codes.js';
import { parseFdOption, readSecrets } from '../secret-input.js';
import { printJson } from './key.js';

export function registerFsckCommand(program: Command): void {
  program
    .command('fsck')
    .description('check every file and name of an encrypted directory (changes nothing)')
    .argument('<lower>', 'the encrypted lower directory')
    .option('--keystore <file>', 'the key store, when the volume config names none or another')
    .option('--passphrase-fd <n>', 'read the passphrase from this file descriptor, if the key is not in the keyring', parseFdOption)
    .option('--json', 'print the report as JSON')
    .action(async (lowerArg: string, o: { keystore?: string; passphraseFd?: number; json?: boolean }) => {
      const lower = resolve(lowerArg);
      const config = readVolumeConfig(lower);
      // fsck changes nothing, so it still runs; but a file a daemon is writing meanwhile can fail its check
      let served = await lowerServer(lower, 0);
      // a daemon whose mount was just unmounted holds the lock until it has closed its lower files
      // and exited, milliseconds after `homecrypt umount` returns: wait for that before warning
      if (served && !listedMountOf(lower)) served = await lowerServer(lower);
      if (served) {
        const who = served.pid ? ` (pid ${served.pid})` : '';
        process.stderr.write(
          `homecrypt: warning: a homecrypt daemon${who} is serving ${lower}; a file written through its mount while fsck reads it can be reported as failing\n`,
        );
      }
      const keys = await gatherVolumeKeys(lower, config, {
        keystore: o.keystore,
        secret: async () => (await readSecrets({ fd: o.passphraseFd, count: 1, prompts: ['Passphrase:'] }))[0]!,
      });
      const vol = openVolume(lower, keys);
      for (const k of keys) k.fill(0);
      const r = fsckVolume(vol);
      if (o.json) {
        printJson({ lower, ok: r.problems.length === 0, ...r });
      } else {
        for (const p of r.problems) process.stdout.write(`FAIL ${p.lowerPath}${p.path ? ` (${p.path})` : ''}: ${p.problem}\n`);
        process.stdout.write(
          `${r.files} files, ${r.dirs} directories, ${r.symlinks} symlinks, ${r.other} other: ` +
            `${r.problems.length === 0 ? 'all authentic' : `${r.problems.length} problem(s)`}\n`,
        );
      }
      if (r.problems.length) process.exitCode = ExitCode.FAILURE;
    });
}
