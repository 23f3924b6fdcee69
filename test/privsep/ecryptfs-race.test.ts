// Issue #13, "Must show", for the eCryptfs commands: `ecryptfs adopt`,
// `ecryptfs migrate` of a Private directory (with its journal, and a resumed
// run) and of an encrypted home, raced by the swapper (test/helpers/swapper.py) running as the user,
// which replaces each file and directory they create or open in the home with
// a symlink to a root-owned canary. After every run the canaries are
// unchanged and the command succeeded or refused with a message; each test
// also asserts the swapper did swap, so a race that never happened cannot pass.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { deleteUserByName, type TestUser } from '../helpers/users.js';
import { makeCanaries, outcome, racedRuns, startSwapper, type Canaries, type Swapper, type SwapperOptions } from '../helpers/race.js';
import { makeEcryptfsEncryptedHome, makeEcryptfsPrivateHome } from '../helpers/ecryptfs-homes.js';
import { lookupUser } from '../../src/os/users.js';
import { adoptUser } from '../../src/session/ecryptfs/adopt.js';
import { migrateEcryptfs } from '../../src/session/ecryptfs/migrate.js';

const MOUNT_PASS = 'race mount pass';
const LOGIN = 'race login pass';
const KDF = 0.02;

describe.skipIf(skipUnless('root', 'fuse', 'privilege separation races (eCryptfs)'))(
  'ecryptfs adopt and migrate never act as root on a path the user controls (raced, issue #13)',
  () => {
    const name = `hcqe${process.pid % 10000}`;
    const bases: string[] = [];
    let c: Canaries;
    const allCanaries: Canaries[] = [];
    const newCanaries = () => {
      c = makeCanaries();
      allCanaries.push(c);
      return c;
    };
    let sw: Swapper | null = null;
    const savedRecords = process.env.HOMECRYPT_RECORD_DIR_FOR_TESTS;

    /** A fresh eCryptfs Private setup for the user (the account is made again each time). */
    function fresh(): TestUser {
      const f = makeEcryptfsPrivateHome({ user: name, mountPass: MOUNT_PASS, login: LOGIN, tmpPrefix: 'hc-race-ecryptfs-', desktopLink: true });
      bases.push(f.base);
      process.env.HOMECRYPT_RECORD_DIR_FOR_TESTS = f.records;
      const a = lookupUser(name);
      return { name, uid: a.uid, gid: a.gid, home: f.home, password: LOGIN };
    }

    afterEach(async () => {
      if (sw) {
        await sw.stop().catch(() => 0);
        sw = null;
      }
    });
    afterAll(() => {
      deleteUserByName(name);
      for (const b of bases) rmSync(b, { recursive: true, force: true });
      for (const k of allCanaries) k.remove();
      if (savedRecords === undefined) delete process.env.HOMECRYPT_RECORD_DIR_FOR_TESTS;
      else process.env.HOMECRYPT_RECORD_DIR_FOR_TESTS = savedRecords;
    });

    async function raced(
      targets: string[],
      runs: number,
      run: (u: TestUser, i: number) => Promise<unknown>,
      prepare?: (u: TestUser) => Promise<void>,
    ): Promise<{ swaps: number; seen: string[] }> {
      newCanaries();
      const before = c.snapshot();
      const seen: string[] = [];
      const swaps = await racedRuns(runs, async (i) => {
        const u = fresh();
        if (prepare) await prepare(u);
        sw = await startSwapper(u, c, { watch: [u.home], match: targets[i % targets.length]!, events: ['create', 'open'], recursive: true });
        seen.push(await outcome(run(u, i)));
        const n = await sw.stop();
        sw = null;
        expect(c.snapshot(), `run ${i} (${targets[i % targets.length]}): ${seen[i]}`).toBe(before);
        return n;
      });
      return { swaps, seen };
    }

    // the key folder, the key store's and the adoption file's temp files, the
    // mount point and ecryptfs-utils' links in it
    const ADOPT_TARGETS = ['^\\.homecrypt$', '^\\.homecrypt\\.keys\\.tmp-', '^\\.ecryptfs-adopt\\.bin\\.tmp-', '^Private$', '^README\\.txt$'];
    it(`ecryptfs adopt: canaries unchanged over ${ADOPT_TARGETS.length * 2} raced runs (more until a swap lands)`, async () => {
      const { swaps, seen } = await raced(ADOPT_TARGETS, ADOPT_TARGETS.length * 2, (u) =>
        adoptUser({
          user: u.name,
          loginPassphrase: Buffer.from(LOGIN),
          kdfTimeSeconds: KDF,
          checkPassword: false,
        }),
      );
      console.info(`adopt under the swapper: ${swaps} swaps; ${seen.join(' | ')}`);
      expect(swaps).toBeGreaterThan(0);
    }, 900_000);

    const migrate = (u: TestUser, extra: { failAfterEntries?: number; removeEcryptfs?: boolean } = {}) =>
      migrateEcryptfs({
        user: u.name,
        loginPassphrase: Buffer.from(LOGIN),
        kdfTimeSeconds: KDF,
        checkPassword: false,
        removeEcryptfs: extra.removeEcryptfs ?? true,
        ...extra,
      });

    // the journal's folder, the journal and its temp file, the eCryptfs copy
    // moved aside, the new lower and the files the copy writes into it
    const MIGRATE_TARGETS = ['^\\.homecrypt$', 'ecryptfs-migration\\.json', '^\\.Private\\.ecryptfs$', '^\\.Private$', '^[A-Za-z0-9_-]{20,}'];
    it(`ecryptfs migrate (Private directory, journal): canaries unchanged over ${MIGRATE_TARGETS.length * 2} raced runs (more until a swap lands)`, async () => {
      const { swaps, seen } = await raced(MIGRATE_TARGETS, MIGRATE_TARGETS.length * 2, (u) => migrate(u));
      console.info(`migrate under the swapper: ${swaps} swaps; ${seen.join(' | ')}`);
      expect(swaps).toBeGreaterThan(0);
    }, 900_000);

    // a migration interrupted after its journal said "setup", resumed under the swapper
    const RESUME_TARGETS = ['ecryptfs-migration\\.json', '^\\.Private\\.ecryptfs$', '^[A-Za-z0-9_-]{20,}'];
    it(`a resumed migration (journal read back, copy completed, copy removed): canaries unchanged over ${RESUME_TARGETS.length * 2} raced runs (more until a swap lands)`, async () => {
      const { swaps, seen } = await raced(
        RESUME_TARGETS,
        RESUME_TARGETS.length * 2,
        (u) => migrate(u),
        async (u) => {
          const first = await outcome(migrate(u, { failAfterEntries: 2, removeEcryptfs: false }));
          expect(first).toMatch(/simulated interruption/);
        },
      );
      console.info(`resumed migrate under the swapper: ${swaps} swaps; ${seen.join(' | ')}`);
      expect(swaps).toBeGreaterThan(0);
    }, 900_000);

    // An encrypted home: migrate refuses while the user has a process, so the
    // attacker comes in as soon as root has made /home/.homecrypt/U (after that
    // check), watching it and /home/.ecryptfs/U: the key store's temp file, the
    // lower, the journal's temp file, the files the copy writes, and the eCryptfs
    // copy's folders as root's descriptor walk removes them.
    const HOME_TARGETS: { match: string; where: 'base' | 'ecryptfs'; events: SwapperOptions['events'] }[] = [
      { match: '^\\.homecrypt\\.keys\\.tmp-', where: 'base', events: ['create'] },
      { match: '^lower$', where: 'base', events: ['create', 'open'] },
      { match: '^\\.ecryptfs-migration\\.json\\.tmp-', where: 'base', events: ['create'] },
      { match: '^[A-Za-z0-9_-]{20,}', where: 'base', events: ['create'] },
      { match: '^(\\.Private|\\.ecryptfs|ECRYPTFS_FNEK_ENCRYPTED\\..*)$', where: 'ecryptfs', events: ['open'] },
    ];
    it(`ecryptfs migrate (encrypted home): canaries unchanged over ${HOME_TARGETS.length} raced runs (more until a swap lands)`, async () => {
      newCanaries();
      const before = c.snapshot();
      const seen: string[] = [];
      const swaps = await racedRuns(HOME_TARGETS.length, async (i) => {
        const t = HOME_TARGETS[i % HOME_TARGETS.length]!;
        const root = mkdtempSync('/tmp/hc-race-ecryptfs-home-');
        bases.push(root);
        chmodSync(root, 0o755);
        const records = join(root, 'records');
        mkdirSync(records, { mode: 0o700 });
        process.env.HOMECRYPT_RECORD_DIR_FOR_TESTS = records;
        const home = makeEcryptfsEncryptedHome({ root, user: name, mountPass: MOUNT_PASS, login: LOGIN });
        const a = lookupUser(name);
        const u: TestUser = { name, uid: a.uid, gid: a.gid, home, password: LOGIN };
        const base = join(root, '.homecrypt', name);
        const watch = t.where === 'base' ? base : join(root, '.ecryptfs', name);
        const running = { done: false };
        const swapping = (async () => {
          while (!running.done && !existsSync(base)) await new Promise((r) => setTimeout(r, 5));
          return running.done ? null : startSwapper(u, c, { watch: [watch], match: t.match, events: t.events, recursive: true });
        })();
        const r = await outcome(
          migrateEcryptfs({
            user: name,
            loginPassphrase: Buffer.from(LOGIN),
            kdfTimeSeconds: KDF,
            checkPassword: false,
            removeEcryptfs: true,
          }),
        );
        running.done = true;
        sw = await swapping;
        let n = 0;
        if (sw) {
          n = await sw.stop();
          sw = null;
        }
        seen.push(`${t.match} (${n} swaps): ${r}`);
        expect(c.snapshot(), `run ${i}: ${r}`).toBe(before);
        spawnSync('pkill', ['-KILL', '-U', String(u.uid)]);
        return n;
      });
      console.info(`migrate (encrypted home) under the swapper: ${swaps} swaps; ${seen.join(' | ')}`);
      expect(swaps).toBeGreaterThan(0);
    }, 900_000);
  },
);
