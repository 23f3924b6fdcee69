// eCryptfs ENCRYPTED HOMES (the ecryptfs-migrate-home layout: lower data in
// /home/.ecryptfs/U/.Private, keys in /home/.ecryptfs/U/.ecryptfs, the home
// itself the mount point holding only ecryptfs-utils' links), laid out here
// under a temp "/home" with homecrypt's kernel-exact writer and the real
// ecryptfs-wrap-passphrase. adopt: a PAM login mounts the home over those
// links, plaintext visible to the user; logout unmounts. migrate: a homecrypt
// --home mode home, every file verified, interrupted and resumed, which the
// next login mounts; the eCryptfs copy goes only on request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { BIN, MANIFEST_SH, VECTORS, plainManifest } from '../helpers/ecryptfs.js';
import { makeEcryptfsEncryptedHome } from '../helpers/ecryptfs-homes.js';
import { skipUnless } from '../helpers/requirements.js';
import { lookupUser } from '../../src/os/users.js';
import { writeSetupMarker } from '../../src/session/setup-leftover.js';
import { removeSetupMarker } from '../../src/session/setup-marker.js';
import { deleteUserByName } from '../helpers/users.js';

const MOUNT_PASS = 'home mount pass';
const LOGIN = 'home login pass';
const PLAIN = join(VECTORS, 'plain');
// several CLI runs and logins, each starting node and user workers: minutes on a loaded 2-core machine
const LONG = 300_000;
const mountOf = (mnt: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[1] === mnt);

const layEncryptedHome = (root: string, user: string) => makeEcryptfsEncryptedHome({ root, user, mountPass: MOUNT_PASS, login: LOGIN });

function manifestAsUser(user: string, dir: string) {
  const u = lookupUser(user);
  return spawnSync('setpriv', ['--reuid', String(u.uid), '--regid', String(u.gid), '--init-groups', 'sh', '-c', MANIFEST_SH, 'sh', dir], { encoding: 'utf8' });
}

describe.skipIf(skipUnless('root', 'fuse', 'keyring', 'eCryptfs encrypted homes'))('eCryptfs encrypted homes', () => {
  let root: string, records: string;
  const adoptUser = `hcehad${process.pid % 100000}`;
  const migUser = `hcehmg${process.pid % 100000}`;
  const undoUser = `hcehun${process.pid % 100000}`;
  const env = () => ({ ...process.env, HOMECRYPT_RECORD_DIR_FOR_TESTS: records });
  const hook = (user: string, phase: string, type: string, input = '') =>
    spawnSync(BIN, ['pam-hook', phase], { input, encoding: 'utf8', env: { ...env(), PAM_USER: user, PAM_TYPE: type } });
  const run = (args: string[], input = `${LOGIN}\n`) => spawnSync(BIN, args, { input, encoding: 'utf8', env: env() });
  const login = (user: string) => {
    const auth = hook(user, 'auth', 'auth', `${LOGIN}\0`);
    expect(auth.status, auth.stderr).toBe(0);
    const open = hook(user, 'session', 'open_session');
    expect(open.status, open.stderr).toBe(0);
  };

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'hc-ecryptfs-home-'));
    chmodSync(root, 0o755);
    records = join(root, 'records');
    mkdirSync(records, { mode: 0o700 });
    layEncryptedHome(root, adoptUser);
    layEncryptedHome(root, migUser);
    layEncryptedHome(root, undoUser);
  });

  afterAll(() => {
    for (const u of [adoptUser, migUser, undoUser]) {
      if (root && mountOf(join(root, u))) spawnSync('fusermount', ['-u', '-z', join(root, u)]);
      deleteUserByName(u);
      rmSync(`/run/homecrypt/log/${u}.log`, { force: true });
      rmSync(`/run/homecrypt/sessions/${u}`, { force: true });
    }
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('adopt refuses a home holding files the mount would hide, writing nothing', () => {
    const home = join(root, adoptUser);
    chmodSync(home, 0o700);
    writeFileSync(join(home, 'written-while-locked.txt'), 'x');
    try {
      const r = run(['ecryptfs', 'adopt', '--user', adoptUser, '--passphrase-fd', '0', '--no-password-check', '--kdf-time', '0.05']);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/written-while-locked\.txt.*would hide/);
      expect(readdirSync(records)).toEqual([]);
      expect(existsSync(join(root, '.ecryptfs', adoptUser, '.homecrypt'))).toBe(false);
    } finally {
      unlinkSync(join(home, 'written-while-locked.txt'));
      chmodSync(home, 0o500);
    }
  });

  it(
    'adopt: a login mounts the home over the eCryptfs links, plaintext visible; logout unmounts',
    () => {
      const home = join(root, adoptUser);
      const r = run(['ecryptfs', 'adopt', '--user', adoptUser, '--passphrase-fd', '0', '--no-password-check', '--kdf-time', '0.05']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/eCryptfs home/);
      const rec = JSON.parse(readFileSync(join(records, `${adoptUser}.json`), 'utf8'));
      expect(rec).toMatchObject({ mode: 'home', mountPoint: home, lower: join(root, '.ecryptfs', adoptUser, '.Private') });
      // the key store sits outside the mount point it unlocks
      expect(rec.keyStore).toBe(join(root, '.ecryptfs', adoptUser, '.homecrypt/homecrypt.keys'));
      // a file that appeared in the unmounted home is never hidden: the login goes on, the home stays locked
      writeFileSync(join(home, 'stray.txt'), 'x');
      login(adoptUser);
      expect(mountOf(home)).toBeUndefined();
      expect(hook(adoptUser, 'session', 'close_session').status).toBe(0);
      unlinkSync(join(home, 'stray.txt'));
      login(adoptUser);
      expect(mountOf(home)?.[2]).toBe('fuse.homecrypt-ecryptfs');
      const seen = manifestAsUser(adoptUser, home);
      expect(seen.status, seen.stderr).toBe(0);
      expect(seen.stdout).toBe(plainManifest(PLAIN));
      const close = hook(adoptUser, 'session', 'close_session');
      expect(close.status, close.stderr).toBe(0);
      expect(mountOf(home)).toBeUndefined();
      // the links are still there under the mount point, and still lead to the eCryptfs keys
      expect(lstatSync(join(home, '.ecryptfs')).isSymbolicLink()).toBe(true);
      expect(existsSync(join(home, '.ecryptfs/wrapped-passphrase'))).toBe(true);
    },
    LONG,
  );

  it(
    'migrate of an adopted home: refused while it is mounted, then replaces the adoption',
    () => {
      const home = join(root, adoptUser);
      const migrate = () => run(['ecryptfs', 'migrate', '--user', adoptUser, '--passphrase-fd', '0', '--no-password-check', '--kdf-time', '0.05']);
      login(adoptUser);
      expect(mountOf(home)).toBeDefined();
      const busy = migrate();
      expect(busy.status).not.toBe(0);
      expect(busy.stderr).toMatch(/is mounted/);
      expect(existsSync(join(root, '.homecrypt', adoptUser))).toBe(false);
      expect(hook(adoptUser, 'session', 'close_session').status).toBe(0);
      const ok = migrate();
      expect(ok.status, ok.stderr).toBe(0);
      login(adoptUser);
      expect(mountOf(home)?.[2]).toBe('fuse.homecrypt');
      expect(manifestAsUser(adoptUser, home).stdout).toBe(plainManifest(PLAIN));
      expect(hook(adoptUser, 'session', 'close_session').status).toBe(0);
      expect(mountOf(home)).toBeUndefined();
    },
    LONG,
  );

  it('migrate refuses a folder in .homecrypt that no record names, saying what it likely is and what to run', () => {
    const base = join(root, '.homecrypt', migUser);
    const again = `run homecrypt ecryptfs migrate --user ${migUser} again`;
    const migrate = () => run(['ecryptfs', 'migrate', '--user', migUser, '--passphrase-fd', '0', '--no-password-check', '--kdf-time', '0.05']);
    /** `fn` with this process's record folder the test's (the setup marker sits beside the records). */
    const withRecords = (fn: () => void) => {
      const was = process.env.HOMECRYPT_RECORD_DIR_FOR_TESTS;
      process.env.HOMECRYPT_RECORD_DIR_FOR_TESTS = records;
      try {
        fn();
      } finally {
        if (was === undefined) delete process.env.HOMECRYPT_RECORD_DIR_FOR_TESTS;
        else process.env.HOMECRYPT_RECORD_DIR_FOR_TESTS = was;
      }
    };
    mkdirSync(join(root, '.homecrypt'), { recursive: true, mode: 0o711 });
    mkdirSync(base);
    writeFileSync(join(base, 'data.bin'), 'whose?');
    try {
      // no setup of this account made it: it may be someone's data
      let r = migrate();
      expect(r.stderr).toBe(
        `homecrypt: ${base} already exists and no record names it (no interrupted setup of this account made it)\n` +
          `hint: it may hold encrypted data, e.g. of an account forgotten with setup --forget (it opens with that recovery key): look inside with ls -la ${base}; ` +
          `keep it elsewhere if it does, e.g. mv -T -- ${base} ${base}.kept, or remove it; then ${again}\n`,
      );
      expect(r.status).toBe(8);
      // what a setup --home stopped before its record leaves, its marker naming it: nothing in it is needed
      rmSync(join(base, 'data.bin'));
      writeFileSync(join(base, 'homecrypt.keys'), '');
      mkdirSync(join(base, 'lower'));
      withRecords(() => writeSetupMarker(lookupUser(migUser), base, true));
      r = migrate();
      expect(r.stderr).toBe(
        `homecrypt: ${base} already exists: a setup --home of ${migUser} stopped before it wrote the record left it\n` +
          `hint: nothing in it is needed (a key store whose recovery key was never shown, and an empty volume; homecrypt doctor --user ${migUser} says so too): ` +
          `remove it with rm -r -- ${base}, then ${again}\n`,
      );
      expect(r.status).toBe(8);
      expect(existsSync(join(records, `${migUser}.json`))).toBe(false);
    } finally {
      rmSync(base, { recursive: true, force: true });
      withRecords(() => removeSetupMarker(migUser));
    }
  });

  it(
    'migrate: every file verified, resumable, and homecrypt --home mode works at the next login',
    async () => {
      const home = join(root, migUser);
      const base = join(root, '.homecrypt', migUser);
      const migrate = (extra: string[] = []) =>
        run(['ecryptfs', 'migrate', '--user', migUser, '--passphrase-fd', '0', '--no-password-check', '--kdf-time', '0.05', ...extra]);
      // refused, writing nothing, while the user has a process running or the space is short
      const u = lookupUser(migUser);
      const proc = spawn('setpriv', ['--reuid', String(u.uid), '--regid', String(u.gid), '--clear-groups', 'sleep', '60'], { stdio: 'ignore' });
      try {
        const busy = migrate();
        expect(busy.status).not.toBe(0);
        expect(busy.stderr).toMatch(/process\(es\) running/);
      } finally {
        const gone = once(proc, 'exit');
        proc.kill('SIGKILL');
        await gone;
      }
      mkdirSync(join(root, '.homecrypt'), { recursive: true, mode: 0o711 });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'hc-ecryptfs-home-test', join(root, '.homecrypt')]);
      try {
        const full = migrate();
        expect(full.status).not.toBe(0);
        expect(full.stderr).toMatch(/not enough free space/);
        expect(readdirSync(join(root, '.homecrypt'))).toEqual([]);
      } finally {
        execFileSync('umount', [join(root, '.homecrypt')]);
      }
      expect(existsSync(join(records, `${migUser}.json`))).toBe(false);
      const wrong = run(['ecryptfs', 'migrate', '--user', migUser, '--passphrase-fd', '0', '--no-password-check'], 'wrong\n');
      expect(wrong.status).toBe(3);
      expect(existsSync(base)).toBe(false);
      // an empty folder, root's, as a run killed between its mkdir and its chown leaves it: nobody's data, removed
      mkdirSync(base, { mode: 0o700 });
      const first = migrate(['--fail-after', '3']);
      expect(first.stderr).toContain(`removed the empty ${base}, left by a run stopped before it wrote anything there\n`);
      expect(first.status).not.toBe(0);
      expect(first.stdout).toMatch(/Recovery key for/);
      expect(first.stderr).toMatch(/simulated interruption/);
      expect(JSON.parse(readFileSync(join(base, 'ecryptfs-migration.json'), 'utf8')).step).toBe('setup');
      // an interrupted migration is not mounted by a login
      login(migUser);
      expect(mountOf(home)).toBeUndefined();
      hook(migUser, 'session', 'close_session');
      const second = migrate();
      expect(second.status, second.stderr).toBe(0);
      expect(second.stderr).toMatch(/resuming/);
      expect(second.stdout).toMatch(/encrypted home to homecrypt/);
      expect(second.stdout).toMatch(/eCryptfs copy is kept/);
      expect(existsSync(join(root, '.ecryptfs', migUser, '.Private'))).toBe(true);
      expect(readdirSync(home)).toEqual([]);
      const rec = JSON.parse(readFileSync(join(records, `${migUser}.json`), 'utf8'));
      expect(rec).toMatchObject({ mode: 'home', state: 'ready', lower: join(base, 'lower'), keyStore: join(base, 'homecrypt.keys'), mountPoint: home });
      login(migUser);
      expect(mountOf(home)?.[2]).toBe('fuse.homecrypt');
      const seen = manifestAsUser(migUser, home);
      expect(seen.status, seen.stderr).toBe(0);
      expect(seen.stdout).toBe(plainManifest(PLAIN));
      expect(hook(migUser, 'session', 'close_session').status).toBe(0);
      expect(mountOf(home)).toBeUndefined();
      // doctor names the kept copy until it is removed
      const copy = join(root, '.ecryptfs', migUser);
      expect(run(['doctor', '--user', migUser]).stdout).toContain(
        `warning: ${migUser}: the eCryptfs copy ${copy} that homecrypt ecryptfs migrate kept is still there`,
      );
      const rm = migrate(['--remove-ecryptfs']);
      expect(rm.status, rm.stderr).toBe(0);
      expect(existsSync(copy)).toBe(false);
      expect(run(['doctor', '--user', migUser]).stdout).not.toContain('eCryptfs copy');
      const again = migrate();
      expect(again.status).toBe(8);
      expect(again.stderr).toMatch(/already migrated/);
    },
    LONG,
  );
  it(
    'setup --undo of a migrated home puts the plain files back and names the eCryptfs copy it keeps',
    () => {
      const home = join(root, undoUser);
      const copy = join(root, '.ecryptfs', undoUser);
      const m = run(['ecryptfs', 'migrate', '--user', undoUser, '--passphrase-fd', '0', '--no-password-check', '--kdf-time', '0.05']);
      expect(m.status, m.stderr).toBe(0);
      const undo = run(['setup', '--undo', '--user', undoUser, '--yes', '--passphrase-fd', '0']);
      expect(undo.status, undo.stderr).toBe(0);
      expect(undo.stdout).toContain(
        `kept ${copy}: the eCryptfs copy that homecrypt ecryptfs migrate set aside (${undoUser}'s home as it was migrated, still encrypted, with its eCryptfs settings)`,
      );
      expect(undo.stdout).toContain(`remove it: rm -rf -- ${copy}`);
      expect(existsSync(join(copy, '.Private'))).toBe(true);
      const seen = manifestAsUser(undoUser, home);
      expect(seen.status, seen.stderr).toBe(0);
      expect(seen.stdout).toBe(plainManifest(PLAIN));
      expect(existsSync(join(root, '.homecrypt', undoUser))).toBe(false);
    },
    LONG,
  );
});
