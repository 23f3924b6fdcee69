// Logins through a real PAM stack (pam_unix + the shipped homecrypt lines,
// driven by pamtester) for a real account whose home is encrypted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { skipUnless } from '../helpers/requirements.js';
import { createPamService, pamtester, type PamService } from '../helpers/pam.js';
import { asUser, createTestUser, removeTestUser, type TestUser } from '../helpers/users.js';
import { watchForSecret, type SecretWatch } from '../helpers/secret-watch.js';
import { unwrapKeyStore } from '../../src/keys/key-store.js';
import { runLoginHook } from '../../src/session/login-hook.js';
import { BIN, hookLog, isMounted, lowerHidesText, mountDaemonsOf, wholeHookLog, setupUser, userKeys, waitFor } from './login-helpers.js';

const NOTE = 'the plaintext of a homecrypt login test';
// put in a process's argv on purpose at the end, to show the watch does see secrets
const CANARY = `canary-${process.pid}-${Date.now()}`;

describe.skipIf(skipUnless('root', 'fuse', 'keyring', 'PAM login scenarios'))('PAM login (pamtester, home mode)', () => {
  let svc: PamService;
  let u: TestUser;
  let keyId = '';
  let recoveryKey = '';
  let watch: SecretWatch;
  const base = () => `/home/.homecrypt/${u.name}`;
  const lower = () => `${base()}/lower`;
  const keyStore = () => `${base()}/homecrypt.keys`;

  // pam_nologin's file= stands in for /etc/nologin, which would refuse every login on this machine
  const nologin = `/tmp/homecrypt-test-nologin-${process.pid}`;
  /** `homecrypt key unwrap` as the user, the password on stdin: does it open the key store? */
  const keyUnwrap = (who: TestUser, password: string) =>
    asUser(who, `${process.execPath} ${BIN} key unwrap ${keyStore()} --passphrase-fd 0 >/dev/null`, `${password}\n`);

  beforeAll(() => {
    svc = createPamService({ account: [`account required pam_nologin.so file=${nologin}`] });
    u = createTestUser('hcl');
    writeFileSync(`${u.home}/notes.txt`, NOTE);
    chownSync(`${u.home}/notes.txt`, u.uid, u.gid);
    const s = setupUser(u, 'home');
    keyId = s.keyId;
    recoveryKey = s.recoveryKey;
    // every secret these logins use: the password (and the changed ones built
    // from it in tests 4 and 6: a match is a substring) and the recovery key
    watch = watchForSecret(u.password, recoveryKey, CANARY);
  });

  afterAll(async () => {
    await watch?.stop().catch(() => undefined);
    removeTestUser(u, [base()]);
    svc?.remove();
  });

  const login = (password: string) => pamtester(svc.name, u.name, ['authenticate', 'open_session'], `${password}\n`);
  const logout = () => pamtester(svc.name, u.name, ['close_session']);

  it('setup migrated the home: the key store opens and the record names the key', () => {
    expect(recoveryKey).toMatch(/^[0-9A-Z]{5}(-[0-9A-Z]{5}){3,}$/);
    expect(isMounted(u.home)).toBe(false);
    expect(lowerHidesText(lower(), NOTE)).toBe(true);
    expect(JSON.parse(readFileSync(`/etc/homecrypt/users/${u.name}.json`, 'utf8')).mode).toBe('home');
  });

  it('1. auth + open_session mounts the plaintext for the user over ciphertext; close unmounts and drops the key', () => {
    const r = login(u.password);
    expect(r.code, r.stderr).toBe(0);
    expect(isMounted(u.home)).toBe(true);
    expect(userKeys(u)).toContain(`homecrypt:${keyId}`);
    expect(asUser(u, 'cat ~/notes.txt').stdout).toBe(NOTE);
    expect(asUser(u, 'echo "written in a session" > ~/new-file.txt && cat ~/new-file.txt').stdout).toBe('written in a session\n');
    expect(lowerHidesText(lower(), NOTE)).toBe(true);
    expect(lowerHidesText(lower(), 'written in a session')).toBe(true);
    expect(lowerHidesText(lower(), 'new-file')).toBe(true);
    // root, not the user, cannot read the mount (no allow_other)
    expect(() => readFileSync(`${u.home}/notes.txt`)).toThrow();
    const out = logout();
    expect(out.code, out.stderr).toBe(0);
    expect(isMounted(u.home)).toBe(false);
    expect(userKeys(u)).not.toContain('homecrypt:');
    expect(wholeHookLog()).not.toContain(u.password);
    expect(hookLog(u.name)).toMatch(/open_session .*: mounted /);
  });

  it('3. two concurrent sessions: the first logout keeps the home mounted, the last unmounts', () => {
    expect(login(u.password).code).toBe(0);
    expect(login(u.password).code).toBe(0);
    expect(isMounted(u.home)).toBe(true);
    expect(logout().code).toBe(0);
    expect(isMounted(u.home)).toBe(true);
    expect(asUser(u, 'cat ~/notes.txt').stdout).toBe(NOTE);
    expect(logout().code).toBe(0);
    expect(isMounted(u.home)).toBe(false);
    expect(userKeys(u)).not.toContain('homecrypt:');
  });

  it('a mount whose daemon was killed is cleared and mounted again at the next login', () => {
    expect(login(u.password).code).toBe(0);
    const daemon = mountDaemonsOf(u)[0];
    expect(daemon).toBeGreaterThan(0);
    process.kill(daemon!, 'SIGKILL');
    // until the killed daemon's descriptors are closed, a request waits in the
    // queue and ends with ECONNABORTED; after, the mount answers ENOTCONN
    const pid = daemon!;
    spawnSync('sh', ['-c', `for i in $(seq 100); do s=$(awk '{print $3}' /proc/${pid}/stat 2>/dev/null) || break; [ "$s" = Z ] && break; sleep 0.05; done`]);
    expect(asUser(u, 'cat ~/notes.txt').stderr).toMatch(/not connected/);
    expect(login(u.password).code).toBe(0);
    expect(asUser(u, 'cat ~/notes.txt').stdout).toBe(NOTE);
    expect(hookLog(u.name)).toMatch(/was a stale mount/);
    expect(logout().code).toBe(0);
    expect(isMounted(u.home)).toBe(false);
  });

  it('a process left inside at logout: the home is detached lazily, a login meanwhile stays locked (its daemon still serves the lower), the next one after it mounts', async () => {
    expect(login(u.password).code).toBe(0);
    const first = mountDaemonsOf(u)[0]!;
    expect(first).toBeGreaterThan(0);
    // a process the user leaves behind, its working directory in the home
    expect(asUser(u, 'cd ~ && sleep 600 </dev/null >/dev/null 2>&1 &').code).toBe(0);
    expect(logout().code).toBe(0);
    expect(isMounted(u.home)).toBe(false);
    expect(hookLog(u.name)).toMatch(/detached/);
    const r = login(u.password);
    expect(r.code, r.stderr).toBe(0);
    expect(isMounted(u.home)).toBe(false);
    expect(mountDaemonsOf(u)).toEqual([first]);
    expect(hookLog(u.name)).toContain(
      `is being served by another homecrypt daemon (pid ${first}): a mount lazily detached at logout keeps serving until the last process inside it exits`,
    );
    expect(logout().code).toBe(0);
    spawnSync('pkill', ['-KILL', '-u', String(u.uid), '-x', 'sleep']);
    await waitFor("the detached mount's daemon to exit", () => mountDaemonsOf(u).length === 0);
    expect(login(u.password).code).toBe(0);
    expect(asUser(u, 'cat ~/notes.txt').stdout).toBe(NOTE);
    expect(logout().code).toBe(0);
    expect(isMounted(u.home)).toBe(false);
  });

  it('5. a wrong password: pam_unix denies, nothing mounted, no key', () => {
    const r = pamtester(svc.name, u.name, ['authenticate'], 'not-the-password\n');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Authentication failure/);
    expect(isMounted(u.home)).toBe(false);
    expect(userKeys(u)).not.toContain('homecrypt:');
  });

  it('4. passwd through PAM re-wraps at once: the old password stops opening the key store before any further login', async () => {
    const oldPw = u.password;
    const newPw = `${oldPw}-new`;
    expect(login(oldPw).code).toBe(0);
    // the user changes their own password (real uid the user, as setuid passwd runs)
    const ch = pamtester(svc.name, u.name, ['chauthtok'], `${oldPw}\n${newPw}\n${newPw}\n`, u.uid);
    expect(ch.code, ch.stderr + ch.stdout).toBe(0);
    // the preliminary check noted the change (the key at hand) before pam_unix wrote the new password
    expect(hookLog(u.name)).toMatch(/password_prelim .*: password change starting with the key at hand/);
    expect(hookLog(u.name)).toMatch(/password .*: login passphrase re-wrapped with the new password \(opened with the old password\)/);
    expect(JSON.parse(readFileSync(`/etc/homecrypt/users/${u.name}.json`, 'utf8')).rewrapPending).toBe(false);
    // immediately, with the session still open: `homecrypt key unwrap` as the user
    expect(keyUnwrap(u, oldPw).code).not.toBe(0);
    expect(keyUnwrap(u, newPw).code).toBe(0);
    expect(logout().code).toBe(0);
    expect(isMounted(u.home)).toBe(false);
    // the module keeps no key after logout for a re-wrap (pam_exec had to)
    expect(userKeys(u)).not.toContain('homecrypt:');
    expect(login(oldPw).code).not.toBe(0);
    expect(isMounted(u.home)).toBe(false);
    expect(login(newPw).code).toBe(0);
    expect(isMounted(u.home)).toBe(true);
    expect(asUser(u, 'cat ~/notes.txt').stdout).toBe(NOTE);
    expect(logout().code).toBe(0);
    expect(isMounted(u.home)).toBe(false);
    await expect(unwrapKeyStore(keyStore(), Buffer.from(oldPw), { expectUid: u.uid })).rejects.toThrow(/wrong passphrase/);
    const ok = await unwrapKeyStore(keyStore(), Buffer.from(newPw), { expectUid: u.uid });
    expect(ok.keyId).toBe(keyId);
    u.password = newPw;
  }, 240_000);

  it('root resets the password while the user is logged in: re-wrapped at once with the key at hand', async () => {
    const reset = `${u.password}-root`;
    expect(login(u.password).code).toBe(0);
    const ch = pamtester(svc.name, u.name, ['chauthtok'], `${reset}\n${reset}\n`);
    expect(ch.code, ch.stderr).toBe(0);
    expect(hookLog(u.name)).toMatch(/login passphrase re-wrapped with the new password \(with the key in the keyring\)/);
    expect(keyUnwrap(u, u.password).code).not.toBe(0);
    expect(keyUnwrap(u, reset).code).toBe(0);
    expect(logout().code).toBe(0);
    expect(userKeys(u)).not.toContain('homecrypt:');
    u.password = reset;
  }, 240_000);

  it("a password change cut short after pam_unix's update and before the module's (a crash, the hook's deadline) is finished at the next login", async () => {
    const newPw = `${u.password}-cut`;
    expect(login(u.password).code).toBe(0);
    // what the module runs at the preliminary check, then pam_unix's update alone: chpasswd's
    // own PAM stack has no homecrypt line here, so the module's update never runs (the cut)
    expect(await runLoginHook({ user: u.name, phase: 'password_prelim', mode: 'module', tell: () => {} })).toBe('change noted');
    expect(spawnSync('chpasswd', [], { input: `${u.name}:${newPw}\n` }).status).toBe(0);
    expect(keyUnwrap(u, newPw).code).not.toBe(0);
    // the last logout keeps the key for the re-wrap the update did not make
    expect(logout().code).toBe(0);
    expect(isMounted(u.home)).toBe(false);
    expect(userKeys(u)).toContain('homecrypt:');
    // the daemon of that session is on its way out; the next mount would meet it
    await waitFor('the mount daemon gone', () => mountDaemonsOf(u).length === 0);
    expect(login(newPw).code).toBe(0);
    expect(isMounted(u.home)).toBe(true);
    expect(hookLog(u.name)).toMatch(/login passphrase re-wrapped with the new password$/m);
    expect(asUser(u, 'cat ~/notes.txt').stdout).toBe(NOTE);
    expect(keyUnwrap(u, u.password).code).not.toBe(0);
    expect(keyUnwrap(u, newPw).code).toBe(0);
    expect(logout().code).toBe(0);
    expect(userKeys(u)).not.toContain('homecrypt:');
    expect(JSON.parse(readFileSync(`/etc/homecrypt/users/${u.name}.json`, 'utf8')).rewrapPending).toBe(false);
    u.password = newPw;
  }, 240_000);

  it('a login the account phase refuses (pam_nologin) leaves no key in the keyring, though auth accepted the password', () => {
    writeFileSync(nologin, 'maintenance\n');
    try {
      const r = pamtester(svc.name, u.name, ['authenticate', 'acct_mgmt', 'open_session'], `${u.password}\n`);
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/maintenance|Authentication service cannot retrieve|account/i);
      expect(userKeys(u)).not.toContain('homecrypt:');
      expect(isMounted(u.home)).toBe(false);
    } finally {
      rmSync(nologin, { force: true });
    }
    // the same login without /etc/nologin's stand-in goes through
    expect(pamtester(svc.name, u.name, ['authenticate', 'acct_mgmt', 'open_session'], `${u.password}\n`).code).toBe(0);
    expect(isMounted(u.home)).toBe(true);
    expect(logout().code).toBe(0);
    expect(userKeys(u)).not.toContain('homecrypt:');
  }, 240_000);

  it('a login entered set-uid from another account (real uid not root, as su and sudo run) unlocks and mounts', () => {
    const other = createTestUser('hco');
    try {
      const r = pamtester(svc.name, u.name, ['authenticate', 'open_session'], `${u.password}\n`, other.uid);
      expect(r.code, r.stderr).toBe(0);
      expect(isMounted(u.home)).toBe(true);
      expect(asUser(u, 'cat ~/notes.txt').stdout).toBe(NOTE);
      expect(pamtester(svc.name, u.name, ['close_session'], '', other.uid).code).toBe(0);
      expect(isMounted(u.home)).toBe(false);
      expect(userKeys(u)).not.toContain('homecrypt:');
    } finally {
      removeTestUser(other);
    }
  }, 240_000);

  it('6. root resets the password: login works, the home stays locked with a clear message, rewrap --recovery repairs it', async () => {
    const reset = `${u.password}-reset`;
    const ch = pamtester(svc.name, u.name, ['chauthtok'], `${reset}\n${reset}\n`);
    expect(ch.code, ch.stderr).toBe(0);
    expect(ch.stdout + ch.stderr).toMatch(/recovery key/);
    expect(hookLog(u.name)).toMatch(new RegExp(`password of ${u.name} changed while the home's key was not unlocked`));
    const r = login(reset);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/stays locked: .*homecrypt rewrap --recovery/);
    expect(isMounted(u.home)).toBe(false);
    expect(logout().code).toBe(0);
    const fix = asUser(
      u,
      `${process.execPath} ${new URL('../../bin/homecrypt', import.meta.url).pathname} rewrap --recovery ${keyStore()} --passphrase-fd 0`,
      `${recoveryKey}\n${reset}\n`,
    );
    expect(fix.code, fix.stderr).toBe(0);
    expect(login(reset).code).toBe(0);
    expect(isMounted(u.home)).toBe(true);
    expect(asUser(u, 'cat ~/notes.txt').stdout).toBe(NOTE);
    expect(logout().code).toBe(0);
    await waitFor('unmount', () => !isMounted(u.home));
    u.password = reset;
  });

  it('a broken unlock never blocks the login: corrupt key store → login succeeds, home locked, reason logged and shown', () => {
    const good = readFileSync(keyStore());
    try {
      writeFileSync(keyStore(), good.subarray(0, 40));
      const r = login(u.password);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/stays locked/);
      expect(isMounted(u.home)).toBe(false);
      expect(hookLog(u.name)).toMatch(new RegExp(`open_session ${u.name}: failed: ${keyStore()}: `));
      expect(logout().code).toBe(0);
    } finally {
      writeFileSync(keyStore(), good);
    }
  });

  it('7. no secret appeared in any /proc/*/cmdline or environ during all the logins, password changes and the recovery above, nor in the log', async () => {
    const decoy = spawnSync('sh', ['-c', 'sleep 0.5', CANARY]);
    expect(decoy.status).toBe(0);
    const seen = await watch.stop();
    expect(seen.scans).toBeGreaterThan(100);
    // the decoy, and nothing else
    expect(seen.hits.length).toBeGreaterThan(0);
    expect(seen.hits.every((h) => h.endsWith('/cmdline:sh'))).toBe(true);
    expect(wholeHookLog()).not.toContain(u.password);
    expect(wholeHookLog()).not.toContain(recoveryKey);
  });

  it.each([
    ['the module returns at once and starts no process', 'module'],
    ['the pam_exec hook script exits before node (it reads the password at auth)', 'exec'],
  ] as const)('a user without homecrypt is untouched: %s', (_, flavour) => {
    const other = createTestUser('hcn');
    const service = flavour === 'exec' ? createPamService({ flavour }) : svc;
    try {
      // every program started during the login and a password change (strace follows every fork; -s 512: whole paths)
      const trace = `/tmp/homecrypt-test-strace-${process.pid}`;
      const r = spawnSync(
        'strace',
        [
          '-f',
          '-qq',
          '-s',
          '512',
          '-e',
          'trace=execve',
          '-o',
          trace,
          'pamtester',
          service.name,
          other.name,
          'authenticate',
          'open_session',
          'close_session',
          'chauthtok',
        ],
        { input: `${other.password}\n${other.password}-x\n${other.password}-x\n`, encoding: 'utf8', timeout: 60_000 },
      );
      const execs = readFileSync(trace, 'utf8')
        .split('\n')
        .filter((l) => l.includes('execve('));
      rmSync(trace, { force: true });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).not.toMatch(/homecrypt:/);
      // pamtester itself and pam_unix's helpers only (with pam_exec: the hook script, and cat at auth): no node
      const allowed =
        flavour === 'exec'
          ? /execve\("[^"]*\/(pamtester|unix_chkpwd|unix_update|homecrypt-pam-hook|cat)"/
          : /execve\("[^"]*\/(pamtester|unix_chkpwd|unix_update)"/;
      expect(execs.length).toBeGreaterThan(0);
      expect(
        execs.every((l) => allowed.test(l)),
        execs.join('\n'),
      ).toBe(true);
      if (flavour === 'exec') expect(execs.filter((l) => /\/homecrypt-pam-hook"/.test(l)).length, 'the hook script runs for each PAM line').toBe(4);
      expect(hookLog(other.name)).toBe('');
    } finally {
      if (service !== svc) service.remove();
      removeTestUser(other);
    }
  });
});
