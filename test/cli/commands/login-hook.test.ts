// Which PAM phase a run of the login hook is: pam_exec's type and PAM_TYPE, or
// the module's own argument; a hook run by hand (no PAM_TYPE) is refused.
import { describe, expect, it } from 'vitest';
import { phaseOf } from '../../../src/cli/commands/login-hook.js';
import { UsageError } from '../../../src/errors.js';

describe('login hook phases', () => {
  it('maps pam_exec phases and refuses a hook run by hand', () => {
    expect(phaseOf('auth', 'auth')).toBe('auth');
    expect(phaseOf('session', 'open_session')).toBe('open_session');
    expect(phaseOf('session', 'close_session')).toBe('close_session');
    expect(phaseOf('password', 'password')).toBe('password');
    expect(() => phaseOf('session', undefined)).toThrow(UsageError);
    expect(() => phaseOf('auth', 'open_session')).toThrow(UsageError);
  });

  it("maps the module's phases", () => {
    expect(phaseOf('module', 'open_session')).toBe('open_session');
    expect(phaseOf('module', 'close_session')).toBe('close_session');
    expect(phaseOf('module', 'password')).toBe('password');
    expect(phaseOf('module', 'password_prelim')).toBe('password_prelim');
    expect(() => phaseOf('password', 'password_prelim')).toThrow(UsageError);
    expect(() => phaseOf('module', 'auth')).toThrow(UsageError);
    expect(() => phaseOf('module', undefined)).toThrow(UsageError);
  });
});
