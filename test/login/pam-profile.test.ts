// `homecrypt pam enable|disable` through Debian's real pam-auth-update: the
// common-* stacks gain and lose exactly the homecrypt lines.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { servicesReadingUserEnv } from '../../src/session/pam-config.js';
import { skipUnless } from '../helpers/requirements.js';

const BIN = new URL('../../bin/homecrypt', import.meta.url).pathname;
const HOOK = new URL('../../pam/homecrypt-pam-hook', import.meta.url).pathname;
const MODULE = new URL('../../dist/pam/pam_homecrypt.so', import.meta.url).pathname;
const STACKS = ['common-auth', 'common-session', 'common-password'];
const read = (f: string) => readFileSync(`/etc/pam.d/${f}`, 'utf8');
const hc = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

describe.skipIf(skipUnless('root', 'pam-auth-update profile') || !existsSync('/usr/sbin/pam-auth-update'))('pam enable / disable', () => {
  let before: Record<string, string> = {};
  let wasEnabled = false;
  beforeAll(() => {
    before = Object.fromEntries(STACKS.map((f) => [f, read(f)]));
    wasEnabled = existsSync('/usr/share/pam-configs/homecrypt');
  });
  afterAll(() => {
    if (!wasEnabled) hc('pam', 'disable');
  });

  it('enable adds the module to auth, session and password; --exec switches to the pam_exec fallback; disable restores the stacks', () => {
    if (wasEnabled) hc('pam', 'disable');
    const m = hc('pam', 'enable');
    expect(m.status, m.stderr).toBe(0);
    for (const f of STACKS) expect(read(f), f).toMatch(new RegExp(`optional\\s+${MODULE} hook=${HOOK}$`, 'm'));
    expect(read('common-auth')).not.toContain('pam_exec');
    expect(hc('pam', 'status').stdout).toBe('enabled\n');
    const userEnv = servicesReadingUserEnv();
    const e = hc('pam', 'enable', '--exec');
    if (userEnv.length > 0) {
      // (Debian's sshd reads ~/.pam_environment: pam_exec would hand it to the root hook)
      expect(e.status, e.stderr).toBe(8);
      expect(e.stderr).toContain(userEnv[0]!);
      expect(e.stderr).toContain('user_readenv=1');
      for (const f of STACKS) expect(read(f), f).toMatch(new RegExp(`optional\\s+${MODULE} hook=${HOOK}$`, 'm'));
    } else {
      expect(e.status, e.stderr).toBe(0);
      for (const f of STACKS) expect(read(f), f).not.toContain('pam_homecrypt.so');
      expect(read('common-auth')).toMatch(new RegExp(`optional\\s+pam_exec\\.so quiet expose_authtok ${HOOK} --deadline=65 auth`));
      expect(read('common-session')).toContain(`pam_exec.so quiet stdout ${HOOK} --deadline=65 session`);
      expect(read('common-password')).toContain(`pam_exec.so quiet stdout seteuid ${HOOK} --deadline=65 password`);
      expect(hc('pam', 'status').stdout).toBe('enabled\n');
      // the hook line comes after pam_unix's jump target, so it only sees accepted passwords
      const auth = read('common-auth');
      expect(auth.indexOf('homecrypt-pam-hook')).toBeGreaterThan(auth.indexOf('pam_permit.so'));
    }
    const d = hc('pam', 'disable');
    expect(d.status, d.stderr).toBe(0);
    for (const f of STACKS) expect(read(f)).not.toContain('homecrypt');
    if (!wasEnabled) for (const f of STACKS) expect(read(f)).toBe(before[f]);
    if (wasEnabled) hc('pam', 'enable');
  });
});

describe('which PAM services hand a user-set environment to pam_exec', () => {
  it('finds pam_env.so user_readenv=1 lines, not commented ones or other modules', () => {
    const dir = mkdtempSync('/tmp/hc-pamd-');
    try {
      writeFileSync(join(dir, 'sshd'), 'session    required     pam_env.so user_readenv=1 envfile=/etc/default/locale\n');
      writeFileSync(join(dir, 'login'), '# session required pam_env.so user_readenv=1\nsession required pam_env.so readenv=1\n');
      writeFileSync(join(dir, 'other'), 'session required pam_foo.so user_readenv=1\n');
      expect(servicesReadingUserEnv(dir)).toEqual([join(dir, 'sshd')]);
      expect(servicesReadingUserEnv(join(dir, 'missing'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
