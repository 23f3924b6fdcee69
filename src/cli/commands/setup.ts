// `homecrypt setup --user U --private|--home` (and `--undo`). The file work
// setup does as the user runs in `homecrypt user-worker` (src/cli/user-worker-main.ts).
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { setAutoMount, setupUser, undoSetup } from '../../session/setup.js';
import type { MoveProgress, TreeSummary } from '../../session/migrate-tree.js';
import { parseFdOption, readSecrets, wipe } from '../secret-input.js';
import { parseKdfTime } from './key.js';

interface SetupFlags {
  user?: string; private?: boolean; home?: boolean; undo?: boolean; yes?: boolean;
  passphraseFd?: number; kdfTime?: number; passwordCheck: boolean; autoMount?: string;
}

const MiB = 1024 * 1024;

/** A progress bar on a terminal, a line per 10 % otherwise (logs, installers). */
function progressPrinter(label = 'migrating'): (p: MoveProgress, total?: TreeSummary) => void {
  const tty = process.stderr.isTTY;
  let lastDecile = -1;
  return (p, total) => {
    const files = total?.files ?? 0;
    const frac = total ? (files > 0 ? Math.min(1, p.files / files) : 1) : 0;
    const text = total ? `${p.files}/${files} files, ${(p.bytes / MiB).toFixed(1)}/${(total.bytes / MiB).toFixed(1)} MiB` : `${p.files} files, ${(p.bytes / MiB).toFixed(1)} MiB`;
    if (tty) {
      const width = 30;
      const fill = Math.round(frac * width);
      process.stderr.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(Math.round(frac * 100)).padStart(3)}% ${text}`);
      if (frac >= 1) process.stderr.write('\n');
    } else {
      const d = Math.floor(frac * 10);
      if (d !== lastDecile) { lastDecile = d; process.stderr.write(`${label}: ${d * 10}% (${text})\n`); }
    }
  };
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
  program.command('setup')
    .description('encrypt a user\'s Private directory (--private) or whole home (--home), unlocked by their login password')
    .requiredOption('--user <name>', 'the user')
    .option('--private', 'encrypted ~/.Private mounted at ~/Private')
    .option('--home', 'the home itself, migrated in (lower data under /home/.homecrypt/USER)')
    .option('--undo', 'decrypt back to a plain directory and remove homecrypt for the user')
    .option('--yes', 'with --undo: do not ask for confirmation')
    .option('--passphrase-fd <n>', 'read the login password from this file descriptor', parseFdOption)
    .option('--kdf-time <seconds>', 'Argon2id calibration target (default about 1 s)', parseKdfTime)
    .option('--no-password-check', 'do not check the password against PAM (installers that just set it)')
    .option('--auto-mount <on|off>', 'for a user already set up: mount at login or not')
    .action(async (flags: SetupFlags) => {
      const user = flags.user!;
      if (flags.autoMount !== undefined) {
        if (flags.autoMount !== 'on' && flags.autoMount !== 'off') throw new UsageError('--auto-mount takes on or off');
        const rec = await setAutoMount(user, flags.autoMount === 'on');
        process.stdout.write(`${user}: auto-mount at login ${rec.autoMount ? 'on' : 'off'}\n`);
        return;
      }
      if (flags.undo) {
        await confirmUndo(user, flags);
        const [secret] = flags.passphraseFd !== undefined
          ? await readSecrets({ fd: flags.passphraseFd, count: 1, prompts: [''] })
          : [null];
        try {
          const rec = await undoSetup({ user, passphrase: secret ?? null, onProgress: progressPrinter('restoring') });
          process.stdout.write(`${user}'s ${rec.mode === 'home' ? 'home' : 'Private directory'} is plain again at ${rec.mountPoint}; homecrypt is removed for ${user}\n`);
        } finally {
          wipe(secret);
        }
        return;
      }
      if (!!flags.private === !!flags.home) throw new UsageError('choose one of --private or --home');
      const mode = flags.private ? 'private' : 'home';
      const [passphrase] = await readSecrets({
        fd: flags.passphraseFd, count: 1, prompts: [`Login password of ${user}:`], confirmNew: flags.passphraseFd === undefined,
      });
      try {
        const r = await setupUser({
          user, mode, passphrase, kdfTimeSeconds: flags.kdfTime, checkPassword: flags.passwordCheck,
          onProgress: progressPrinter(), say: (l) => process.stderr.write(`${l}\n`),
        });
        const rec = r.record;
        process.stderr.write(`${user}: ${mode === 'home' ? `home ${rec.mountPoint} encrypted` : `${rec.mountPoint} set up`} (key ID ${rec.keyId})`
          + `${r.moved ? `, ${r.moved.files} files migrated` : ''}; it unlocks at ${user}'s next login (homecrypt pam enable)\n`);
        if (r.recoveryKey) process.stdout.write(recoveryNotice(user, rec.keyStore, r.recoveryKey));
      } finally {
        wipe(passphrase);
      }
    });
}
