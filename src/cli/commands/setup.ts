// `homecrypt setup --user U --private|--home` (and `--undo`). The file work
// setup does as the user runs in `homecrypt user-worker` (src/cli/user-worker-main.ts).
import { Option, type Command } from 'commander';
import { UsageError } from '../../errors.js';
import { checkSetupRecord, setAutoMount, setupUser, undoSetup } from '../../session/setup.js';
import { forgetUser } from '../../session/forget.js';
import { pamEnabled } from '../../session/pam-config.js';
import { loadUserRecord } from '../../session/user-record.js';
import { requireRoot } from '../../os/require-root.js';
import { lookupUser } from '../../os/users.js';
import { deferInterrupts } from '../../os/interrupt.js';
import type { MoveProgress, TreeSummary } from '../../session/migrate-tree.js';
import { parseFdOption, readSecrets, wipe, withSecretTries } from '../secret-input.js';
import { parseKdfTime } from './key.js';
import { writeOut } from '../write-out.js';
import { jsonLine, note, outputFlags, reporting, result } from '../output.js';
import { progressReporter } from '../progress.js';

interface SetupFlags {
  user?: string;
  private?: boolean;
  home?: boolean;
  undo?: boolean;
  forget?: boolean;
  yes?: boolean;
  passphraseFd?: number;
  kdfTime?: number;
  passwordCheck: boolean;
  autoMount?: string;
  quiet?: boolean;
}

/** Migration and undo progress in the one progress style (progress.ts). */
function progressPrinter(label = 'migrating'): (p: MoveProgress, total?: TreeSummary) => void {
  const report = progressReporter(label);
  return (p, total) => report({ done: p.files, total: total?.files, bytes: p.bytes, totalBytes: total?.bytes });
}

function recoveryNotice(user: string, keyStore: string, key: string): string {
  return [
    '',
    `Recovery key for ${user} — shown only this once:`,
    '',
    `    ${key}`,
    '',
    'Write it down or print it and keep it away from this computer. It opens the',
    `encrypted data if ${user}'s password is forgotten or reset by an administrator:`,
    `    homecrypt rewrap --recovery ${keyStore}`,
    'Without it and without the password, the data cannot be recovered by anyone.',
    '',
  ].join('\n');
}

async function confirmUndo(user: string, flags: SetupFlags): Promise<void> {
  if (flags.yes) return;
  if (!process.stdin.isTTY || flags.passphraseFd !== undefined) {
    throw new UsageError('setup --undo asks for confirmation on a terminal; pass --yes to confirm from a script');
  }
  const { input } = await import('@inquirer/prompts');
  const answer = await input({ message: `Decrypt ${user}'s files back to plain disk and remove homecrypt for ${user}? Type the user name to confirm:` });
  if (answer.trim() !== user) throw new UsageError('not confirmed; nothing changed');
}

export function registerSetupCommands(program: Command): void {
  reporting(
    program
      .command('setup')
      .description("encrypt a user's Private directory (--private) or whole home (--home), unlocked by their login password")
      .requiredOption('--user <name>', 'the user')
      .option('--private', 'encrypted ~/.Private mounted at ~/Private')
      .option('--home', 'the home itself, migrated in (lower data under /home/.homecrypt/USER)')
      .option('--undo', 'decrypt back to a plain directory and remove homecrypt for the user')
      .option('--forget', 'remove the record of a deleted account (its encrypted data is left in place)')
      .option('--yes', 'with --undo: do not ask for confirmation')
      .option('--passphrase-fd <n>', 'read the login password from this file descriptor', parseFdOption)
      .option('--kdf-time <seconds>', 'Argon2id calibration target (default about 1 s)', parseKdfTime)
      .option('--no-password-check', 'do not check the password against PAM (installers that just set it)')
      .addOption(new Option('--auto-mount <on|off>', 'for a user already set up: mount at login or not').choices(['on', 'off'])),
    { progress: true },
  ).action(async (flags: SetupFlags) => {
    const user = flags.user!;
    if (flags.autoMount !== undefined) {
      if (flags.autoMount !== 'on' && flags.autoMount !== 'off') throw new UsageError('--auto-mount takes on or off');
      const rec = await setAutoMount(user, flags.autoMount === 'on');
      result({ user, autoMount: rec.autoMount }, `${user}: auto-mount at login ${rec.autoMount ? 'on' : 'off'}\n`);
      return;
    }
    if (flags.forget) {
      const r = await forgetUser(user);
      result(
        { user, forgotten: true, uid: r.record.uid, mode: r.record.mode, leftBehind: r.leftBehind },
        `${user}: homecrypt record removed (it named uid ${r.record.uid}, ${r.record.mode} mode)\n` +
          (r.leftBehind.length ? `the encrypted data is left in place: ${r.leftBehind.join(', ')}; delete it once its recovery key is no longer wanted\n` : ''),
      );
      return;
    }
    requireRoot(flags.undo ? 'homecrypt setup --undo' : 'homecrypt setup');
    const account = lookupUser(user);
    if (flags.undo) {
      const rec = loadUserRecord(account.name);
      if (!rec) throw new UsageError(`${user} does not use homecrypt`);
      await confirmUndo(user, flags);
      deferInterrupts();
      const [secret] = flags.passphraseFd !== undefined ? await readSecrets({ fd: flags.passphraseFd, count: 1, prompts: [''] }) : [null];
      try {
        const { record: rec, kept, notes } = await undoSetup({ user, passphrase: secret ?? null, onProgress: progressPrinter('restoring'), say: note });
        result(
          { user, undone: true, mode: rec.mode, path: rec.mountPoint, kept },
          `${user}'s ${rec.mode === 'home' ? 'home' : 'Private directory'} is plain again at ${rec.mountPoint}; homecrypt is removed for ${user}\n` +
            notes.map((n) => `${n}\n`).join(''),
        );
      } finally {
        wipe(secret);
      }
      return;
    }
    if (!!flags.private === !!flags.home) throw new UsageError('choose one of --private or --home');
    const mode = flags.private ? 'private' : 'home';
    // what can be checked without the password is checked before asking for it
    checkSetupRecord(account, mode);
    deferInterrupts();
    const r = await withSecretTries(
      {
        fd: flags.passphraseFd,
        count: 1,
        prompts: [`Login password of ${user}:`],
        confirmNew: flags.passphraseFd === undefined,
        newPassphrase: true,
      },
      ([passphrase]) =>
        setupUser({
          user,
          mode,
          passphrase: passphrase!,
          kdfTimeSeconds: flags.kdfTime,
          checkPassword: flags.passwordCheck,
          onProgress: progressPrinter(),
          say: note,
          // shown before the long work starts, so an interruption cannot lose it (with --json: its own JSON line)
          onRecoveryKey: (key, rec) =>
            writeOut(outputFlags().json ? jsonLine({ user, keyStore: rec.keyStore, recoveryKey: key }) : recoveryNotice(user, rec.keyStore, key)),
        }),
    );
    const rec = r.record;
    const enabled = pamEnabled();
    if (outputFlags().json) {
      process.stdout.write(
        jsonLine({
          user,
          mode,
          keyId: rec.keyId,
          mountPoint: rec.mountPoint,
          lower: rec.lower,
          keyStore: rec.keyStore,
          resumed: r.resumed,
          filesMigrated: r.moved?.files ?? null,
          bytesMigrated: r.moved?.bytes ?? null,
          pamEnabled: enabled,
        }),
      );
      return;
    }
    // the truth about the hook, inside the parentheses (scenarios mask them: the host's PAM state varies)
    const pam = `it unlocks at login through the PAM hook (${enabled ? `PAM hook enabled: at ${user}'s next login` : 'PAM hook disabled: not before homecrypt pam enable'})`;
    if (!flags.quiet) {
      process.stderr.write(
        `${user}: ${mode === 'home' ? `home ${rec.mountPoint} encrypted` : `${rec.mountPoint} set up`} (key ID ${rec.keyId})` +
          `${r.moved ? `, ${r.moved.files} files migrated` : ''}; ${pam}\n`,
      );
    }
  });
}
