// A real password login over ssh to 127.0.0.1: OpenSSH's sshd (started here on
// a loopback port, PAM service with the shipped lines), sshpass typing the
// password. The user's shell sees the plaintext home; logout locks it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chownSync, writeFileSync } from 'node:fs';
import { skipUnless } from '../helpers/requirements.js';
import { createPamService, type PamService } from '../helpers/pam.js';
import { addUserKey, startSshd, sshRun, sshRunWithKey, type Sshd } from '../helpers/sshd.js';
import { asUser, createTestUser, removeTestUser, type TestUser } from '../helpers/users.js';
import { watchForSecret } from '../helpers/secret-watch.js';
import { hookLog, isMounted, lowerHidesText, setupUser, userKeys, waitFor } from './login-helpers.js';

const NOTE = 'plaintext seen through ssh';

describe.skipIf(skipUnless('root', 'fuse', 'keyring', 'ssh login scenarios'))('ssh password login (real sshd)', () => {
  let svc: PamService;
  let sshd: Sshd;
  let u: TestUser;

  beforeAll(async () => {
    svc = createPamService();
    u = createTestUser('hcs');
    writeFileSync(`${u.home}/notes.txt`, NOTE);
    chownSync(`${u.home}/notes.txt`, u.uid, u.gid);
    setupUser(u, 'home');
    sshd = await startSshd(svc.name, [u.name]);
  });

  afterAll(async () => {
    await sshd?.stop();
    removeTestUser(u, [`/home/.homecrypt/${u.name}`]);
    svc?.remove();
  });

  it('2+7. the shell sees the plaintext home; logout locks it; no secret in any process', async () => {
    const watch = watchForSecret(u.password);
    const r = await sshRun(sshd.port, u.name, u.password, 'cd && pwd && cat notes.txt && echo from-ssh > made-over-ssh.txt && ls');
    const seen = await watch.stop();
    expect(r.code, `${r.stderr}\n${sshd.log()}`).toBe(0);
    expect(r.stdout).toContain(`${u.home}\n${NOTE}`);
    expect(r.stdout).toContain('made-over-ssh.txt');
    await waitFor('logout unmounts the home', () => !isMounted(u.home));
    // sshd runs close_session after the client is gone: the key goes right after the unmount
    await waitFor('logout drops the key', () => !userKeys(u).includes('homecrypt:'));
    expect(lowerHidesText(`/home/.homecrypt/${u.name}/lower`, 'from-ssh')).toBe(true);
    expect(seen.hits).toEqual([]);
  });

  it('3. two concurrent ssh sessions: the first logout keeps it mounted, the last unmounts', async () => {
    // the long session waits for a file the test creates once the short one is over
    const long = sshRun(
      sshd.port,
      u.name,
      u.password,
      'i=0; while [ ! -e ~/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; rm -f ~/go; cat ~/made-over-ssh.txt',
      120_000,
    );
    await waitFor('first session mounts', () => isMounted(u.home));
    const short = await sshRun(sshd.port, u.name, u.password, 'cat ~/notes.txt');
    expect(short.stdout).toBe(NOTE);
    await new Promise((res) => setTimeout(res, 500));
    expect(isMounted(u.home)).toBe(true);
    expect(asUser(u, 'touch ~/go').code).toBe(0);
    const first = await long;
    expect(first.stdout).toBe('from-ssh\n');
    await waitFor('last logout unmounts', () => !isMounted(u.home));
  });

  it('a key-only login cannot unlock: the home stays locked; with a password session open it sees the plaintext', async () => {
    const key = addUserKey(sshd, u.name);
    const alone = await sshRunWithKey(sshd.port, u.name, key, 'ls -A ~ | grep -c . ; true');
    expect(alone.code, alone.stderr).toBe(0);
    expect(alone.stdout.trim()).toBe('0');
    expect(isMounted(u.home)).toBe(false);
    expect(hookLog(u.name)).toMatch(/home stays locked: your key was not unlocked at login/);
    const held = sshRun(sshd.port, u.name, u.password, 'i=0; while [ ! -e ~/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; rm -f ~/go', 120_000);
    await waitFor('password session mounts', () => isMounted(u.home));
    const withKey = await sshRunWithKey(sshd.port, u.name, key, 'cat ~/notes.txt');
    expect(withKey.stdout).toBe(NOTE);
    expect(asUser(u, 'touch ~/go').code).toBe(0);
    expect((await held).code).toBe(0);
    await waitFor('last logout unmounts', () => !isMounted(u.home));
  });

  it('a wrong password over ssh is denied and mounts nothing', async () => {
    const r = await sshRun(sshd.port, u.name, 'wrong-password', 'true', 30_000);
    expect(r.code).not.toBe(0);
    expect(isMounted(u.home)).toBe(false);
  });
});
