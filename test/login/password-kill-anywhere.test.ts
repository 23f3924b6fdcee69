// passwd through a real PAM stack (pam_unix, then pam_homecrypt.so) SIGKILLed
// at a random moment within its usual duration, round after round, by a user
// logged in with an encrypted home, as a crash or a closed terminal would stop
// it: whichever password the system then has (pam_unix's, the old one or the
// new one, never neither), a logout and a login with it mounts the home with
// its files. The key store is re-wrapped after pam_unix has written the new
// password; the change is noted before (docs/PAM.md, "A change cut short").
// HOMECRYPT_KILL_ROUNDS sets the rounds (default 4; a soak: 60).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomInt } from 'node:crypto';
import { chownSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { skipUnless } from '../helpers/requirements.js';
import { createPamService, pamtester, type PamService } from '../helpers/pam.js';
import { asUser, createTestUser, removeTestUser, type TestUser } from '../helpers/users.js';
import { runKilledAfter } from '../helpers/kill-after.js';
import { isMounted, mountDaemonsOf, setupUser, waitFor } from './login-helpers.js';

const ROUNDS = Number(process.env.HOMECRYPT_KILL_ROUNDS ?? 4);
const NOTE = 'what a password change must not lock away';

describe.skipIf(skipUnless('root', 'fuse', 'keyring', 'PAM password changes killed'))('passwd killed at a random moment (module)', () => {
  let svc: PamService;
  let u: TestUser;

  beforeAll(() => {
    svc = createPamService();
    u = createTestUser('hck');
    writeFileSync(`${u.home}/notes.txt`, NOTE);
    chownSync(`${u.home}/notes.txt`, u.uid, u.gid);
    setupUser(u, 'home');
  });

  afterAll(() => {
    pamtester(svc.name, u.name, ['close_session']);
    removeTestUser(u, [`/home/.homecrypt/${u.name}`]);
    svc?.remove();
  });

  const login = (pw: string) => pamtester(svc.name, u.name, ['authenticate', 'open_session'], `${pw}\n`);
  const logout = () => pamtester(svc.name, u.name, ['close_session']);
  const accepts = (pw: string) => pamtester(svc.name, u.name, ['authenticate'], `${pw}\n`).code === 0;
  // like a setuid passwd the user runs: real uid the user, effective uid root
  const passwd = ['--ruid', '', '--', 'pamtester', '', '', 'chauthtok'];

  it(`${ROUNDS} rounds: the password the system has afterwards logs in and mounts the home`, async () => {
    passwd[1] = String(u.uid);
    passwd[4] = svc.name;
    passwd[5] = u.name;
    let current = u.password;
    expect(login(current).code).toBe(0);
    expect(isMounted(u.home)).toBe(true);
    // how long a whole change takes here: the kills fall inside it
    let t = Date.now();
    const first = `${u.password}-0`;
    const whole = spawnSync('setpriv', passwd, { input: `${current}\n${first}\n${first}\n`, encoding: 'utf8' });
    expect(whole.status, whole.stderr).toBe(0);
    const changeMs = Date.now() - t;
    current = first;
    const log: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const next = `${u.password}-${round}`;
      const at = randomInt(0, Math.ceil(changeMs * 1.1));
      t = Date.now();
      await runKilledAfter('setpriv', passwd, `${current}\n${next}\n${next}\n`, at);
      const where = `round ${round}: killed after ${at} ms (ran ${Date.now() - t} ms)`;
      const isNew = accepts(next);
      const isOld = accepts(current);
      expect(isNew !== isOld, `${where}: the new password ${isNew ? 'and' : 'nor'} the old one are accepted`).toBe(true);
      const pw = isNew ? next : current;
      const rec = JSON.parse(readFileSync(`/etc/homecrypt/users/${u.name}.json`, 'utf8')) as { rewrapPending: boolean };
      // the session open since the last round ends; the next one is opened with what the system has now
      expect(logout().code, where).toBe(0);
      await waitFor('the mount daemon gone', () => mountDaemonsOf(u).length === 0);
      const back = login(pw);
      expect(back.code, `${where}: ${back.stderr}`).toBe(0);
      expect(isMounted(u.home), `${where}: the home is not mounted after a login with the ${isNew ? 'new' : 'old'} password`).toBe(true);
      expect(asUser(u, 'cat ~/notes.txt').stdout, where).toBe(NOTE);
      log.push(`${at}/${isNew ? 'new' : 'old'}${rec.rewrapPending ? '+noted' : ''}`);
      current = pw;
    }
    console.log(`passwd ${changeMs} ms; kills (ms/password the system has, +noted: a change left noted): ${log.join(', ')}`);
    expect(logout().code).toBe(0);
    u.password = current;
  }, 600_000);
});
