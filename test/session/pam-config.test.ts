// The PAM lines homecrypt ships (src/session/pam-config.ts): the module's and the
// pam_exec fallback's, and the pam-auth-update profile made from them.
import { describe, expect, it } from 'vitest';
import { renderProfile, renderStackLines } from '../../src/session/pam-config.js';

describe('PAM wiring', () => {
  it('renders the shipped PAM lines: the module on all three types, optional, the hook as its argument', () => {
    const lines = renderStackLines('/opt/hc/pam/homecrypt-pam-hook', 'module', 'pam_homecrypt.so')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual(['auth', 'session', 'password'].map((t) => `${t}\toptional\tpam_homecrypt.so hook=/opt/hc/pam/homecrypt-pam-hook`));
    expect(() => renderStackLines('/opt/hc/hook', 'module', '/path with blank/pam_homecrypt.so')).toThrow(/blanks/);
  });

  it('renders the pam_exec fallback lines: optional, expose_authtok on auth only', () => {
    const lines = renderStackLines('/opt/hc/pam/homecrypt-pam-hook', 'exec')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual([
      'auth\toptional\tpam_exec.so quiet expose_authtok /opt/hc/pam/homecrypt-pam-hook --deadline=65 auth',
      'session\toptional\tpam_exec.so quiet stdout /opt/hc/pam/homecrypt-pam-hook --deadline=65 session',
      'password\toptional\tpam_exec.so quiet stdout seteuid /opt/hc/pam/homecrypt-pam-hook --deadline=65 password',
    ]);
    const profile = renderProfile('/opt/hc/pam/homecrypt-pam-hook');
    expect(profile).toMatch(/^Auth-Type: Additional$/m);
    expect(profile).not.toMatch(/@(HOOK|MODULE)@/);
    expect(renderProfile('/opt/hc/pam/homecrypt-pam-hook', 'exec')).toMatch(/^Default: no$/m);
    expect(() => renderStackLines('/path with blank/hook')).toThrow(/blanks/);
  });
});
