// The pam_exec fallback runs pam/homecrypt-pam-hook as root with the PAM
// environment, which pam_env.so user_readenv=1 (Debian's own sshd stack) fills
// from the user's ~/.pam_environment before close_session. NODE_OPTIONS there
// ran the user's script as root, and HOMECRYPT_*_FOR_TESTS pointed root's
// session counter and record at the user's folders. The hook must see none of it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chownSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { pamtester } from '../helpers/pam.js';
import { createTestUser, removeTestUser, type TestUser } from '../helpers/users.js';
import { HOOK_PATH } from '../../src/session/pam-config.js';

describe.skipIf(skipUnless('root', 'PAM environment test'))('pam_exec hook and a user-written PAM environment', () => {
  let u: TestUser;
  const service = `homecrypt-test-env-${process.pid}`;
  const canary = `/tmp/homecrypt-env-canary-${process.pid}`;
  beforeAll(() => {
    u = createTestUser('hce');
    // as sshd stacks it: pam_env with user_readenv after the session modules
    writeFileSync(
      `/etc/pam.d/${service}`,
      [
        'auth	required	pam_permit.so',
        'account	required	pam_permit.so',
        'session	required	pam_unix.so',
        `session	optional	pam_exec.so quiet stdout ${HOOK_PATH} session`,
        'session	required	pam_env.so user_readenv=1',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
  });
  afterAll(() => {
    rmSync(`/etc/pam.d/${service}`, { force: true });
    rmSync(canary, { force: true });
    removeTestUser(u);
  });

  it("close_session runs none of the user's NODE_OPTIONS and honours no test knob", () => {
    const script = join(u.home, 'pwn.cjs');
    writeFileSync(script, `require('fs').writeFileSync(${JSON.stringify(canary)}, 'uid ' + process.getuid());\n`);
    const knobs = join(u.home, 'knobs');
    writeFileSync(
      join(u.home, '.pam_environment'),
      [
        `NODE_OPTIONS DEFAULT="--require ${script}"`,
        `HOMECRYPT_RUN_DIR_FOR_TESTS DEFAULT=${knobs}`,
        `HOMECRYPT_RECORD_DIR_FOR_TESTS DEFAULT=${knobs}`,
        '',
      ].join('\n'),
    );
    for (const f of [script, join(u.home, '.pam_environment')]) chownSync(f, u.uid, u.gid);
    const r = pamtester(service, u.name, ['open_session', 'close_session']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(canary), "the user's NODE_OPTIONS script ran in the root hook").toBe(false);
    expect(existsSync(knobs) ? readdirSync(knobs) : [], 'root followed HOMECRYPT_RUN_DIR_FOR_TESTS into the home').toEqual([]);
  });
});
