// `homecrypt pam-hook auth|session|password`: what pam_exec.so runs (through
// pam/homecrypt-pam-hook). Reads PAM_USER and PAM_TYPE from the environment
// pam_exec sets and, in the auth phase, the password from stdin. Always exits 0
// so an `optional` line can never be what refuses a login.
// `pam-hook module` is what pam_homecrypt.so runs, with PAM_TYPE open_session
// (stdin: the password, NUL), close_session, or password (stdin: old NUL new NUL).
import type { Command } from 'commander';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runLoginHook, type HookPhase } from '../../session/login-hook.js';
import { ExitCode, UsageError } from '../../errors.js';
import { homecryptUsers, mountUser, unmountUser } from '../../session/user-mount.js';
import { dieWithParent } from '../../os/parent-death.js';
import { logLine } from '../../os/syslog.js';
import { readSecret } from '../../os/secret-read.js';
import { makeUndumpable } from '../../os/no-dump.js';

const MAX_AUTHTOK = 4096; // PAM_MAX_RESP_SIZE is 512; anything longer is not a password
/** login(1) gives up after 60 s (LOGIN_TIMEOUT), the shortest wait of the usual PAM callers. */
export const HOOK_DEADLINE_MS = 60_000;

/**
 * The hook holds the user's lock and runs as root: it must end when the PAM
 * process stops waiting for it (killed with it) and, whatever it is doing, by
 * the deadline (exiting releases the lock; the login itself goes on).
 */
function boundLifetime(user: string, phase: HookPhase): void {
  if (!dieWithParent()) {
    logLine('warning', `${phase} ${user}: the PAM process that ran the hook is gone; doing nothing`);
    process.exit(ExitCode.OK);
  }
  setTimeout(() => {
    logLine('err', `${phase} ${user}: gave up after ${HOOK_DEADLINE_MS / 1000} s (the login goes on; the home may stay locked)`);
    process.exit(ExitCode.OK);
  }, HOOK_DEADLINE_MS).unref();
}

/** stdin's NUL-terminated tokens (at most `count`); a missing one is empty, a longer one cut to MAX_AUTHTOK. */
function readTokens(count: number): Buffer[] {
  // pam_exec writes the password followed by one NUL; the module writes each token so
  const tokens: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    try {
      const r = readSecret(0, MAX_AUTHTOK, [0]);
      tokens.push(r.secret);
      for (let rest = r; rest.end === 'too-long';) {
        rest = readSecret(0, MAX_AUTHTOK, [0]);
        rest.secret.fill(0);
      }
    } catch {
      tokens.push(Buffer.alloc(0)); // no stdin: no password
    }
  }
  return tokens;
}

export function phaseOf(arg: string, pamType: string | undefined): HookPhase {
  if (arg === 'module' && (pamType === 'open_session' || pamType === 'close_session' || pamType === 'password' || pamType === 'password_prelim'))
    return pamType;
  if (arg === 'auth' && (pamType === undefined || pamType === 'auth')) return 'auth';
  if (arg === 'password' && (pamType === undefined || pamType === 'password')) return 'password';
  if (arg === 'session' && (pamType === 'open_session' || pamType === 'close_session')) return pamType;
  throw new UsageError(`pam-hook ${arg}: PAM_TYPE=${pamType ?? '(unset)'} does not fit; this command is run by pam_exec.so (see docs/PAM.md)`);
}

/** What pam_exec runs: reads PAM_USER/PAM_TYPE (and the password in auth), never fails the stack. */
export async function runPamHook(arg: string): Promise<void> {
  const user = process.env.PAM_USER ?? '';
  const service = process.env.PAM_SERVICE;
  const phase = phaseOf(arg, process.env.PAM_TYPE);
  // before any password is read: a core file (SIGXCPU, SIGQUIT) would hold them
  if (!makeUndumpable()) logLine('warning', `${phase} ${user}: could not make the hook undumpable`);
  boundLifetime(user, phase);
  const tell = (line: string) => {
    process.stdout.write(`${line}\n`);
  };
  if (arg === 'module') {
    const [first, second] = phase === 'password' ? readTokens(2) : phase === 'open_session' ? readTokens(1) : [];
    // password: OLD NUL NEW NUL; open_session: PASSWORD NUL
    const ctx = phase === 'password' ? { oldAuthtok: first, authtok: second } : { authtok: first };
    await runLoginHook({ user, phase, mode: 'module', service, ...ctx, tell });
  } else {
    const authtok = phase === 'auth' ? readTokens(1)[0] : undefined;
    await runLoginHook({ user, phase, authtok, service, tell });
  }
  process.exitCode = ExitCode.OK;
}

export function registerLoginHookCommands(program: Command): void {
  program
    .command('pam-hook <phase>', { hidden: true })
    .description('run by pam_exec.so: auth | session | password; by pam_homecrypt.so: module (see docs/PAM.md)')
    .action(runPamHook);

  const session = program.command('session').description("mount or unmount a homecrypt user's directory outside a login (systemd units, administrators)");
  session
    .command('mount')
    .description("mount with the key already in the user's keyring")
    .requiredOption('--user <name>', 'the user')
    .action(async (o: { user: string }) => {
      process.stdout.write(`${await mountUser(o.user)}\n`);
    });
  session
    .command('unmount')
    .description('unmount and drop the key, whatever sessions are open')
    .option('--user <name>', 'the user')
    .option('--all', 'every homecrypt user (shutdown)')
    .action(async (o: { user?: string; all?: boolean }) => {
      if (!o.user === !o.all) throw new UsageError('give --user NAME or --all');
      const names = o.all ? homecryptUsers() : [o.user!];
      let failed = 0;
      for (const n of names) {
        try {
          process.stdout.write(`${n}: ${await unmountUser(n)}\n`);
        } catch (err) {
          failed++;
          process.stderr.write(`homecrypt: ${n}: ${(err as Error).message}\n`);
        }
      }
      if (failed) process.exitCode = ExitCode.FAILURE;
    });
}

// pam/homecrypt-pam-hook runs this file directly: a login should not pay for
// loading every command group of the CLI (block mode, installer, engine).
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runPamHook(process.argv[2] ?? '').catch((err: Error) => {
    process.stderr.write(`homecrypt pam-hook: ${err.message}\n`);
    process.exitCode = err instanceof UsageError ? ExitCode.USAGE : ExitCode.OK;
  });
}
