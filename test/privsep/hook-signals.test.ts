// What a plain user can do to root's login hook of their own login. While the
// hook's main thread has the user's real uid for a keyring call
// (src/os/keyring.ts), the kernel lets the user signal the whole root process:
// a SIGSTOP froze it (a stopped process runs no timer, so its own 60 s deadline
// never came) and the login with it, forever; a SIGUSR1 opened Node's inspector
// (code run as root by whoever connects). And passwd hands the hook its caller's
// rlimits and cwd: a 1 s CPU limit with core files on wrote both passwords into
// a root-owned core file there. The attacker here is
// test/helpers/signal-root-hook.c, run as the user, sending its signal in a
// tight loop until one lands. Under the pam_exec fallback the hook script
// bounds the hook itself with its deadline (its turn: login-flood.test.ts; no
// node for other users: pam-login.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { createPamService, type PamService } from '../helpers/pam.js';
import { createTestUser, removeTestUser, type TestUser } from '../helpers/users.js';
import { BIN, hookLog } from '../login/login-helpers.js';

const ATTACKER_SRC = new URL('../helpers/signal-root-hook.c', import.meta.url).pathname;

/** The login hooks running now, "PID STAT" each: node processes running login-hook.js (the script names it through pam/../dist, and the wrappers waiting their turn name it in their argv too). */
function hookProcesses(): string[] {
  return spawnSync('ps', ['-C', 'node', '-o', 'pid=,stat=,args='], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => /\/login-hook\.js /.test(`${l} `))
    .map((l) => l.trim().split(/\s+/).slice(0, 2).join(' '));
}
const HOOK_JS = new URL('../../dist/cli/commands/login-hook.js', import.meta.url).pathname;
const SIGUSR1 = 10;
const SIGSTOP = 19;
/** the module's deadline in this test's PAM service (timeout=3) */
const DEADLINE_S = 3;

interface Run {
  code: number;
  out: string;
  ms: number;
}

function run(argv: string[], input: string, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    const c = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd ?? '/', stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    c.stdin.end(input);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, ms: Date.now() - started });
    });
  });
}

describe.skipIf(skipUnless('root', 'fuse', 'keyring', 'signals from a user to root’s login hook'))(
  'signals and limits a user can give root’s login hook',
  () => {
    let svc: PamService;
    /** the same lines with a short deadline (a password change under load can outlast it: only the stop tests use it) */
    let quick: PamService;
    /** the pam_exec fallback's lines, with the same short deadline (timeout(1) in the hook script) */
    let quickExec: PamService;
    let u: TestUser;
    let dir: string;
    let attacker: string;

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'hook-signals-'));
      chmodSync(dir, 0o755);
      attacker = join(dir, 'signal-root-hook');
      const cc = spawnSync('cc', ['-O2', '-o', attacker, ATTACKER_SRC], { encoding: 'utf8' });
      if (cc.status !== 0) throw new Error(`cc: ${cc.stderr}`);
      svc = createPamService();
      quick = createPamService({ moduleArgs: [`timeout=${DEADLINE_S}`] });
      quickExec = createPamService({ flavour: 'exec', execDeadline: DEADLINE_S });
      u = createTestUser('hcs');
      // about 1 s of Argon2id per slot: a password change costs more than 1 s of CPU
      const r = spawnSync(process.execPath, [BIN, 'setup', '--user', u.name, '--private', '--passphrase-fd', '0', '--kdf-time', '1'], {
        input: `${u.password}\n`,
        encoding: 'utf8',
        timeout: 120_000,
      });
      if (r.status !== 0) throw new Error(`setup failed: ${r.stderr}`);
    }, 180_000);

    afterAll(() => {
      if (u) removeTestUser(u);
      svc?.remove();
      quick?.remove();
      quickExec?.remove();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** A login while the user's attacker sends `sig`; `delivered` when one landed. */
    async function attackedLogin(service: PamService, sig: number, ops: string[]): Promise<{ login: Run; delivered: boolean }> {
      const attack = spawn('setpriv', ['--reuid', String(u.uid), '--regid', String(u.gid), '--init-groups', '--', attacker, String(sig), '60'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let said = '';
      attack.stdout.on('data', (d: Buffer) => (said += d.toString()));
      const gone = new Promise((r) => attack.on('close', r));
      await new Promise((r) => setTimeout(r, 200));
      // without a deadline in the module a stopped hook held the login for good: 40 s stands for that
      const login = await run(['pamtester', service.name, u.name, ...ops], `${u.password}\n`, { timeoutMs: 40_000 });
      attack.kill('SIGKILL');
      await gone;
      return { login, delivered: said.includes('delivered') };
    }

    function closeSessions(): void {
      // a killed hook may have counted its session: close it, whatever it left
      spawnSync('pamtester', [svc.name, u.name, 'close_session'], { timeout: 30_000 });
    }

    /**
     * Logins through `service` while the user stops the hook, until a stop
     * lands (6 tries): each such login goes on within the deadline, and
     * `then` checks what it left (given the hook log's length before it).
     */
    async function stoppedLogins(service: PamService, then: (logBefore: number) => void): Promise<void> {
      let landed = 0;
      for (let attempt = 0; attempt < 6 && landed === 0; attempt++) {
        const logBefore = hookLog(u.name).length;
        const { login, delivered } = await attackedLogin(service, SIGSTOP, ['authenticate', 'open_session']);
        closeSessions();
        if (!delivered) continue;
        landed++;
        expect(login.code, login.out).toBe(0);
        expect(login.ms, 'the login waited for the stopped hook').toBeLessThan((DEADLINE_S + 10) * 1000);
        then(logBefore);
      }
      expect(landed, 'the attacker never stopped the hook').toBeGreaterThan(0);
    }

    it('a hook the user stops is killed at the module’s deadline: the login goes on, and says why in the log', async () => {
      await stoppedLogins(quick, (logBefore) =>
        expect(hookLog(u.name).slice(logBefore)).toMatch(/open_session \S+: \S+ still running after 3 s \(stopped or stuck\): killed; the login goes on/),
      );
    }, 400_000);

    it('with the pam_exec fallback, a hook the user stops is killed at the deadline of the hook script: the login goes on', async () => {
      // pam_exec has no deadline of its own: before, the login (and a 50 MB root
      // process per login the user started) waited for good
      const stoppedHooks = () => hookProcesses().filter((p) => p.split(' ')[1]!.startsWith('T'));
      await stoppedLogins(quickExec, () => expect(stoppedHooks(), 'a stopped hook was left behind').toEqual([]));
    }, 400_000);

    it('a SIGUSR1 from the user does not open the hook’s Node inspector', async () => {
      let landed = 0;
      for (let attempt = 0; attempt < 6 && landed === 0; attempt++) {
        const { login, delivered } = await attackedLogin(svc, SIGUSR1, ['authenticate', 'open_session', 'close_session']);
        if (!delivered) continue;
        landed++;
        expect(login.code, login.out).toBe(0);
        // Node says so on stderr, which the module shows the user
        expect(login.out).not.toMatch(/Debugger listening|inspector/i);
      }
      expect(landed, 'the attacker never reached the hook').toBeGreaterThan(0);
    }, 400_000);

    it('passwd run with a 1 s CPU limit and core files on, in a folder of the user’s: the re-wrap finishes, no core file', async () => {
      const cwd = mkdtempSync(join(dir, 'cwd-'));
      chmodSync(cwd, 0o777);
      const newPassword = `${u.password}-new`;
      const logBefore = hookLog(u.name).length;
      // like a set-uid passwd: real uid the user, effective uid root, the user's limits
      const r = await run(
        ['sh', '-c', `ulimit -c unlimited; ulimit -S -t 1; exec setpriv --ruid ${u.uid} -- pamtester ${svc.name} ${u.name} chauthtok`],
        `${u.password}\n${newPassword}\n${newPassword}\n`,
        { cwd, timeoutMs: 60_000 },
      );
      expect(r.code, r.out).toBe(0);
      u.password = newPassword;
      expect(readdirSync(cwd)).toEqual([]);
      expect(hookLog(u.name).slice(logBefore)).toContain('login passphrase re-wrapped with the new password');
    }, 120_000);

    it('the hook is undumpable before it reads a password: a SIGABRT leaves no core file', async () => {
      const cwd = mkdtempSync(join(dir, 'abrt-'));
      const hook = spawn('sh', ['-c', `ulimit -c unlimited; exec node ${HOOK_JS} module password`], {
        cwd,
        env: { PATH: '/usr/bin:/bin', PAM_USER: u.name, PAM_TYPE: 'password' },
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      const ended = new Promise<string | null>((resolve) => hook.on('exit', (_c, sig) => resolve(sig)));
      // blocked reading the old password from stdin (read(2) of fd 0)
      let reading = false;
      for (const end = Date.now() + 20_000; !reading && Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
        try {
          reading = readFileSync(`/proc/${hook.pid}/syscall`, 'utf8').startsWith('0 0x0 ');
        } catch {
          /* not yet */
        }
      }
      expect(reading, 'the hook never waited for its password').toBe(true);
      hook.kill('SIGABRT');
      expect(await ended).toBe('SIGABRT');
      hook.stdin.destroy();
      expect(readdirSync(cwd)).toEqual([]);
    }, 60_000);
  },
);
