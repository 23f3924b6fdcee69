// CLI scenarios as reviewable text (fscrypt's cli-tests t_*.sh + t_*.out): each
// t_*.sh runs under sh with its output (stdout and stderr together, masked)
// compared with t_*.out. A script asks for what it needs in a "# needs:" line:
//   root          run only as root
//   user          a fresh account: $U, its password in $T/pw, its home $HOME_U
//   files=N       that account's home holds N files of 40 KiB (something to migrate)
//   tmux          a terminal (test/helpers/scenario-lib.sh, sourced via $LIB)
//   ecryptfs-private  an account with an ecryptfs-setup-private layout (test/helpers/ecryptfs-homes.ts):
//                 $U, $HOME_U, login passphrase in $T/pw; user records in a temp dir
//                 (with files=N: N more files of 40 KiB in its Private directory)
// Every script gets $HC (bin/homecrypt), $T (a fresh temp dir) and $LIB.
// HOMECRYPT_SCENARIO_WRITE=1 writes each t_*.out from what the script printed.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestUser, deleteUserByName, removeTestUser, type TestUser } from './users.js';
import { makeEcryptfsPrivateHome } from './ecryptfs-homes.js';

const BIN = new URL('../../bin/homecrypt', import.meta.url).pathname;
const LIB = new URL('./scenario-lib.sh', import.meta.url).pathname;

export function maskScenarioOutput(text: string, tmp: string, user?: string): string {
  let t = text.split(tmp).join('$T');
  if (user) t = t.split(user).join('$U');
  return t
    .replace(/\b[0-9a-f]{16}\b/g, '<keyid>')
    .replace(/\b([0-9A-Z]{5}-){7}[0-9A-Z]{5}\b/g, '<recovery-key>')
    .replace(/\(PAM hook [^)]*\)/g, '(PAM hook <enabled or not>)')
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, '<uuid>');
}

function needsOf(script: string): Set<string> {
  const m = /^# needs: (.*)$/m.exec(readFileSync(script, 'utf8'));
  return new Set(m ? m[1]!.trim().split(/\s+/) : []);
}

function fillHome(u: TestUser, files: number): void {
  for (let i = 0; i < files; i++) {
    const p = join(u.home, `file-${String(i).padStart(4, '0')}`);
    writeFileSync(p, randomBytes(40 * 1024));
    chownSync(p, u.uid, u.gid);
  }
}

export function describeScenarios(title: string, dirUrl: URL, timeoutMs = 120_000): void {
  const dir = dirUrl.pathname;
  describe(title, () => {
    for (const script of readdirSync(dir)
      .filter((f) => /^t_.*\.sh$/.test(f))
      .sort()) {
      const path = join(dir, script);
      const needs = needsOf(path);
      const skip = (needs.has('root') || needs.has('user') || needs.has('ecryptfs-private')) && process.getuid?.() !== 0;
      it.skipIf(skip)(
        script,
        () => {
          const tmp = mkdtempSync(join(tmpdir(), 'hc-scenario-'));
          const u = needs.has('user') ? createTestUser('hcs') : null;
          const ec = needs.has('ecryptfs-private') ? { user: `hce${randomBytes(3).toString('hex')}`, login: `login-${randomBytes(4).toString('hex')}` } : null;
          let ecBase: string | undefined;
          try {
            const env: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HC: BIN, T: tmp, LIB };
            if (ec) {
              const files = [...needs].find((n) => n.startsWith('files='));
              const f = makeEcryptfsPrivateHome({
                user: ec.user,
                mountPass: 'scenario mount pass',
                login: ec.login,
                tmpPrefix: 'hc-scenario-ec-',
                extraFiles: files ? Number(files.slice(6)) : 0,
              });
              ecBase = f.base;
              writeFileSync(join(tmp, 'pw'), `${ec.login}\n`, { mode: 0o600 });
              Object.assign(env, { U: ec.user, HOME_U: f.home, HOMECRYPT_RECORD_DIR_FOR_TESTS: f.records });
            }
            if (u) {
              writeFileSync(join(tmp, 'pw'), `${u.password}\n`, { mode: 0o600 });
              Object.assign(env, { U: u.name, HOME_U: u.home });
              const files = [...needs].find((n) => n.startsWith('files='));
              if (files) fillHome(u, Number(files.slice(6)));
            }
            const r = spawnSync('sh', ['-c', 'sh "$1" 2>&1', 'sh', path], { env, encoding: 'utf8', timeout: timeoutMs });
            let got = maskScenarioOutput(r.stdout, tmp, u?.name ?? ec?.user);
            if (ecBase) got = got.split(ecBase).join('$BASE');
            const outFile = path.replace(/\.sh$/, '.out');
            // to write a new scenario's .out (then read it: it is what the test will pin)
            if (process.env.HOMECRYPT_SCENARIO_WRITE === '1') writeFileSync(outFile, got);
            const want = readFileSync(outFile, 'utf8');
            expect(got).toBe(want);
            expect(r.status).toBe(0);
          } finally {
            if (u) removeTestUser(u, [`/home/.homecrypt/${u.name}`]);
            if (ec) deleteUserByName(ec.user);
            if (ecBase) rmSync(ecBase, { recursive: true, force: true });
            if (existsSync(tmp)) rmSync(tmp, { recursive: true, force: true });
          }
        },
        timeoutMs + 30_000,
      );
    }
  });
}
