// homecrypt ecryptfs migrate (of an encrypted home, of a Private directory)
// and ecryptfs adopt (of an encrypted home), SIGKILLed (a crash, a
// second Ctrl-C) at a random moment within its usual duration, round after
// round: the same command run again finishes every time, and the next login
// shows every eCryptfs file, byte for byte. encrypted-home.test.ts stops it at
// chosen steps (--fail-after); this finds the moments nobody chose.
// HOMECRYPT_KILL_ROUNDS sets the rounds (default 3; a soak: 30).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BIN, MANIFEST_SH, VECTORS, plainManifest } from '../helpers/ecryptfs.js';
import { makeEcryptfsEncryptedHome, makeEcryptfsPrivateHome } from '../helpers/ecryptfs-homes.js';
import { runKilledAfter } from '../helpers/kill-after.js';
import { skipUnless } from '../helpers/requirements.js';
import { deleteUserByName } from '../helpers/users.js';
import { isMounted } from '../login/login-helpers.js';
import { lookupUser } from '../../src/os/users.js';

const ROUNDS = Number(process.env.HOMECRYPT_KILL_ROUNDS ?? 3);
const MOUNT_PASS = 'home mount pass';
const LOGIN = 'home login pass';
const RUN = (verb: string, user: string) => ['ecryptfs', verb, '--user', user, '--passphrase-fd', '0', '--no-password-check', '--kdf-time', '0.05'];

describe.skipIf(skipUnless('root', 'fuse', 'keyring', 'eCryptfs migrate and adopt killed anywhere'))(
  'ecryptfs migrate and adopt killed at a random moment',
  () => {
    let root: string;
    const users: { user: string; mnt: string }[] = [];
    const dirs: string[] = [];

    /** One user's eCryptfs data as ecryptfs-utils leaves it, and what the command makes of it. */
    interface Laid {
      records: string;
      /** the next login's mount point */
      mnt: string;
      /** where the command is: its journal's step, or whether the record exists */
      progress(): string;
      done(): boolean;
    }
    const step = (journal: string) => (existsSync(journal) ? JSON.parse(readFileSync(journal, 'utf8')).step : '-');
    const migrated = (records: string, journal: string, mnt: string): Laid => ({
      records,
      mnt,
      progress: () => step(journal),
      done: () => step(journal) === 'done',
    });
    const kinds: Record<string, { verb: string; lay: (user: string) => Laid }> = {
      'migrate of an encrypted home': {
        verb: 'migrate',
        lay: (user) => {
          const home = makeEcryptfsEncryptedHome({ root, user, mountPass: MOUNT_PASS, login: LOGIN });
          return migrated(join(root, 'records'), join(root, '.homecrypt', user, 'ecryptfs-migration.json'), home);
        },
      },
      'migrate of a Private directory': {
        verb: 'migrate',
        lay: (user) => {
          const { base, home, records } = makeEcryptfsPrivateHome({ user, mountPass: MOUNT_PASS, login: LOGIN, tmpPrefix: 'hc-ecryptfs-kill-private-' });
          dirs.push(base);
          return migrated(records, join(home, '.homecrypt', 'ecryptfs-migration.json'), join(home, 'Private'));
        },
      },
      'adopt of an encrypted home': {
        verb: 'adopt',
        lay: (user) => {
          const home = makeEcryptfsEncryptedHome({ root, user, mountPass: MOUNT_PASS, login: LOGIN });
          const record = join(root, 'records', `${user}.json`);
          return { records: join(root, 'records'), mnt: home, progress: () => (existsSync(record) ? 'recorded' : '-'), done: () => existsSync(record) };
        },
      },
    };

    beforeAll(() => {
      root = mkdtempSync(join(tmpdir(), 'hc-ecryptfs-kill-'));
      chmodSync(root, 0o755);
      mkdirSync(join(root, 'records'), { mode: 0o700 });
      dirs.push(root);
    });
    afterAll(() => {
      for (const { user, mnt } of users) {
        if (isMounted(mnt)) spawnSync('fusermount', ['-u', '-z', mnt]);
        deleteUserByName(user);
        rmSync(`/run/homecrypt/log/${user}.log`, { force: true });
        rmSync(`/run/homecrypt/sessions/${user}`, { force: true });
      }
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    it.each(Object.keys(kinds))(
      `%s, ${ROUNDS} rounds: the rerun finishes, and the next login shows every file`,
      async (kind) => {
        const { verb, lay: layOne } = kinds[kind]!;
        const lay = (user: string): Laid => {
          const laid = layOne(user);
          users.push({ user, mnt: laid.mnt });
          return laid;
        };
        const env = (l: Laid) => ({ ...process.env, HOMECRYPT_RECORD_DIR_FOR_TESTS: l.records });
        const run = (l: Laid, args: string[]) => spawnSync(BIN, args, { input: `${LOGIN}\n`, encoding: 'utf8', env: env(l), timeout: 120_000 });
        const hook = (l: Laid, user: string, phase: string, type: string, input = '') =>
          spawnSync(BIN, ['pam-hook', phase], { input, encoding: 'utf8', env: { ...env(l), PAM_USER: user, PAM_TYPE: type } });
        const tag = `${process.pid % 1000}${Object.keys(kinds).indexOf(kind)}`;
        // how long an uninterrupted migration takes here: the kills fall inside it
        const probe = `hcek${tag}x`;
        const probed = lay(probe);
        const t = Date.now();
        const whole = run(probed, RUN(verb, probe));
        expect(whole.status, whole.stderr).toBe(0);
        const migrateMs = Date.now() - t;
        const want = plainManifest(join(VECTORS, 'plain'));
        const log: string[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const user = `hcek${tag}${round}`;
          const laid = lay(user);
          const at = randomInt(0, migrateMs + 1);
          await runKilledAfter(BIN, RUN(verb, user), `${LOGIN}\n`, at, env(laid));
          const where = laid.progress();
          if (!laid.done()) {
            const again = run(laid, RUN(verb, user));
            expect(again.status, `round ${round}, killed after ${at} ms (${where}): ${again.stderr}`).toBe(0);
          }
          expect(laid.done(), laid.progress()).toBe(true);
          // the next login mounts it, and everything is there
          const auth = hook(laid, user, 'auth', 'auth', `${LOGIN}\0`);
          expect(auth.status, auth.stderr).toBe(0);
          expect(hook(laid, user, 'session', 'open_session').status).toBe(0);
          expect(isMounted(laid.mnt), `round ${round}: not mounted after the login`).toBe(true);
          const u = lookupUser(user);
          const seen = spawnSync('setpriv', ['--reuid', String(u.uid), '--regid', String(u.gid), '--init-groups', 'sh', '-c', MANIFEST_SH, 'sh', laid.mnt], {
            encoding: 'utf8',
          });
          expect(seen.stdout, `round ${round}, killed after ${at} ms (${where})`).toBe(want);
          expect(hook(laid, user, 'session', 'close_session').status).toBe(0);
          log.push(`${at}/${where}`);
        }
        console.log(`${kind}: ${migrateMs} ms; kills (ms/progress): ${log.join(', ')}`);
      },
      120_000 + ROUNDS * 60_000,
    );
  },
);
