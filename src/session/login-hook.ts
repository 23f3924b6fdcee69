// What happens to a homecrypt user at each PAM phase (run by pam_exec.so, as
// root). Every path ends normally: a failure is logged with its reason and the
// home simply stays locked; the login itself is never refused from here.
//
//   auth           password (stdin) → unwrap → mount key into the user's keyring
//   open_session   count the session; the first one mounts, as the user
//   close_session  count down; the last one unmounts and drops the key
//   password       pam_exec gives no password in this phase, so the re-wrap
//                  happens at the next login (see docs/PAM.md), as long as the
//                  key is at hand; with no key at hand the recovery key is needed
//
// Run by pam_homecrypt.so instead (mode 'module'), the password arrives at
// open_session, so a login the account phase refuses never puts a key in the
// keyring, and the password phase gets the old and new passwords: the login
// slot is re-wrapped at once and no key is kept after logout for a re-wrap
// (but for a change cut short, below).
// Its preliminary check (password_prelim, before pam_unix changes the
// password) notes the change while the key is at hand: a change cut short
// after pam_unix's update and before ours is finished at the next login.
import { KdfLimitError, WrongPassphraseError } from '../errors.js';
import { isFuseMountedAt } from '../os/mounts.js';
import { logLine, type Level } from '../os/syslog.js';
import { withUserLock } from '../os/users-lock.js';
import { lookupUser, isValidUserName, type UserAccount } from '../os/users.js';
import { mountAsUser, mountIsAlive, unmountAsUser } from './engine-ops.js';
import { dropKeyFromUserKeyring, keyFromUserKeyring, putKeyInUserKeyring, rewrapForUser, rewrapWithKey, unwrapForUser } from './key-ops.js';
import { countSessionClosed, countSessionOpened } from './session-counter.js';
import { loadUserRecord, saveUserRecord, type UserRecord } from './user-record.js';

export type HookPhase = 'auth' | 'open_session' | 'close_session' | 'password' | 'password_prelim';

/** The PAM service systemd runs user@UID.service's session under. */
export const USER_MANAGER_SERVICE = 'systemd-user';

export interface HookContext {
  user: string;
  phase: HookPhase;
  /** auth: the password PAM verified (pam_exec expose_authtok); module: open_session's, or password's new one */
  authtok?: Buffer;
  /** module, password phase: the old password (absent when none was asked: root setting it) */
  oldAuthtok?: Buffer;
  /** who runs the hook: pam_exec.so (default) or pam_homecrypt.so */
  mode?: 'exec' | 'module';
  /** PAM_SERVICE of the application */
  service?: string;
  /** shown to the person logging in (pam_exec `stdout` → PAM info message) */
  tell: (line: string) => void;
}

function log(ctx: HookContext, level: Level, msg: string): void {
  logLine(level, `${ctx.phase} ${ctx.user}: ${msg}`);
}

function recoveryHint(rec: UserRecord): string {
  return `run: homecrypt rewrap --recovery ${rec.keyStore}  (as ${rec.user}, with the recovery key shown at setup)`;
}

/** Runs one phase; never throws. Returns what was done, for tests and logs. */
export async function runLoginHook(ctx: HookContext): Promise<string> {
  try {
    if (!isValidUserName(ctx.user)) return 'ignored: no valid PAM_USER';
    let rec: UserRecord | null;
    try {
      rec = loadUserRecord(ctx.user);
    } catch (err) {
      log(ctx, 'err', `cannot use the homecrypt record: ${(err as Error).message}`);
      return 'error';
    }
    if (!rec) return 'ignored: not a homecrypt user';
    // systemd's user manager (user@UID.service) opens a PAM session of its own
    // while the first login starts it, and closes it only when it stops. It is
    // no login: counting it would keep the home mounted after the last logout
    // for as long as any process of the user lingers (docs/LOGIN.md).
    if (ctx.service === USER_MANAGER_SERVICE && (ctx.phase === 'open_session' || ctx.phase === 'close_session')) return 'ignored: the user manager';
    const account = lookupUser(ctx.user);
    if (account.uid !== rec.uid) {
      log(ctx, 'err', `the record says uid ${rec.uid} but the account has uid ${account.uid}; doing nothing`);
      return 'error';
    }
    const record = rec;
    return await withUserLock(ctx.user, async () => {
      switch (ctx.phase) {
        case 'auth':
          return auth(ctx, record, account);
        case 'open_session':
          if (ctx.mode === 'module') await unlockAtSessionOpen(ctx, record, account);
          return openSession(ctx, record, account);
        case 'close_session':
          return closeSession(ctx, record, account);
        case 'password':
          if (ctx.mode === 'module') return passwordChangedNow(ctx, record, account);
          return passwordChanged(ctx, record, account);
        case 'password_prelim':
          return passwordChangeStarting(ctx, record, account);
      }
    });
  } catch (err) {
    log(ctx, 'err', `failed: ${(err as Error).message}`);
    if (ctx.phase === 'open_session') ctx.tell(`homecrypt: your encrypted directory could not be mounted and stays locked (${(err as Error).message})`);
    return 'error';
  } finally {
    ctx.authtok?.fill(0);
    ctx.oldAuthtok?.fill(0);
  }
}

async function auth(ctx: HookContext, rec: UserRecord, user: UserAccount): Promise<string> {
  const pw = ctx.authtok;
  if (!pw || pw.length === 0) {
    log(ctx, 'notice', 'no password given (key-based or passwordless login): the home stays locked');
    return 'no password';
  }
  const started = Date.now();
  try {
    const { keyId, mountKey } = await unwrapForUser(rec.keyStore, user, pw);
    try {
      await putKeyInUserKeyring(user, keyId, mountKey);
    } finally {
      mountKey.fill(0);
    }
    if (rec.rewrapPending || rec.needsRecovery) saveUserRecord({ ...rec, rewrapPending: false, needsRecovery: false });
    log(ctx, 'info', `mount key ${keyId} unlocked into the user's keyring (${Date.now() - started} ms)`);
    return 'unlocked';
  } catch (err) {
    if (err instanceof KdfLimitError) {
      // the user's store asks root for more work than a login may do: none of it is done
      log(ctx, 'err', `key store refused after ${Date.now() - started} ms, no Argon2id run; the home stays locked: ${err.message}`);
      return 'locked: key store beyond the KDF limits';
    }
    if (!(err instanceof WrongPassphraseError)) throw err;
  }
  // The password PAM just accepted does not open the key store: the password
  // changed. Only a change seen by our password hook (rewrapPending) may be
  // finished with the key still in the keyring.
  if (rec.rewrapPending) {
    const key = await keyFromUserKeyring(user, rec.keyId);
    if (key) {
      try {
        await rewrapWithKey(rec.keyStore, user, key, pw);
      } finally {
        key.fill(0);
      }
      saveUserRecord({ ...rec, rewrapPending: false, needsRecovery: false });
      log(ctx, 'notice', 'login passphrase re-wrapped with the new password');
      return 'rewrapped';
    }
  }
  saveUserRecord({ ...rec, rewrapPending: false, needsRecovery: true });
  log(ctx, 'warning', `the login password does not open ${rec.keyStore} (changed while the key was not at hand): the home stays locked; ${recoveryHint(rec)}`);
  return 'locked: password out of sync';
}

async function openSession(ctx: HookContext, rec: UserRecord, user: UserAccount): Promise<string> {
  if (rec.state !== 'ready') {
    // setup owns the directory until it finishes: sessions neither mount nor count
    log(ctx, 'warning', 'setup is not finished (migration interrupted): not mounting; run homecrypt setup again as root');
    ctx.tell('homecrypt: your encrypted home is not ready (setup was interrupted); ask an administrator to finish it.');
    return 'setup unfinished';
  }
  let mounted = isFuseMountedAt(rec.mountPoint);
  if (mounted && !(await mountIsAlive(user, rec.mountPoint))) {
    // the daemon died (killed, crashed): clear the dead mount and mount again
    log(ctx, 'warning', `${rec.mountPoint} was a stale mount (its daemon is gone): ${await unmountAsUser(user, rec.mountPoint)}; mounting again`);
    mounted = false;
  }
  const n = countSessionOpened(ctx.user, mounted);
  if (mounted) {
    log(ctx, 'info', `session ${n} opened; ${rec.mountPoint} already mounted`);
    return `session ${n}: already mounted`;
  }
  if (!rec.autoMount) return `session ${n}: auto-mount is off`;
  const key = await keyFromUserKeyring(user, rec.keyId);
  if (!key) {
    const why = rec.needsRecovery
      ? `your password changed without your key at hand; ${recoveryHint(rec)}`
      : 'your key was not unlocked at login (no password given, or it did not open your key store)';
    log(ctx, 'warning', `home stays locked: ${why}`);
    ctx.tell(`homecrypt: your encrypted ${rec.mode === 'home' ? 'home' : 'Private directory'} stays locked: ${why}`);
    return `session ${n}: locked`;
  }
  key.fill(0);
  const started = Date.now();
  await mountAsUser(user, rec.lower, rec.mountPoint, rec.keyStore);
  log(ctx, 'info', `mounted ${rec.mountPoint} (session ${n}, ${Date.now() - started} ms)`);
  return `session ${n}: mounted`;
}

async function closeSession(ctx: HookContext, rec: UserRecord, user: UserAccount): Promise<string> {
  if (rec.state !== 'ready') return 'setup unfinished';
  const n = countSessionClosed(ctx.user);
  if (n > 0) {
    log(ctx, 'info', `session closed; ${n} left, ${rec.mountPoint} stays mounted`);
    return `sessions left: ${n}`;
  }
  const how = await unmountAsUser(user, rec.mountPoint);
  if (rec.rewrapPending) {
    // the new password is only learnt at the next login (pam_exec; with the
    // module, a change cut short before its re-wrap): keep the key until then
    log(ctx, 'notice', `${how} ${rec.mountPoint}; key kept in the keyring until the next login finishes the password change`);
    return `last session: ${how}, key kept`;
  }
  const dropped = await dropKeyFromUserKeyring(user, rec.keyId);
  log(ctx, 'info', `last session closed: ${how} ${rec.mountPoint}${dropped ? ', key dropped' : ''}`);
  return `last session: ${how}${dropped ? ', key dropped' : ''}`;
}

async function passwordChanged(ctx: HookContext, rec: UserRecord, user: UserAccount): Promise<string> {
  const key = await keyFromUserKeyring(user, rec.keyId);
  if (key) {
    key.fill(0);
    saveUserRecord({ ...rec, rewrapPending: true, needsRecovery: false });
    log(ctx, 'notice', 'password changed with the key at hand: the key store is re-wrapped at the next login');
    ctx.tell('homecrypt: your encrypted home will use the new password from your next login.');
    return 'rewrap pending';
  }
  saveUserRecord({ ...rec, rewrapPending: false, needsRecovery: true });
  const msg =
    `WARNING: the password of ${rec.user} changed while the home's key was not unlocked. ` +
    `The encrypted home stays locked at the next login until the recovery key is used: ${recoveryHint(rec)}. ` +
    `The key store ${rec.keyStore} is left intact (the old password still opens it).`;
  log(ctx, 'err', msg);
  // stderr: pam_exec's `stdout` option sends it to the user as a PAM message
  process.stderr.write(`homecrypt: ${msg}\n`);
  return 'needs recovery';
}

/**
 * module, the password change's preliminary check. pam_unix writes the new
 * password before our update re-wraps the key store; a crash, or our deadline,
 * between the two would leave a password that no longer opens the key store.
 * Noted now (the key at hand), the next login finishes the change with the
 * key, as with pam_exec; the update clears the note when it re-wraps.
 */
async function passwordChangeStarting(ctx: HookContext, rec: UserRecord, user: UserAccount): Promise<string> {
  if (ctx.mode !== 'module') return 'ignored: only the module has a preliminary check';
  const key = await keyFromUserKeyring(user, rec.keyId);
  if (!key) return 'no key at hand: nothing noted';
  key.fill(0);
  if (!rec.rewrapPending || rec.needsRecovery) saveUserRecord({ ...rec, rewrapPending: true, needsRecovery: false });
  log(ctx, 'info', 'password change starting with the key at hand: noted until the key store is re-wrapped');
  return 'change noted';
}

/** module, open_session: the password unlocks here (auth only kept it), unless the key is already in. */
async function unlockAtSessionOpen(ctx: HookContext, rec: UserRecord, user: UserAccount): Promise<void> {
  if (!ctx.authtok?.length) return;
  const present = await keyFromUserKeyring(user, rec.keyId);
  if (present) {
    present.fill(0);
    // kept for a password change cut short: this login's password finishes it (auth below)
    if (!rec.rewrapPending) return;
  }
  try {
    await auth(ctx, rec, user);
  } catch (err) {
    // as a failed auth hook: the session still opens and counts, locked
    log(ctx, 'err', `failed: ${(err as Error).message}`);
  }
}

/** module, password: the old password (or the key at hand) re-wraps the login slot now. */
async function passwordChangedNow(ctx: HookContext, rec: UserRecord, user: UserAccount): Promise<string> {
  const newPw = ctx.authtok;
  if (!newPw?.length) {
    log(ctx, 'warning', 'no new password was given to the module: the key store is unchanged');
    return 'no new password';
  }
  const done = (how: string): string => {
    saveUserRecord({ ...rec, rewrapPending: false, needsRecovery: false });
    log(ctx, 'notice', `login passphrase re-wrapped with the new password (${how})`);
    return 'rewrapped';
  };
  if (ctx.oldAuthtok?.length) {
    try {
      await rewrapForUser(rec.keyStore, user, ctx.oldAuthtok, newPw);
      return done('opened with the old password');
    } catch (err) {
      if (!(err instanceof WrongPassphraseError)) throw err;
    }
  }
  const key = await keyFromUserKeyring(user, rec.keyId);
  if (key) {
    try {
      await rewrapWithKey(rec.keyStore, user, key, newPw);
    } finally {
      key.fill(0);
    }
    return done('with the key in the keyring');
  }
  return passwordChanged(ctx, rec, user);
}
