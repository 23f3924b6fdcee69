// Creates the first user's encrypted home through `homecrypt setup`, run
// inside the chroot so it uses the target's accounts, paths and PAM. When this
// step creates the account it also sets its password to the passphrase (the
// login password is what unlocks the home), so setup need not check it; for an
// existing account setup checks the passphrase against the target's PAM, so a
// typo cannot lock the user out.
import { HomecryptError, RefusedError } from '../errors.js';
import { reason, runLogged, secretLine, type StepContext } from './context.js';
import { targetUser } from './target-users.js';
import { deliverRecoveryOutput } from './recovery-output.js';

const STEP = 'home';

/** What `homecrypt status --user U --json` says about U's home; null when not set up. */
async function currentSetup(ctx: StepContext, user: string): Promise<string | null> {
  const r = await ctx.target.run(['homecrypt', 'status', '--user', user, '--json']);
  // exit 1: set up, with something to finish or fix (its JSON says what)
  if (r.code !== 0 && r.code !== 1) return null;
  try {
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    const mode = s.mode ?? (s.home as Record<string, unknown> | undefined)?.mode;
    if (typeof mode === 'string' && mode !== 'none' && mode !== '') return mode;
    if (s.configured === true || s.setUp === true) return String(mode ?? 'set up');
  } catch {
    /* not JSON: treat as not set up */
  }
  return null;
}

export async function createEncryptedHome(ctx: StepContext): Promise<void> {
  const { answers } = ctx;
  if (answers.encryptHome === 'no' || answers.user === null) {
    ctx.log.write(STEP, 'no encrypted home was asked for');
    return;
  }
  const user = answers.user;
  let created = false;
  if (!targetUser(ctx.target, user)) {
    if (!answers.createUser) throw new RefusedError(`user ${user} does not exist in the target (create the account first, or answer "createUser": true)`);
    const argv = ['useradd', '--create-home', '--shell', '/bin/bash', ...(answers.fullName ? ['--comment', answers.fullName] : []), user];
    const r = await runLogged(ctx, STEP, argv);
    if (r.code !== 0) throw new HomecryptError(`useradd ${user} in the target failed (exit ${r.code}): ${r.stderr.trim()}`);
    // chpasswd reads "name:password" on stdin: the password never reaches argv.
    const line = Buffer.concat([Buffer.from(`${user}:`), ctx.passphrase ?? Buffer.alloc(0), Buffer.from('\n')]);
    const p = await runLogged(ctx, STEP, ['chpasswd'], { input: line }).finally(() => line.fill(0));
    if (p.code !== 0) throw new HomecryptError(`setting ${user}'s password in the target failed (chpasswd exit ${p.code})`);
    ctx.log.write(STEP, `created account ${user} with the given passphrase as login password`);
    created = true;
  }

  const existing = await currentSetup(ctx, user);
  if (existing) {
    ctx.log.write(STEP, `${user}'s home is already encrypted (${existing}); left as it is`);
    return;
  }
  const argv = ['homecrypt', 'setup', '--user', user, answers.encryptHome === 'private' ? '--private' : '--home', '--passphrase-fd', '3'];
  if (answers.kdfTime !== null) argv.push('--kdf-time', String(answers.kdfTime));
  if (created) argv.push('--no-password-check');
  ctx.say(`encrypting ${user}'s ${answers.encryptHome === 'private' ? 'Private directory' : 'home'}`);
  // setup prints the recovery key: it goes to the operator (or the file they
  // named), never into the log.
  const toFile = answers.recoveryKeyFile;
  const fd3 = secretLine(ctx.passphrase);
  const r = await ctx.target.run(argv, { fd3, inheritStdout: toFile === null, timeoutMs: 60 * 60_000 }).finally(() => fd3.fill(0));
  ctx.log.command(STEP, argv, r.code, r.stderr);
  if (r.code !== 0) {
    const why = reason(r.stderr, r.code);
    throw new HomecryptError(`homecrypt setup for ${user} in the target failed (exit ${r.code}): ${why}`);
  }
  if (toFile !== null) deliverRecoveryOutput(ctx, STEP, r.stdout);
  ctx.log.write(STEP, `${user}'s ${answers.encryptHome === 'private' ? 'Private directory' : 'home'} is encrypted`);
}
