// The interactive installer: the same answers as an answers file, asked one
// by one in the terminal (@inquirer/prompts), then validated by the same code.
import { confirm, input, password, select } from '@inquirer/prompts';
import { passphraseProblem } from '../keys/passphrase-policy.js';
import { existsSync } from 'node:fs';
import { HomecryptError, RefusedError } from '../errors.js';
import { validateAnswers, USER_NAME_RE, type Answers } from './answers.js';
import type { InTarget } from './in-target.js';
import { firstRegularUser, targetUser } from './target-users.js';

export interface Interactive {
  answers: Answers;
  passphrase: string | null;
}

async function askPassphrase(user: string): Promise<string> {
  for (;;) {
    const first = await password({
      message: `Login passphrase for ${user} (it unlocks the home at login):`,
      mask: '*',
      validate: (v) => passphraseProblem(v) ?? true,
    });
    const again = await password({ message: 'The same passphrase again, to confirm:', mask: '*' });
    if (first === again) return first;
    process.stdout.write('The two passphrases differ; please type them again.\n');
  }
}

export async function askAnswers(target: InTarget, defaults: { kdfTime: number | null }): Promise<Interactive> {
  const raw: Record<string, unknown> = { version: 1, package: 'auto', kdfTime: defaults.kdfTime };
  let passphrase: string | null = null;

  const encrypt = await confirm({ message: "Encrypt a user's home directory with homecrypt?", default: true });
  if (encrypt) {
    const suggested = firstRegularUser(target)?.name;
    const user = await input({
      message: 'Which user?',
      default: suggested,
      validate: (v) => (USER_NAME_RE.test(v) && v !== 'root' ? true : 'a login name: a lower-case letter, then a-z 0-9 _ -'),
    });
    raw.user = user;
    if (!targetUser(target, user)) {
      raw.createUser = await confirm({ message: `${user} has no account in the target yet. Create it?`, default: true });
      if (!raw.createUser) throw new RefusedError(`user ${user} does not exist in the target; create the account first`);
      raw.fullName = (await input({ message: 'Full name (optional):', validate: (v) => (/[:,=]/.test(v) ? 'no : , or =' : true) })) || undefined;
    }
    raw.encryptHome = await select({
      message: 'What to encrypt?',
      choices: [
        { name: `The whole home directory of ${user}`, value: 'home' },
        { name: `A Private folder in ${user}'s home (~/Private)`, value: 'private' },
      ],
    });
    passphrase = await askPassphrase(user);
  } else {
    raw.encryptHome = 'no';
  }

  const disk = await confirm({ message: 'Encrypt a whole disk or partition too (block mode, LUKS2)?', default: false });
  if (disk) {
    const device = await input({ message: 'Device or partition (e.g. /dev/sdb1):', validate: (v) => (v.startsWith('/') ? true : 'an absolute path') });
    const name = await input({ message: 'Name of the unlocked volume (/dev/mapper/NAME):', default: 'crypthome' });
    const mountPoint = await input({ message: 'Mount it at (empty: do not mount):', default: '' });
    const format = await confirm({ message: `Format ${device} now? EVERYTHING ON IT WILL BE LOST.`, default: false });
    raw.block = { device, name, mountPoint: mountPoint || null, format };
    if (format && passphrase === null) passphrase = await askPassphrase('the volume');
    if (!existsSync(target.path(device))) process.stdout.write(`note: ${device} is not present in the target now.\n`);
  }

  const answers = validateAnswers(raw);
  const summary = [
    answers.encryptHome === 'no'
      ? 'no encrypted home'
      : `encrypt ${answers.user}'s ${answers.encryptHome === 'home' ? 'home directory' : 'Private folder'}${answers.createUser ? ' (new account)' : ''}`,
    answers.block ? `block volume ${answers.block.device} as ${answers.block.name}${answers.block.format ? ' (FORMAT)' : ''}` : 'no block volume',
  ];
  const go = await confirm({ message: `Install homecrypt into ${target.root}: ${summary.join('; ')}. Proceed?`, default: true });
  if (!go) throw new HomecryptError('cancelled: nothing was changed in the target');
  return { answers, passphrase };
}

/** After setup printed the recovery key: make sure the operator kept it. */
export async function confirmRecoveryKeyKept(): Promise<void> {
  while (!(await confirm({ message: 'Have you written the recovery key down and stored it somewhere safe?', default: false }))) {
    process.stdout.write('Without it, a forgotten passphrase means the files are lost. Scroll up, note it, then answer yes.\n');
  }
}
