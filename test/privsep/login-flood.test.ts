// A plain user can start as many logins of their own account as they like
// (`su -c true $USER` in a loop, with their own password): each one made
// pam_homecrypt.so start a node helper as root, and while one held the
// user's lock the others sat waiting in memory (about 50 MB each, not
// counted against the user's process limit: they run as root); eight
// logins at once were eight helpers. The module now waits its turn itself (a
// per-user flock taken before it starts the helper), so one user has at
// most one helper at a time, and every login still ends unlocked. The pam_exec
// fallback's hook script takes the same turn with flock(1) before node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { createPamService, type PamService } from '../helpers/pam.js';
import { createTestUser, removeTestUser, type TestUser } from '../helpers/users.js';
import { setupUser, userKeys } from '../login/login-helpers.js';

const LOGINS = 5;

/**
 * Helpers (node, run by the module or the hook script) now running for
 * `user`: found by the PAM_USER of their environment. Only node processes
 * count: the hook script's wrappers (flock waiting for the turn, setpriv,
 * timeout, env) name login-hook.js in their argv too. A helper's own children
 * show its command line for the instant between fork and exec, so only those
 * whose parent is not a helper count.
 */
function helpersOf(user: string): number {
  const helpers = new Map<string, string>(); // pid -> ppid
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
      if (basename(args[0]!) !== 'node' || !args.some((a) => a.endsWith('login-hook.js'))) continue;
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

describe.skipIf(skipUnless('root', 'fuse', 'keyring', 'a flood of logins of one user'))('many logins of one user at once', () => {
  let svc: PamService;
  let execSvc: PamService;
  let u: TestUser;

  beforeAll(() => {
    svc = createPamService();
    execSvc = createPamService({ flavour: 'exec' });
    u = createTestUser('hcl');
    setupUser(u, 'private');
  }, 120_000);

  afterAll(() => {
    if (u) removeTestUser(u);
    svc?.remove();
    execSvc?.remove();
  });

  it(`pam_homecrypt.so: ${LOGINS} logins at once start one helper at a time, and all of them open`, async () => {
    await flood(svc);
  }, 300_000);

  it(`pam_exec: the hook script takes the turn before node; ${LOGINS} logins at once start one helper at a time, and all of them open`, async () => {
    // every program one login starts, in order (-s 512: whole paths and argv)
    const trace = `/tmp/homecrypt-test-flood-strace-${process.pid}`;
    const r = spawnSync(
      'strace',
      ['-f', '-qq', '-s', '512', '-e', 'trace=execve', '-o', trace, 'pamtester', execSvc.name, u.name, 'authenticate', 'open_session', 'close_session'],
      {
        input: `${u.password}\n`,
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    const execs = readFileSync(trace, 'utf8').split('\n');
    rmSync(trace, { force: true });
    expect(r.status, r.stderr).toBe(0);
    const at = (re: RegExp) => execs.findIndex((l) => re.test(l));
    expect(at(/execve\("\/usr\/bin\/flock"/), execs.join('\n')).toBeGreaterThan(-1);
    // node itself (the wrappers' own argv name login-hook.js too)
    expect(at(/execve\("[^"]*\/node", \[[^\]]*login-hook\.js/)).toBeGreaterThan(at(/execve\("\/usr\/bin\/flock"/));
    await flood(execSvc);
  }, 300_000);

  async function flood(service: PamService): Promise<void> {
    let most = 0;
    let stop = false;
    const watch = (async () => {
      while (!stop) {
        most = Math.max(most, helpersOf(u.name));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const codes = await Promise.all(
      Array.from({ length: LOGINS }, () => pamtesterAsync(service.name, u.name, ['authenticate', 'open_session', 'close_session'], `${u.password}\n`)),
    );
    stop = true;
    await watch;
    expect(codes).toEqual(Array(LOGINS).fill(0));
    expect(most, 'helpers of one user running at the same time').toBe(1);
    // the last close dropped the key; a login after the flood unlocks as before
    expect(userKeys(u)).not.toContain('homecrypt:');
    expect(await pamtesterAsync(service.name, u.name, ['authenticate', 'open_session'], `${u.password}\n`)).toBe(0);
    expect(userKeys(u)).toContain('homecrypt:');
    expect(await pamtesterAsync(service.name, u.name, ['close_session'], '')).toBe(0);
  }
});
