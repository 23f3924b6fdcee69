// `homecrypt mount LOWER MOUNTPOINT`: the mount key from the keyring (or the
// key store and a passphrase), then a daemon serving the mount; returns once
// the mount is ready. `--foreground` serves from this process.
import { Command } from 'commander';
import { resolve } from 'node:path';
import { InterruptedError, UsageError } from '../../errors.js';
import { deferInterrupts, wasInterrupted } from '../../os/interrupt.js';
import { ignoreSignalsFromNow } from '../../os/ignore-signals.js';
import { DEFAULT_CACHE_TIMEOUT, openVolume, readVolumeConfig } from '../../engine/volume.js';
import { gatherVolumeKeys } from '../../engine/volume-keys.js';
import { defaultLogFile, formatNote, prepareMountPoint, refuseIfLowerServed, runDaemonChild, serveMount, startMountDaemon } from '../../engine/mount-daemon.js';
import { parseFdOption, readSecrets } from '../secret-input.js';
import { daemonChildFds, withDaemonOptions, type DaemonOpts } from '../daemon-options.js';
import { isAdoptedEcryptfs, mountAdopted } from '../../session/ecryptfs/adopt.js';
import { note, outputFlags, reporting, result } from '../output.js';

interface MountOpts extends DaemonOpts {
  keystore?: string;
  passphraseFd?: number;
  cacheTimeout?: number;
}

/** commander parser for `--cache-timeout SECONDS`: 0 to 86400, fractions allowed. */
export function parseCacheTimeout(value: string): number {
  const n = Number(value);
  if (!/^\d*\.?\d+$/.test(value) || n > 86_400) {
    throw new UsageError(`--cache-timeout: "${value}" is not a number of seconds from 0 to 86400`);
  }
  return n;
}

export function registerMountCommand(program: Command): void {
  reporting(
    withDaemonOptions(
      program
        .command('mount')
        .description('mount the encrypted directory LOWER at MOUNTPOINT (visible to you only)')
        .argument('<lower>', 'the encrypted lower directory (made by homecrypt init)')
        .argument('<mountpoint>', 'an empty directory')
        .option('--keystore <file>', 'the key store, when the volume config names none or another')
        .option('--passphrase-fd <n>', 'read the passphrase from this file descriptor, if the key is not in the keyring', parseFdOption),
      {
        allowOther: 'let other users see the mount (needs user_allow_other for non-root)',
        logFile: 'daemon log (default: /run/user/UID or /tmp/homecrypt-UID)',
      },
    ).option(
      '--cache-timeout <seconds>',
      `how long the kernel may trust names and attributes it was told (default ${DEFAULT_CACHE_TIMEOUT}; ` +
        '0 when something else changes LOWER while it is mounted)',
      parseCacheTimeout,
    ),
  ).action(async (lower: string, mountPoint: string, o: MountOpts) => {
    const run = { allowOther: o.allowOther, cacheTimeout: o.cacheTimeout };
    const child = daemonChildFds(o);
    if (child) {
      await runDaemonChild(lower, mountPoint, child.keyFd, child.readyFd, run);
      return;
    }
    // an eCryptfs directory adopted by `homecrypt ecryptfs adopt` (src/session/ecryptfs/adopt.ts)
    if (isAdoptedEcryptfs(resolve(lower), o.keystore)) {
      await mountAdopted(resolve(lower), mountPoint, o.keystore!, {
        secret: async () => (await readSecrets({ fd: o.passphraseFd, count: 1, prompts: ['Passphrase:'] }))[0]!,
        foreground: o.foreground,
        allowOther: o.allowOther,
        logFile: o.logFile ? resolve(o.logFile) : undefined,
        tell: (line) => process.stderr.write(`homecrypt: ${line}\n`),
      });
      if (outputFlags().json && !o.foreground) result({ lower: resolve(lower), mountPoint: resolve(mountPoint), ecryptfs: true }, '');
      return;
    }
    const config = readVolumeConfig(resolve(lower));
    await refuseIfLowerServed(resolve(lower));
    const cleaned = await prepareMountPoint(mountPoint, { allowOther: o.allowOther });
    if (cleaned) note(cleaned);
    const mnt = resolve(mountPoint);
    // a daemon is about to be started: a Ctrl-C now is acted on where the mount can be undone
    if (!o.foreground) deferInterrupts();
    const keys = await gatherVolumeKeys(resolve(lower), config, {
      keystore: o.keystore,
      secret: async () => (await readSecrets({ fd: o.passphraseFd, count: 1, prompts: ['Passphrase:'] }))[0]!,
    });
    // a bad key or a tampered config is reported here, with its own exit code
    const { formatVersion } = openVolume(resolve(lower), keys);
    if (o.foreground) {
      await serveMount(lower, mountPoint, keys, run, () => process.stderr.write(`homecrypt: mounted at ${mnt} (${formatNote(formatVersion)})\n`));
      return;
    }
    if (wasInterrupted()) {
      for (const k of keys) k.fill(0);
      throw notMounted(mnt);
    }
    const logFile = o.logFile ? resolve(o.logFile) : defaultLogFile(mountPoint);
    const daemon = await startMountDaemon(lower, mountPoint, keys, { ...run, logFile });
    if (wasInterrupted()) {
      await daemon.stop();
      throw notMounted(mnt);
    }
    // mounted, and no signal came: one coming later cannot make this run look interrupted
    ignoreSignalsFromNow();
    // an older format is said where the user sees it, not only in the log
    if (formatVersion < 2) note(formatNote(formatVersion));
    if (outputFlags().json) result({ lower: resolve(lower), mountPoint: mnt, keyIds: config.keyIds, logFile }, '');
  });
}

/** Ctrl-C (or SIGTERM, SIGHUP) before the mount was reported: it was not made, or undone. */
function notMounted(mnt: string): InterruptedError {
  return new InterruptedError(`interrupted: nothing is mounted at ${mnt}`, { hint: 'run the same command again to mount it' });
}
