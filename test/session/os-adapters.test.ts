import { describe, expect, it } from 'vitest';
import { parseMountinfo } from '../../src/os/mounts.js';
import { parsePasswdLine, isValidUserName } from '../../src/os/users.js';
import { processesOf } from '../../src/os/processes.js';
import { phaseOf } from '../../src/cli/commands/login-hook.js';
import { renderProfile, renderStackLines } from '../../src/session/pam-config.js';
import { UsageError } from '../../src/errors.js';

describe('OS adapters and PAM wiring', () => {
  it('parses mountinfo, unescaping blanks in mount points', () => {
    const e = parseMountinfo('36 35 0:40 / /home/a\\040b rw,nosuid - fuse.homecrypt homecrypt rw,user_id=1000\n');
    expect(e).toEqual([{ mountPoint: '/home/a b', fsType: 'fuse.homecrypt', source: 'homecrypt' }]);
  });

  it('parses passwd lines and refuses malformed ones', () => {
    expect(parsePasswdLine('alice:x:1000:1000:Alice:/home/alice:/bin/bash', 'alice')).toMatchObject({ uid: 1000, home: '/home/alice' });
    expect(() => parsePasswdLine('alice:x:abc:1000::/home/alice:/bin/sh', 'alice')).toThrow(UsageError);
    expect(isValidUserName('../etc')).toBe(false);
    expect(isValidUserName('bob.smith')).toBe(true);
  });

  it('finds the processes of a uid', () => {
    expect(processesOf(process.getuid!()).some((p) => p.pid === process.pid)).toBe(true);
  });

  it('maps pam_exec phases and refuses a hook run by hand', () => {
    expect(phaseOf('auth', 'auth')).toBe('auth');
    expect(phaseOf('session', 'open_session')).toBe('open_session');
    expect(phaseOf('session', 'close_session')).toBe('close_session');
    expect(phaseOf('password', 'password')).toBe('password');
    expect(() => phaseOf('session', undefined)).toThrow(UsageError);
    expect(() => phaseOf('auth', 'open_session')).toThrow(UsageError);
  });

  it('maps the module\'s phases', () => {
    expect(phaseOf('module', 'open_session')).toBe('open_session');
    expect(phaseOf('module', 'close_session')).toBe('close_session');
    expect(phaseOf('module', 'password')).toBe('password');
    expect(() => phaseOf('module', 'auth')).toThrow(UsageError);
    expect(() => phaseOf('module', undefined)).toThrow(UsageError);
  });

  it('renders the shipped PAM lines: the module on all three types, optional, the hook as its argument', () => {
    const lines = renderStackLines('/opt/hc/pam/homecrypt-pam-hook', 'module', 'pam_homecrypt.so').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual(['auth', 'session', 'password'].map((t) => `${t}\toptional\tpam_homecrypt.so hook=/opt/hc/pam/homecrypt-pam-hook`));
    expect(() => renderStackLines('/opt/hc/hook', 'module', '/path with blank/pam_homecrypt.so')).toThrow(/blanks/);
  });

  it('renders the pam_exec fallback lines: optional, expose_authtok on auth only', () => {
    const lines = renderStackLines('/opt/hc/pam/homecrypt-pam-hook', 'exec').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual([
      'auth\toptional\tpam_exec.so quiet expose_authtok /opt/hc/pam/homecrypt-pam-hook auth',
      'session\toptional\tpam_exec.so quiet stdout /opt/hc/pam/homecrypt-pam-hook session',
      'password\toptional\tpam_exec.so quiet stdout seteuid /opt/hc/pam/homecrypt-pam-hook password',
    ]);
    const profile = renderProfile('/opt/hc/pam/homecrypt-pam-hook');
    expect(profile).toMatch(/^Auth-Type: Additional$/m);
    expect(profile).not.toMatch(/@(HOOK|MODULE)@/);
    expect(renderProfile('/opt/hc/pam/homecrypt-pam-hook', 'exec')).toMatch(/^Default: no$/m);
    expect(() => renderStackLines('/path with blank/hook')).toThrow(/blanks/);
  });
});
