// `homecrypt ecryptfs adopt --user U`: an eCryptfs Private directory unlocks at
// login through homecrypt's own PAM hook (auth -> keyring, open_session ->
// mount as the user, close_session -> unmount), with no eCryptfs module and the
// eCryptfs data left as it is.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  lchownSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { makeEcryptfsPrivateHome } from '../../helpers/ecryptfs-homes.js';
import { BIN, MANIFEST_SH, VECTORS, plainManifest } from '../../helpers/ecryptfs.js';
import { skipUnless } from '../../helpers/requirements.js';
import { lookupUser } from '../../../src/os/users.js';
import { deleteUserByName } from '../../helpers/users.js';

const MOUNT_PASS = 'adopt mount pass';
const LOGIN = 'adopt login pass';
const isMounted = (mnt: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === mnt);

describe.skipIf(skipUnless('root', 'fuse', 'keyring', 'eCryptfs adopt'))('homecrypt ecryptfs adopt', () => {
  let base: string, home: string, records: string;
  const user = `hcadopt${process.pid % 100000}`;
  const env = () => ({ ...process.env, HOMECRYPT_RECORD_DIR_FOR_TESTS: records });
  const hook = (phase: string, type: string, input = '') =>
    spawnSync(BIN, ['pam-hook', phase], { input, encoding: 'utf8', env: { ...env(), PAM_USER: user, PAM_TYPE: type } });

  beforeAll(() => {
    ({ base, home, records } = makeEcryptfsPrivateHome({
      user,
      mountPass: MOUNT_PASS,
      login: LOGIN,
      tmpPrefix: 'hc-ecryptfs-adopt-',
      desktopLink: true,
    }));
  });

  afterAll(() => {
    if (home && isMounted(join(home, 'Private'))) spawnSync('fusermount', ['-u', '-z', join(home, 'Private')]);
    deleteUserByName(user);
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('refuses a wrong login passphrase without writing anything', () => {
    const r = spawnSync(BIN, ['ecryptfs', 'adopt', '--user', user, '--passphrase-fd', '0', '--no-password-check'], {
      input: 'wrong\n',
      encoding: 'utf8',
      env: env(),
    });
    expect(r.status).toBe(3);
    expect(existsSync(join(home, '.homecrypt'))).toBe(false);
    expect(readdirSync(records)).toEqual([]);
  });

  describe("Private.mnt is the user's file: a mount point outside the home or through a symlink is refused", () => {
    let shared: string;
    const adopt = () =>
      spawnSync(BIN, ['ecryptfs', 'adopt', '--user', user, '--passphrase-fd', '0', '--no-password-check'], {
        input: `${LOGIN}\n`,
        encoding: 'utf8',
        env: env(),
      });
    const mntFile = () => join(home, '.ecryptfs/Private.mnt');
    const asOwner = (p: string) => {
      const u = lookupUser(user);
      lchownSync(p, u.uid, u.gid);
    };
    /** writes Private.mnt (as the user could), runs adopt, restores it; checks nothing was adopted and the shared dir kept its mode */
    const refused = (mnt: string, why: RegExp) => {
      const saved = readFileSync(mntFile());
      writeFileSync(mntFile(), `${mnt}\n`);
      try {
        const r = adopt();
        expect(r.status, r.stderr).toBe(8);
        expect(r.stderr).toMatch(why);
        expect(readdirSync(records)).toEqual([]);
        expect(existsSync(join(home, '.homecrypt'))).toBe(false);
        expect(statSync(shared).mode & 0o7777).toBe(0o1777);
        expect(statSync(join(shared, 'Private')).mode & 0o7777).toBe(0o1777);
      } finally {
        writeFileSync(mntFile(), saved);
      }
    };

    beforeAll(() => {
      // a shared, world-writable folder, as /tmp is: root's 0700 there would lock everyone else out
      shared = mkdtempSync('/tmp/hc-adopt-shared-');
      mkdirSync(join(shared, 'Private'));
      chmodSync(shared, 0o1777);
      chmodSync(join(shared, 'Private'), 0o1777);
    });
    afterAll(() => rmSync(shared, { recursive: true, force: true }));

    it('a path outside the home, directly or by "..", is refused', () => {
      refused(join(shared, 'Private'), /Private\.mnt names \/tmp\/hc-adopt-shared-\S+, which is not inside .*; a mount point must be in the user's home/);
      // home is /tmp/X/user: two levels up is /tmp, where the shared folder is
      refused(`${home}/../../${basename(shared)}/Private`, /which is not inside/);
    });

    it('a symlink in the home on the way to it (last component or one before) is refused', () => {
      const link = join(home, 'elsewhere');
      symlinkSync(shared, link);
      asOwner(link);
      try {
        refused(
          join(link, 'Private'),
          new RegExp(`${link} is a symbolic link or not a directory; the mount point ${link}/Private must be reached through real directories`),
        );
      } finally {
        rmSync(link);
      }
      // ~/Private itself swapped for a link to the shared folder, Private.mnt unchanged
      const priv = join(home, 'Private');
      renameSync(priv, `${priv}.real`);
      symlinkSync(join(shared, 'Private'), priv);
      asOwner(priv);
      try {
        refused(priv, /Private is a symbolic link or not a directory/);
      } finally {
        rmSync(priv);
        renameSync(`${priv}.real`, priv);
      }
    });
  });

  it('refuses an encrypted home whose unmounted home holds files the mount would hide', () => {
    const mntFile = join(home, '.ecryptfs/Private.mnt');
    const saved = readFileSync(mntFile);
    writeFileSync(mntFile, `${home}\n`);
    try {
      const r = spawnSync(BIN, ['ecryptfs', 'adopt', '--user', user, '--passphrase-fd', '0', '--no-password-check'], {
        input: `${LOGIN}\n`,
        encoding: 'utf8',
        env: env(),
      });
      expect(r.status).toBe(8);
      expect(r.stderr).toMatch(/\.Private.*would hide them/);
      expect(readdirSync(records)).toEqual([]);
    } finally {
      writeFileSync(mntFile, saved);
    }
  });

  it('refuses an adoption file left without a record, saying what it likely is and how to move it', () => {
    const keyDir = join(home, '.homecrypt');
    const adoptFile = join(keyDir, 'ecryptfs-adopt.bin');
    mkdirSync(keyDir);
    writeFileSync(adoptFile, 'left by an adopt that stopped');
    try {
      const r = spawnSync(BIN, ['ecryptfs', 'adopt', '--user', user, '--passphrase-fd', '0', '--no-password-check'], {
        input: `${LOGIN}\n`,
        encoding: 'utf8',
        env: env(),
      });
      expect(r.stderr).toBe(
        `homecrypt: ${adoptFile} already exists, though ${user} has no homecrypt record\n` +
          `hint: most likely an earlier adopt of ${user} stopped before it wrote the record (its recovery key was never shown), ` +
          `or the record was removed since (setup --forget); it only seals the eCryptfs passphrase for homecrypt, the data stays in ${home}/.Private. ` +
          `Look with ls -la ${keyDir}, then move it away with runuser -u ${user} -- mv -T -- ${adoptFile} ${adoptFile}.old ` +
          `and run homecrypt ecryptfs adopt --user ${user} again\n`,
      );
      expect(r.status).toBe(8);
      expect(readdirSync(records)).toEqual([]);
      expect(readFileSync(adoptFile, 'utf8')).toBe('left by an adopt that stopped');
    } finally {
      rmSync(keyDir, { recursive: true, force: true });
    }
  });

  it('never replaces a key store already there (it may be the only key to a volume), and changes nothing in the home first', () => {
    const keyDir = join(home, '.homecrypt');
    const keyStore = join(keyDir, 'homecrypt.keys');
    mkdirSync(keyDir);
    writeFileSync(keyStore, 'a key store of a forgotten setup');
    const privateBefore = readdirSync(join(home, 'Private')).sort();
    try {
      const r = spawnSync(BIN, ['ecryptfs', 'adopt', '--user', user, '--passphrase-fd', '0', '--no-password-check'], {
        input: `${LOGIN}\n`,
        encoding: 'utf8',
        env: env(),
      });
      expect(r.stderr).toMatch(new RegExp(`^homecrypt: ${keyStore} already exists, though ${user} has no homecrypt record\nhint: it may be the only key`));
      expect(r.status).toBe(8);
      expect(readFileSync(keyStore, 'utf8')).toBe('a key store of a forgotten setup');
      expect(readdirSync(records)).toEqual([]);
      expect(readdirSync(join(home, 'Private')).sort()).toEqual(privateBefore); // ecryptfs-utils' help links are still there
    } finally {
      rmSync(keyDir, { recursive: true, force: true });
    }
  });

  describe("~/.ecryptfs is the user's: root reads its files by descriptor, each a regular file of the user's, or refuses", () => {
    // a root-only file, as /etc/shadow is; its first line looks like a key signature, so a
    // Private.sig read through a link would be quoted back ("names key …")
    const SECRET = 'a1b2c3d4e5f60718';
    let vault: string, secret: string;
    const settings = (n: string) => join(home, '.ecryptfs', n);
    const adopt = () =>
      spawnSync(BIN, ['ecryptfs', 'adopt', '--user', user, '--passphrase-fd', '0', '--no-password-check', '--kdf-time', '0.05'], {
        input: `${LOGIN}\n`,
        encoding: 'utf8',
        env: env(),
        timeout: 30_000,
      });
    const asUser = (p: string) => {
      const u = lookupUser(user);
      lchownSync(p, u.uid, u.gid);
    };
    /** `name` replaced (as its user could) by what `plant` makes, adopt run, the file put back */
    const withPlanted = (name: string, plant: (p: string) => void, check: (r: ReturnType<typeof adopt>) => void, own = true) => {
      const p = settings(name);
      renameSync(p, `${p}.saved`);
      try {
        plant(p);
        // (a hard link is the file itself: it keeps root as its owner)
        if (own) asUser(p);
        const r = adopt();
        check(r);
        // nothing adopted, nothing written, the secret never shown
        expect(readdirSync(records)).toEqual([]);
        expect(existsSync(join(home, '.homecrypt'))).toBe(false);
        expect(`${r.stdout}${r.stderr}`).not.toContain(SECRET);
        // and not even read: a read would have moved its access time (set before its mtime, so relatime updates it)
        expect(statSync(secret).atimeMs).toBe(1_000_000);
      } finally {
        rmSync(p, { force: true });
        renameSync(`${p}.saved`, p);
      }
    };

    beforeAll(() => {
      vault = mkdtempSync('/tmp/hc-adopt-vault-');
      secret = join(vault, 'shadow');
      writeFileSync(secret, `${SECRET}\n`, { mode: 0o600 });
    });
    beforeEach(() => utimesSync(secret, 1000, 2000));
    afterAll(() => rmSync(vault, { recursive: true, force: true }));

    it.each(['wrapped-passphrase', 'Private.sig', 'Private.mnt'])('%s a symlink to a root-only file: refused (exit 4), the file not read', (name) => {
      withPlanted(
        name,
        (p) => symlinkSync(secret, p),
        (r) => {
          expect(r.stderr).toBe(`homecrypt: ${settings(name)}: is a symbolic link; root reads the eCryptfs settings only from real files of the user\n`);
          expect(r.status).toBe(4);
        },
      );
    });

    it.each(['wrapped-passphrase', 'Private.sig'])('%s a hard link to a root-only file: refused for its owner (exit 4), the file not read', (name) => {
      withPlanted(
        name,
        (p) => linkSync(secret, p),
        (r) => {
          expect(r.stderr).toBe(`homecrypt: ${settings(name)}: belongs to uid 0, not ${lookupUser(user).uid}\n`);
          expect(r.status).toBe(4);
        },
        false,
      );
    });

    it.each(['Private.sig', 'Private.mnt', 'wrapped-passphrase'])(
      '%s a fifo: refused at once (exit 4), root never waits on it',
      (name) => {
        const t0 = Date.now();
        withPlanted(
          name,
          (p) => execFileSync('mkfifo', ['-m', '0600', p]),
          (r) => {
            expect(r.signal, 'adopt hung on the fifo and was killed').toBeNull();
            expect(r.stderr).toBe(`homecrypt: ${settings(name)}: is not a regular file\n`);
            expect(r.status).toBe(4);
          },
        );
        expect(Date.now() - t0).toBeLessThan(20_000);
      },
      60_000,
    );

    it('Private.mnt a symlink to /dev/zero: refused at once, nothing read', () => {
      withPlanted(
        'Private.mnt',
        (p) => symlinkSync('/dev/zero', p),
        (r) => {
          expect(r.signal).toBeNull();
          expect(r.stderr).toMatch(/Private\.mnt: is a symbolic link/);
          expect(r.status).toBe(4);
        },
      );
    }, 60_000);

    it("~/.ecryptfs a link anywhere but an encrypted home's /home/.ecryptfs/U/.ecryptfs: refused (exit 8), not followed", () => {
      const dir = join(home, '.ecryptfs');
      const moved = join(home, '.settings-elsewhere');
      renameSync(dir, moved);
      symlinkSync(moved, dir);
      asUser(dir);
      try {
        const r = adopt();
        expect(r.stderr).toBe(
          `homecrypt: ${dir} is a link to ${moved}; root follows it only to ${join(base, '.ecryptfs', user, '.ecryptfs')}, where ecryptfs-utils keeps an encrypted home's settings\n`,
        );
        expect(r.status).toBe(8);
        expect(readdirSync(records)).toEqual([]);
      } finally {
        rmSync(dir);
        renameSync(moved, dir);
      }
    });
  });

  it('adopts, then a login unlocks and mounts it, and the last logout locks it', () => {
    const lowerBefore = readdirSync(join(home, '.Private')).sort();
    const r = spawnSync(BIN, ['ecryptfs', 'adopt', '--user', user, '--passphrase-fd', '0', '--kdf-time', '0.05', '--no-password-check'], {
      input: `${LOGIN}\n`,
      encoding: 'utf8',
      env: env(),
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Recovery key for/);
    expect(readdirSync(join(home, '.Private')).sort()).toEqual(lowerBefore); // the eCryptfs data is untouched
    const auth = hook('auth', 'auth', `${LOGIN}\0`);
    expect(auth.status, auth.stderr).toBe(0);
    const open = hook('session', 'open_session');
    expect(open.status, open.stderr).toBe(0);
    expect(isMounted(join(home, 'Private'))).toBe(true);
    const u = lookupUser(user);
    const asUser = spawnSync(
      'setpriv',
      ['--reuid', String(u.uid), '--regid', String(u.gid), '--init-groups', 'sh', '-c', MANIFEST_SH, 'sh', join(home, 'Private')],
      { encoding: 'utf8' },
    );
    expect(asUser.status, asUser.stderr).toBe(0);
    expect(asUser.stdout).toBe(plainManifest(join(VECTORS, 'plain')));
    const close = hook('session', 'close_session');
    expect(close.status, close.stderr).toBe(0);
    expect(isMounted(join(home, 'Private'))).toBe(false);
  });
});
