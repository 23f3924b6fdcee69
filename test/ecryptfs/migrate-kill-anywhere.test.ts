// homecrypt ecryptfs migrate of an encrypted home, SIGKILLed (a crash, a
// second Ctrl-C) at a random moment within its usual duration, round after
// round: the same command run again finishes every time, and the next login
// shows every eCryptfs file, byte for byte. encrypted-home.test.ts stops it at
// chosen steps (--fail-after); this finds the moments nobody chose.
// HOMECRYPT_KILL_ROUNDS sets the rounds (default 3; a soak: 30).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BIN, MANIFEST_SH, VECTORS, plainManifest } from '../helpers/ecryptfs.js';
import { makeEcryptfsEncryptedHome } from '../helpers/ecryptfs-homes.js';
import { skipUnless } from '../helpers/requirements.js';
import { deleteUserByName } from '../helpers/users.js';
import { lookupUser } from '../../src/os/users.js';

const ROUNDS = Number(process.env.HOMECRYPT_KILL_ROUNDS ?? 3);
const MOUNT_PASS = 'home mount pass';
const LOGIN = 'home login pass';
const MIGRATE = (user: string) => ['ecryptfs', 'migrate', '--user', user, '--passphrase-fd', '0', '--no-password-check', '--kdf-time', '0.05'];

describe.skipIf(skipUnless('root', 'fuse', 'keyring', 'eCryptfs migrate killed anywhere'))('ecryptfs migrate killed at a random moment', () => {
  let root: string, records: string;
  const users: string[] = [];
  const env = () => ({ ...process.env, HOMECRYPT_RECORD_DIR_FOR_TESTS: records });
  const run = (args: string[], input = `${LOGIN}\n`) => spawnSync(BIN, args, { input, encoding: 'utf8', env: env(), timeout: 120_000 });
  const hook = (user: string, phase: string, type: string, input = '') =>
    spawnSync(BIN, ['pam-hook', phase], { input, encoding: 'utf8', env: { ...env(), PAM_USER: user, PAM_TYPE: type } });
  const isMounted = (mnt: string) =>
    readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[1] === mnt);
  const newHome = (user: string) => {
    users.push(user);
    return makeEcryptfsEncryptedHome({ root, user, mountPass: MOUNT_PASS, login: LOGIN });
  };
  const journalStep = (user: string): string | null => {
    const j = join(root, '.homecrypt', user, 'ecryptfs-migration.json');
    return existsSync(j) ? JSON.parse(readFileSync(j, 'utf8')).step : null;
  };

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'hc-ecryptfs-kill-'));
    chmodSync(root, 0o755);
    records = join(root, 'records');
    mkdirSync(records, { mode: 0o700 });
  });
  afterAll(() => {
    for (const u of users) {
      if (root && isMounted(join(root, u))) spawnSync('fusermount', ['-u', '-z', join(root, u)]);
      deleteUserByName(u);
      rmSync(`/run/homecrypt/log/${u}.log`, { force: true });
      rmSync(`/run/homecrypt/sessions/${u}`, { force: true });
    }
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it(
    `${ROUNDS} rounds: the rerun finishes, and the next login shows every file`,
    async () => {
      const tag = process.pid % 10000;
      // how long an uninterrupted migration takes here: the kills fall inside it
      const probe = `hcekp${tag}`;
      newHome(probe);
      const t = Date.now();
      const whole = run(MIGRATE(probe));
      expect(whole.status, whole.stderr).toBe(0);
      const migrateMs = Date.now() - t;
      const want = plainManifest(join(VECTORS, 'plain'));
      const log: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const user = `hcek${tag}r${round}`;
        const home = newHome(user);
        const at = randomInt(0, migrateMs + 1);
        const first = spawn(BIN, MIGRATE(user), { detached: true, stdio: ['pipe', 'ignore', 'ignore'], env: env() });
        first.stdin!.end(`${LOGIN}\n`);
        const exited = new Promise((r) => first.on('exit', r));
        const timer = setTimeout(() => {
          try {
            process.kill(-first.pid!, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }, at);
        await exited;
        clearTimeout(timer);
        const step = journalStep(user);
        if (step !== 'done') {
          const again = run(MIGRATE(user));
          expect(again.status, `round ${round}, killed after ${at} ms (journal step: ${step}): ${again.stderr}`).toBe(0);
        }
        expect(journalStep(user)).toBe('done');
        // the next login mounts it, and everything is there
        const auth = hook(user, 'auth', 'auth', `${LOGIN}\0`);
        expect(auth.status, auth.stderr).toBe(0);
        expect(hook(user, 'session', 'open_session').status).toBe(0);
        expect(isMounted(home), `round ${round}: not mounted after the login`).toBe(true);
        const u = lookupUser(user);
        const seen = spawnSync('setpriv', ['--reuid', String(u.uid), '--regid', String(u.gid), '--init-groups', 'sh', '-c', MANIFEST_SH, 'sh', home], {
          encoding: 'utf8',
        });
        expect(seen.stdout, `round ${round}, killed after ${at} ms (journal step: ${step})`).toBe(want);
        expect(hook(user, 'session', 'close_session').status).toBe(0);
        log.push(`${at}/${step ?? '-'}`);
      }
      console.log(`migrate ${migrateMs} ms; kills (ms/journal step): ${log.join(', ')}`);
    },
    120_000 + ROUNDS * 60_000,
  );
});
