// Throwaway local accounts for login tests: real useradd/chpasswd, removed
// (with their processes, keys and home) afterwards.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  password: string;
}

export function createTestUser(prefix = 'hct'): TestUser {
  const name = `${prefix}${randomBytes(3).toString('hex')}`;
  execFileSync('useradd', ['--create-home', '--shell', '/bin/bash', name], { stdio: 'pipe' });
  const password = `pw-${randomBytes(6).toString('hex')}`;
  setPassword(name, password);
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  return { name, uid, gid, home: `/home/${name}`, password };
}

/** createTestUser, retried: useradd fails with "cannot lock /etc/passwd" while
 *  another test file of the suite is adding or removing its own user. */
export function createTestUserRetrying(prefix: string, attempts = 20): TestUser {
  for (let i = 1; ; i++) {
    try {
      return createTestUser(prefix);
    } catch (err) {
      const msg = String((err as { stderr?: unknown }).stderr ?? (err as Error).message);
      if (i >= attempts || !/lock|try again/i.test(msg)) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100 * i);
    }
  }
}

/** chpasswd, as root resetting it: the password goes through stdin only. */
export function setPassword(name: string, password: string): void {
  execFileSync('chpasswd', [], { input: `${name}:${password}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs a shell command as the user (setpriv, full identity) and returns stdout. */
export function asUser(u: TestUser, script: string, input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('setpriv', ['--reuid', String(u.uid), '--regid', String(u.gid), '--init-groups', '--', '/bin/sh', '-c', script], {
    input,
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin', HOME: u.home, USER: u.name },
    cwd: '/',
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function removeTestUser(u: TestUser, extraDirs: string[] = []): void {
  spawnSync('pkill', ['-KILL', '-U', String(u.uid)]);
  // the user's keyring: unlink everything homecrypt put there
  spawnSync('setpriv', ['--reuid', String(u.uid), '--regid', String(u.gid), '--clear-groups', 'keyctl', 'clear', '@u']);
  for (const mp of [u.home, `${u.home}/Private`]) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
  spawnSync('userdel', ['--remove', u.name], { stdio: 'ignore' });
  rmSync(u.home, { recursive: true, force: true });
  for (const d of extraDirs) rmSync(d, { recursive: true, force: true });
  rmSync(`/etc/homecrypt/users/${u.name}.json`, { force: true });
  rmSync(`/etc/homecrypt/users/${u.name}.setup-marker`, { force: true });
  rmSync(`/run/homecrypt/sessions/${u.name}`, { force: true });
  rmSync(`/run/homecrypt/log/${u.name}.log`, { force: true });
}

/**
 * Deletes a test account by name, first ending its processes (a FUSE daemon
 * still running as the user makes userdel refuse, which leaked accounts) and
 * retrying while another test holds the passwd lock.
 */
export function deleteUserByName(name: string): void {
  if (spawnSync('id', ['-u', name], { stdio: 'ignore' }).status !== 0) return;
  for (let i = 0; i < 50; i++) {
    spawnSync('pkill', ['-KILL', '-u', name]);
    const r = spawnSync('userdel', [name], { stdio: 'ignore' });
    if (r.status === 0 || spawnSync('id', ['-u', name], { stdio: 'ignore' }).status !== 0) return;
    spawnSync('sleep', ['0.1']);
  }
}
