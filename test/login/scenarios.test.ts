// Login scenarios as reviewable text: each scenarios/t_*.sh runs as root with
// a fresh account ($U, password in $T/pw, home $HOME_U) and a PAM service with
// the shipped lines ($SVC); its output (stdout and stderr together, masked)
// must equal t_*.out.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { skipUnless } from '../helpers/requirements.js';
import { createPamService } from '../helpers/pam.js';
import { createTestUser, removeTestUser } from '../helpers/users.js';

const DIR = new URL('./scenarios/', import.meta.url).pathname;
const BIN = new URL('../../bin/homecrypt', import.meta.url).pathname;

function mask(text: string, tmp: string, user: string): string {
  return text
    .split(tmp)
    .join('$T')
    .split(user)
    .join('$U')
    .replace(/\b[0-9a-f]{16}\b/g, '<keyid>')
    .replace(/\b([0-9A-Z]{5}-){7}[0-9A-Z]{5}\b/g, '<recovery-key>')
    .replace(/\(PAM hook [^)]*\)/g, '(PAM hook <enabled or not>)');
}

describe.skipIf(skipUnless('root', 'fuse', 'keyring', 'login CLI scenarios'))('login CLI scenarios', () => {
  for (const script of readdirSync(DIR)
    .filter((f) => /^t_.*\.sh$/.test(f))
    .sort()) {
    it(script, () => {
      const tmp = mkdtempSync(join(tmpdir(), 'hc-login-scenario-'));
      const u = createTestUser('hcz');
      const svc = createPamService();
      try {
        writeFileSync(join(tmp, 'pw'), `${u.password}\n`, { mode: 0o600 });
        const r = spawnSync('sh', ['-c', 'sh "$1" 2>&1', 'sh', join(DIR, script)], {
          env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HC: `${process.execPath} ${BIN}`, T: tmp, U: u.name, HOME_U: u.home, SVC: svc.name },
          encoding: 'utf8',
          timeout: 120_000,
        });
        const got = mask(r.stdout, tmp, u.name);
        const want = readFileSync(join(DIR, script.replace(/\.sh$/, '.out')), 'utf8');
        expect(got).toBe(want);
        expect(r.status).toBe(0);
      } finally {
        svc.remove();
        removeTestUser(u);
        rmSync(tmp, { recursive: true, force: true });
      }
    });
  }
});
