// setup (--home, --private) and setup --undo killed (SIGKILL: a crash, a second Ctrl-C) at
// a random moment, round after round: each time the same command run again
// finishes, and the undo gives back every file of the home as it was (names,
// contents, modes, owners, links). The tests beside this one stop a run at
// points chosen in advance; this one finds the points nobody chose (it found
// a setup killed between its folder's mkdir and chown, session 21).
// HOMECRYPT_KILL_ROUNDS sets the rounds (default 3; a soak: 50).
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runKilledAfter } from '../helpers/kill-after.js';
import { skipUnless } from '../helpers/requirements.js';
import { createTestUser, removeTestUser, type TestUser } from '../helpers/users.js';
import { BIN, homecrypt, isMounted } from './login-helpers.js';

const ROUNDS = Number(process.env.HOMECRYPT_KILL_ROUNDS ?? 3);
type Mode = 'home' | 'private';
const SETUP = (u: TestUser, mode: Mode) => ['setup', '--user', u.name, `--${mode}`, '--passphrase-fd', '0', '--kdf-time', '0.05'];
const UNDO = (u: TestUser) => ['setup', '--undo', '--yes', '--user', u.name, '--passphrase-fd', '0'];

/** Every entry under dir: type, mode, owner, and content or link target. */
function manifest(dir: string): string[] {
  const top = lstatSync(dir);
  const out: string[] = [`. ${(top.mode & 0o170777).toString(8)} ${top.uid}:${top.gid}`];
  const walk = (rel: string): void => {
    for (const n of readdirSync(join(dir, rel)).sort()) {
      const p = join(rel, n);
      const st = lstatSync(join(dir, p));
      const what = st.isSymbolicLink()
        ? `-> ${readlinkSync(join(dir, p))}`
        : st.isFile()
          ? createHash('sha256')
              .update(readFileSync(join(dir, p)))
              .digest('hex')
          : '';
      out.push(`${p} ${(st.mode & 0o170777).toString(8)} ${st.uid}:${st.gid} ${what}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk('');
  return out;
}

function fillHome(u: TestUser): void {
  mkdirSync(`${u.home}/docs/deep/er`, { recursive: true });
  mkdirSync(`${u.home}/Private`, { mode: 0o700 }); // --private's mount point (an empty one is what undo leaves)
  for (let i = 0; i < 60; i++) writeFileSync(`${u.home}/docs/${i % 3 ? '' : 'deep/'}f${i}.txt`, `file ${i} `.repeat(1 + i * 37));
  writeFileSync(`${u.home}/docs/deep/er/big.bin`, Buffer.alloc(3 << 20, 7));
  writeFileSync(`${u.home}/.secret`, 'mine alone', { mode: 0o600 });
  symlinkSync('docs/f1.txt', `${u.home}/link`);
  spawnSync('chown', ['-hR', `${u.uid}:${u.gid}`, u.home]);
}

const recordState = (u: TestUser): string | null =>
  existsSync(`/etc/homecrypt/users/${u.name}.json`) ? JSON.parse(readFileSync(`/etc/homecrypt/users/${u.name}.json`, 'utf8')).state : null;

describe.skipIf(skipUnless('root', 'fuse', 'keyring', 'setup killed anywhere'))('setup and undo killed at a random moment', () => {
  const users: TestUser[] = [];
  afterAll(() => {
    for (const u of users) removeTestUser(u, [`/home/.homecrypt/${u.name}`]);
  });

  it.each(['home', 'private'] as const)(
    `--%s, ${ROUNDS} rounds: the rerun finishes, and undo gives back the home as it was`,
    async (mode) => {
      // how long an uninterrupted setup and undo take here: the kills fall inside them
      const probe = createTestUser('hcz');
      users.push(probe);
      fillHome(probe);
      let t = Date.now();
      expect(homecrypt(SETUP(probe, mode), `${probe.password}\n`).code).toBe(0);
      const setupMs = Date.now() - t;
      t = Date.now();
      expect(homecrypt(UNDO(probe), `${probe.password}\n`).code).toBe(0);
      const undoMs = Date.now() - t;
      const log: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const u = createTestUser('hcz');
        users.push(u);
        fillHome(u);
        const before = manifest(u.home);
        const setupAt = randomInt(0, setupMs + 1);
        await runKilledAfter(process.execPath, [BIN, ...SETUP(u, mode)], `${u.password}\n`, setupAt);
        const killedIn = recordState(u);
        if (killedIn !== 'ready') {
          const again = homecrypt(SETUP(u, mode), `${u.password}\n`);
          expect(again.code, `round ${round}, setup killed after ${setupAt} ms (record: ${killedIn}): ${again.stderr}`).toBe(0);
        }
        expect(recordState(u)).toBe('ready');
        expect(isMounted(mode === 'home' ? u.home : `${u.home}/Private`)).toBe(false);

        const undoAt = randomInt(0, undoMs + 1);
        await runKilledAfter(process.execPath, [BIN, ...UNDO(u)], `${u.password}\n`, undoAt);
        const undoKilledIn = recordState(u);
        if (undoKilledIn !== null) {
          const again = homecrypt(UNDO(u), `${u.password}\n`);
          expect(again.code, `round ${round}, undo killed after ${undoAt} ms (record: ${undoKilledIn}): ${again.stderr}`).toBe(0);
        }
        expect(recordState(u)).toBe(null);
        expect(manifest(u.home), `round ${round}: setup killed after ${setupAt} ms, undo after ${undoAt} ms`).toEqual(before);
        expect(existsSync(`/home/.homecrypt/${u.name}`)).toBe(false);
        log.push(`${setupAt}/${killedIn ?? '-'} ${undoAt}/${undoKilledIn ?? '-'}`);
        removeTestUser(u, [`/home/.homecrypt/${u.name}`]);
      }
      console.log(`--${mode}: setup ${setupMs} ms, undo ${undoMs} ms; kills (ms/record state): ${log.join(', ')}`);
    },
    120_000 + ROUNDS * 60_000,
  );
});
