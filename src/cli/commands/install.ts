// `homecrypt install`: the OS-installer step (src/installer/). Parses options,
// gathers the answers (file or prompts) and the passphrase, and prints.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { HomecryptError, UsageError } from '../../errors.js';
import { parseAnswers, type Answers } from '../../installer/answers.js';
import { InTarget } from '../../installer/in-target.js';
import { checkTargetExists, checkTargetShape } from '../../installer/target-checks.js';
import { requireRoot } from '../../os/require-root.js';
import { passphraseProblem } from '../../keys/passphrase-policy.js';
import { resolve } from 'node:path';
import { installIntoTarget } from '../../installer/install.js';
import { askAnswers, confirmRecoveryKeyKept } from '../../installer/prompts.js';
import { readPassphraseFile } from '../../installer/passphrase-file.js';
import { parseFdOption, readSecrets, wipe } from '../secret-input.js';

interface InstallCliOptions {
  target: string;
  answers?: string;
  passphraseFd?: string;
  kdfTime?: string;
  package?: string;
}

function parseKdfTime(v: string | undefined): number | null {
  if (v === undefined) return null;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0.01 || n > 60) throw new UsageError(`--kdf-time: a number of seconds from 0.01 to 60 (got ${v})`);
  return n;
}

function needsPassphrase(a: Answers): boolean {
  return (a.encryptHome !== 'no' && a.user !== null) || a.block?.format === true;
}

function readAnswersFile(file: string): Answers {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--answers ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  return parseAnswers(text, file);
}

export function registerInstall(program: Command): void {
  program
    .command('install')
    .description("OS-installer step: install homecrypt into a target root and encrypt the first user's home")
    .requiredOption('--target <root>', 'root of the system being installed (chroot semantics, like in-target)')
    .option('--answers <file>', 'non-interactive: answers file (JSON, see docs/INSTALLER.md)')
    .option('--passphrase-fd <n>', 'read the passphrase from this file descriptor (one line)')
    .option('--kdf-time <seconds>', 'Argon2id calibration target (overrides the answers file)')
    .option('--package <how>', 'auto (the .deb of this build, else copy the build), copy, or FILE.deb (overrides the answers file)')
    .addHelpText(
      'after',
      '\nWithout --answers the questions are asked in the terminal. The log of what was done\n' + 'is kept in the target at /var/log/homecrypt-install.log.',
    )
    .action(async (opts: InstallCliOptions) => {
      const kdfTime = parseKdfTime(opts.kdfTime);
      const pkg = opts.package;
      if (pkg !== undefined && pkg !== 'auto' && pkg !== 'copy' && !(pkg.startsWith('/') && pkg.endsWith('.deb'))) {
        throw new UsageError(`--package: "auto", "copy" or the absolute path of a .deb (got ${pkg})`);
      }
      // root, the target and the answers are checked before any question is asked
      requireRoot('homecrypt install');
      checkTargetExists(resolve(opts.target));
      let answers: Answers | null = null;
      let passphrase: Buffer | null = null;
      const interactive = opts.answers === undefined;
      if (interactive) {
        if (!process.stdin.isTTY) throw new UsageError('no --answers file and no terminal to ask the questions in');
        if (opts.passphraseFd !== undefined) throw new UsageError('--passphrase-fd goes with --answers (interactively the passphrase is asked)');
      } else {
        answers = readAnswersFile(opts.answers as string);
        if (kdfTime !== null) answers = { ...answers, kdfTime };
        if (pkg !== undefined) answers = { ...answers, package: pkg };
        if (opts.passphraseFd !== undefined && answers.passphraseFile !== null) {
          throw new UsageError('the passphrase comes from --passphrase-fd or from the answer "passphraseFile", not both');
        }
        if (needsPassphrase(answers)) {
          if (opts.passphraseFd !== undefined) {
            [passphrase] = (await readSecrets({ fd: parseFdOption(opts.passphraseFd), count: 1, prompts: [] })) as [Buffer];
            const why = passphraseProblem(passphrase);
            if (why) {
              wipe(passphrase);
              throw new UsageError(`--passphrase-fd: ${why}`);
            }
          } else if (answers.passphraseFile !== null) {
            passphrase = readPassphraseFile(answers.passphraseFile);
          } else {
            throw new UsageError(
              `${opts.answers}: answers: "passphraseFile" is required to encrypt ${answers.user ? `${answers.user}'s home` : 'the volume'} (or pass --passphrase-fd)`,
            );
          }
        }
      }
      checkTargetShape(resolve(opts.target), new InTarget(opts.target));
      if (answers === null) {
        const asked = await askAnswers(new InTarget(opts.target), { kdfTime }).catch((err: unknown) => {
          // Ctrl-C or a closed terminal while asking: nothing has been changed yet.
          if ((err as Error)?.name === 'ExitPromptError' || (err as Error)?.name === 'AbortPromptError') {
            throw new HomecryptError('cancelled: nothing was changed in the target');
          }
          throw err;
        });
        answers = pkg ? { ...asked.answers, package: pkg } : asked.answers;
        passphrase = asked.passphrase === null ? null : Buffer.from(asked.passphrase, 'utf8');
      }
      const showsKey = interactive && answers.encryptHome !== 'no' && answers.recoveryKeyFile === null;
      let result;
      try {
        result = await installIntoTarget({ root: opts.target, answers, passphrase });
      } finally {
        wipe(passphrase);
      }
      if (showsKey) {
        await confirmRecoveryKeyKept().catch((err: unknown) => {
          if ((err as Error)?.name !== 'ExitPromptError') throw err;
          process.stderr.write('homecrypt: the recovery key was shown above; keep it safe\n');
        });
      }
      process.stdout.write(`homecrypt is installed in ${opts.target}; what was done is logged in ${result.log}\n`);
    });
}
