// `homecrypt ecryptfs …`: existing eCryptfs homes and keys, without the kernel
// module. Parsing and printing only; the work is in src/ecryptfs/.
import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { parseFdOption, readSecrets, wipe, withSecrets } from '../secret-input.js';
import { daemonChildFds, withDaemonOptions, type DaemonOpts } from '../daemon-options.js';
import { UsageError } from '../../errors.js';
import { FNEK_SALT, DEFAULT_SALT } from '../../format/ecryptfs/constants.js';
import { authTokForPassphrase } from '../../format/ecryptfs/auth-tok.js';
import { checkPassphrase } from '../../format/ecryptfs/passphrase-key.js';
import { addAuthTok } from '../../ecryptfs/auth-tok-keyring.js';
import { rewrapPassphraseFile, unwrapPassphraseFile, writeWrappedPassphraseFile } from '../../ecryptfs/wrapped-passphrase-file.js';
import { openEcryptfs, parseKeyBytes, runEcryptfsDaemonChild, serveEcryptfs, startEcryptfsDaemon, type EcryptfsSpec } from '../../ecryptfs/ecryptfs-mount.js';
import { wipeKeys } from '../../ecryptfs/keys.js';
import { defaultLogFile, prepareMountPoint } from '../../engine/mount-daemon.js';
import { fusermountUnmount } from '../../fuse/index.js';
import { migrateEcryptfs } from '../../session/ecryptfs/migrate.js';
import { adoptUser } from '../../session/ecryptfs/adopt.js';
import { requireRoot } from '../../os/require-root.js';
import { writeOut } from '../write-out.js';
import { jsonLine, note, outputFlags, reporting, result } from '../output.js';
import { progressReporter } from '../progress.js';
import { lookupUser } from '../../os/users.js';
import { deferInterrupts } from '../../os/interrupt.js';

function parseSalt(v: string): Buffer {
  if (!/^[0-9a-fA-F]{16}$/.test(v)) throw new UsageError('--salt must be 16 hex digits (the "salt=" of ~/.ecryptfsrc)');
  return Buffer.from(v, 'hex');
}

interface MountOpts extends DaemonOpts {
  wrapped?: string;
  passphraseFd?: number;
  keyBytes?: 16 | 24 | 32;
  plaintextNames?: boolean;
  salt?: Buffer;
}

export function registerEcryptfsCommands(program: Command): void {
  const ec = program.command('ecryptfs').description('open, use and migrate existing eCryptfs directories and keys (no kernel module needed)');

  ec.command('wrap-passphrase')
    .description('write FILE (wrapped-passphrase, version 2): the mount passphrase wrapped by a login passphrase')
    .argument('<file>', 'e.g. ~/.ecryptfs/wrapped-passphrase')
    .option('--passphrase-fd <n>', 'read the mount passphrase, then the login passphrase (one per line) from this fd', parseFdOption)
    .action(async (file: string, o: { passphraseFd?: number }) => {
      await withSecrets({ fd: o.passphraseFd, count: 2, prompts: ['Passphrase to wrap:', 'Wrapping (login) passphrase:'] }, async ([mount, login]) => {
        checkPassphrase(mount!);
        writeWrappedPassphraseFile(resolve(file), mount!, login!);
      });
    });

  ec.command('unwrap-passphrase')
    .description('print the mount passphrase held in FILE (versions 1 and 2)')
    .argument('<file>')
    .option('--passphrase-fd <n>', 'read the login passphrase from this fd', parseFdOption)
    .option('--salt <hex>', "the salt a version 1 file was wrapped with (default: ecryptfs-utils' default)", parseSalt)
    .action(async (file: string, o: { passphraseFd?: number; salt?: Buffer }) => {
      await withSecrets({ fd: o.passphraseFd, count: 1, prompts: ['Login passphrase:'] }, async ([login]) => {
        const mount = unwrapPassphraseFile(resolve(file), login!, o.salt);
        process.stdout.write(Buffer.concat([mount, Buffer.from('\n')]));
        mount.fill(0);
      });
    });

  ec.command('rewrap-passphrase')
    .description('re-wrap FILE under a new login passphrase (writes version 2)')
    .argument('<file>')
    .option('--passphrase-fd <n>', 'read the old, then the new login passphrase from this fd', parseFdOption)
    .option('--salt <hex>', 'the salt a version 1 file was wrapped with', parseSalt)
    .action(async (file: string, o: { passphraseFd?: number; salt?: Buffer }) => {
      await withSecrets(
        { fd: o.passphraseFd, count: 2, prompts: ['Old login passphrase:', 'New login passphrase:'], confirmNew: true },
        async ([oldP, newP]) => {
          rewrapPassphraseFile(resolve(file), oldP!, newP!, o.salt);
        },
      );
    });

  ec.command('add-passphrase')
    .description('insert the eCryptfs auth token(s) of a mount passphrase into your user keyring, as ecryptfs-add-passphrase does')
    .option('--fnek', 'also insert the filename encryption key')
    .option('--salt <hex>', 'the "salt=" of ~/.ecryptfsrc, if you set one', parseSalt)
    .option('--passphrase-fd <n>', 'read the passphrase from this fd', parseFdOption)
    .action(async (o: { fnek?: boolean; salt?: Buffer; passphraseFd?: number }) => {
      await withSecrets({ fd: o.passphraseFd, count: 1, prompts: ['Passphrase:'] }, async ([pass]) => {
        checkPassphrase(pass!);
        const salts = o.fnek ? [o.salt ?? DEFAULT_SALT, FNEK_SALT] : [o.salt ?? DEFAULT_SALT];
        for (const salt of salts) {
          const t = authTokForPassphrase(pass!, salt);
          addAuthTok(t.sig, t.payload);
          t.payload.fill(0);
          t.key.fill(0);
          process.stdout.write(`Inserted auth tok with sig [${t.sig}] into the user session keyring\n`);
        }
      });
    });

  reporting(
    withDaemonOptions(
      ec
        .command('mount')
        .description('mount the eCryptfs lower directory LOWER at MOUNTPOINT through FUSE')
        .argument('<lower>', 'e.g. ~/.Private or /home/.ecryptfs/USER/.Private')
        .argument('<mountpoint>', 'an empty directory')
        .option('--wrapped <file>', 'unwrap the mount passphrase from this wrapped-passphrase file with the login passphrase')
        .option('--passphrase-fd <n>', 'read the mount passphrase (or, with --wrapped, the login passphrase) from this fd', parseFdOption)
        .option('--key-bytes <n>', 'AES key size 16, 24 or 32 (default: from the files, else 16)', parseKeyBytes)
        .option('--plaintext-names', 'the lower names are not encrypted (default: from the names)')
        .option('--salt <hex>', 'the "salt=" of ~/.ecryptfsrc, if you set one', parseSalt),
      { allowOther: 'let other users see the mount', logFile: 'daemon log' },
    ),
  ).action(async (lower: string, mountPoint: string, o: MountOpts) => {
    const spec: EcryptfsSpec = { keyBytes: o.keyBytes, encryptNames: o.plaintextNames ? false : undefined, salt: o.salt };
    const child = daemonChildFds(o);
    if (child) {
      await runEcryptfsDaemonChild(lower, mountPoint, child.keyFd, child.readyFd, spec, o.allowOther);
      return;
    }
    const cleaned = await prepareMountPoint(mountPoint, { allowOther: o.allowOther });
    if (cleaned) note(cleaned);
    let pass: Buffer;
    const wrapped = o.wrapped;
    if (wrapped) {
      pass = await withSecrets({ fd: o.passphraseFd, count: 1, prompts: ['Login passphrase:'] }, ([login]) => unwrapPassphraseFile(resolve(wrapped), login!));
    } else {
      [pass] = (await readSecrets({ fd: o.passphraseFd, count: 1, prompts: ['Mount passphrase:'] })) as [Buffer];
    }
    try {
      const vol = openEcryptfs(lower, pass, spec); // checks the passphrase before anything starts
      if (o.foreground) {
        await serveEcryptfs(vol, mountPoint, () => process.stderr.write(`homecrypt: mounted at ${resolve(mountPoint)}\n`), o.allowOther);
        return;
      }
      const resolved: EcryptfsSpec = { keyBytes: vol.keyBytes, encryptNames: vol.encryptsNames, salt: o.salt };
      wipeKeys(vol.keys);
      const logFile = o.logFile ? resolve(o.logFile) : defaultLogFile(mountPoint);
      await startEcryptfsDaemon(lower, mountPoint, pass, { ...resolved, allowOther: o.allowOther, logFile });
      if (outputFlags().json)
        result({ lower: resolve(lower), mountPoint: resolve(mountPoint), keyBytes: vol.keyBytes, encryptedNames: vol.encryptsNames, logFile }, '');
    } finally {
      pass.fill(0);
    }
  });

  reporting(
    ec
      .command('migrate')
      .description("convert a user's eCryptfs Private directory or encrypted home to homecrypt (resumable; each file verified)")
      .requiredOption('--user <name>', 'the user whose ~/.Private or encrypted home (/home/.ecryptfs/USER) to migrate')
      .option('--passphrase-fd <n>', 'read the login passphrase from this fd', parseFdOption)
      .option('--kdf-time <seconds>', 'Argon2id calibration target for the new key store', parseFloat)
      .option('--no-password-check', 'do not check the passphrase against the system (installers)')
      .option('--remove-ecryptfs', 'after every file verified, delete the eCryptfs copy and ~/.ecryptfs (/home/.ecryptfs/USER for a home)')
      .addOption(new Option('--fail-after <n>').hideHelp().argParser((v) => parseInt(v, 10))),
    { progress: true },
  ).action(async (o: { user: string; passphraseFd?: number; kdfTime?: number; passwordCheck: boolean; removeEcryptfs?: boolean; failAfter?: number }) => {
    requireRoot('homecrypt ecryptfs migrate');
    lookupUser(o.user);
    const [login] = await readSecrets({ fd: o.passphraseFd, count: 1, prompts: [`Login passphrase of ${o.user}:`] });
    // Ctrl-C from here on ends with "interrupted: run the same command again" (exit 130); the record stays "migrating"
    deferInterrupts();
    const copying = progressReporter('copying', 'entries');
    try {
      const r = await migrateEcryptfs({
        user: o.user,
        loginPassphrase: login!,
        kdfTimeSeconds: o.kdfTime,
        checkPassword: o.passwordCheck,
        removeEcryptfs: !!o.removeEcryptfs,
        failAfterEntries: o.failAfter,
        // shown before the copy starts, so an interruption cannot lose it (with --json: its own JSON line)
        onRecoveryKey: (key) =>
          writeOut(
            outputFlags().json
              ? jsonLine({ user: o.user, recoveryKey: key })
              : `Recovery key for ${o.user} (shown once; store it offline, it unlocks the data if the login password is lost):\n  ${key}\n\n`,
          ),
        say: note,
        onProgress: (d, t) => copying({ done: d.entries, total: t.entries, bytes: d.bytes, totalBytes: t.bytes }),
      });
      if (outputFlags().json) {
        process.stdout.write(jsonLine({ user: o.user, migrated: true, home: r.home, entries: r.entries, bytes: r.bytes, aside: r.aside, removed: r.removed }));
        return;
      }
      process.stdout.write(
        `migrated ${r.entries} entries (${r.bytes} bytes) of ${o.user}'s eCryptfs ${r.home ? 'encrypted home' : 'Private directory'} to homecrypt\n`,
      );
      if (!r.removed) process.stdout.write(`the eCryptfs copy is kept in ${r.aside}; run again with --remove-ecryptfs to delete it\n`);
    } finally {
      wipe(login);
    }
  });

  reporting(
    ec
      .command('adopt')
      .description("let a user's eCryptfs Private directory or encrypted home unlock at login through homecrypt (data stays as it is)")
      .requiredOption('--user <name>', 'the user whose eCryptfs setup (~/.ecryptfs) to adopt')
      .option('--passphrase-fd <n>', 'read the login passphrase from this fd', parseFdOption)
      .option('--kdf-time <seconds>', 'Argon2id calibration target for the new key store', parseFloat)
      .option('--no-password-check', 'do not check the passphrase against the system (installers)'),
  ).action(async (o: { user: string; passphraseFd?: number; kdfTime?: number; passwordCheck: boolean }) => {
    requireRoot('homecrypt ecryptfs adopt');
    lookupUser(o.user);
    await withSecrets({ fd: o.passphraseFd, count: 1, prompts: [`Login passphrase of ${o.user}:`] }, async ([login]) => {
      const r = await adoptUser({ user: o.user, loginPassphrase: login!, kdfTimeSeconds: o.kdfTime, checkPassword: o.passwordCheck });
      if (outputFlags().json) {
        await writeOut(
          jsonLine({
            user: o.user,
            adopted: true,
            mode: r.record.mode,
            lower: r.record.lower,
            mountPoint: r.record.mountPoint,
            keyStore: r.record.keyStore,
            keyId: r.record.keyId,
            recoveryKey: r.recoveryKey,
          }),
        );
        return;
      }
      process.stdout.write(
        `adopted ${o.user}'s eCryptfs ${r.record.mode === 'home' ? 'home' : 'Private directory'} ${r.record.lower} -> ${r.record.mountPoint}; it unlocks at login (homecrypt pam enable)\n`,
      );
      process.stdout.write(
        `\nRecovery key for ${o.user} (shown once; store it offline, it unlocks the data if the login password is lost):\n  ${r.recoveryKey}\n`,
      );
    });
  });

  ec.command('umount')
    .description('unmount an eCryptfs directory mounted by homecrypt')
    .argument('<mountpoint>')
    .action(async (mountPoint: string) => {
      await fusermountUnmount(resolve(mountPoint), false);
    });
}
