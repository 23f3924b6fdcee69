// A plain user can start as many logins of their own account as they like
// (`su -c true $USER` in a loop, with their own password): each one made
// pam_homecrypt.so start a node helper as root, and while one held the
// user's lock the others sat waiting in memory (about 50 MB each, not
// counted against the user's process limit: they run as root); eight
// logins at once were eight helpers. The module now waits its turn itself (a
// per-user flock taken before it starts the helper), so one user has at
// most one helper at a time, and every login still ends unlocked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { skipUnless } from '../helpers/requirements.js';
import { createPamService, type PamService } from '../helpers/pam.js';
import { createTestUser, removeTestUser, type TestUser } from '../helpers/users.js';
import { setupUser, userKeys } from '../login/login-helpers.js';

const LOGINS = 5;

/**
 * Helpers (node, run by the module) now running for `user`: found by the
 * PAM_USER of their environment. A helper's own children show its command line
 * for the instant between fork and exec, so only those whose parent is not a
 * helper count.
 */
function helpersOf(user: string): number {
  const helpers = new Map<string, string>(); // pid -> ppid
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
      if (!args.some((a) => a.endsWith('login-hook.js'))) continue;
      if (!readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`PAM_USER=${user}`)) continue;
      // the fields after "(comm)": state, ppid
      helpers.set(
        pid,
        readFileSync(`/proc/${pid}/stat`, 'latin1')
          .replace(/^.*\) /s, '')
          .split(' ')[1]!,
      );
    } catch {
      /* gone */
    }
  }
  return [...helpers.values()].filter((ppid) => !helpers.has(ppid)).length;
}

function pamtesterAsync(service: string, user: string, ops: string[], input: string): Promise<number> {
  return new Promise((resolve) => {
    const c = spawn('pamtester', [service, user, ...ops], { stdio: ['pipe', 'ignore', 'ignore'] });
    c.stdin.end(input);
    c.on('exit', (code) => resolve(code ?? -1));
  });
}

describe.skipIf(skipUnless('root', 'fuse', 'keyring', 'a flood of logins of one user'))('many logins of one user at once (pam_homecrypt.so)', () => {
  let svc: PamService;
  let u: TestUser;

  beforeAll(() => {
    svc = createPamService();
    u = createTestUser('hcl');
    setupUser(u, 'private');
  }, 120_000);

  afterAll(() => {
    if (u) removeTestUser(u);
    svc?.remove();
  });

  it(`${LOGINS} logins at once start one helper at a time, and all of them open`, async () => {
    let most = 0;
    let stop = false;
    const watch = (async () => {
      while (!stop) {
        most = Math.max(most, helpersOf(u.name));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const codes = await Promise.all(
      Array.from({ length: LOGINS }, () => pamtesterAsync(svc.name, u.name, ['authenticate', 'open_session', 'close_session'], `${u.password}\n`)),
    );
    stop = true;
    await watch;
    expect(codes).toEqual(Array(LOGINS).fill(0));
    expect(most, 'helpers of one user running at the same time').toBe(1);
    // the last close dropped the key; a login after the flood unlocks as before
    expect(userKeys(u)).not.toContain('homecrypt:');
    expect(await pamtesterAsync(svc.name, u.name, ['authenticate', 'open_session'], `${u.password}\n`)).toBe(0);
    expect(userKeys(u)).toContain('homecrypt:');
    expect(await pamtesterAsync(svc.name, u.name, ['close_session'], '')).toBe(0);
  }, 300_000);
});
