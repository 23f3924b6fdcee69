// What `ecryptfs-setup-private` leaves for a user, built for the adopt and
// migrate tests: the lower ~/.Private written kernel-exact from the committed
// plaintext vectors (see test/ecryptfs/format-vectors.test.ts), the real
// ecryptfs-wrap-passphrase's wrapped-passphrase, and a mode-0500 ~/Private.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { VECTORS } from './ecryptfs.js';
import { keysFromMountPassphrase } from '../../src/ecryptfs/keys.js';
import { EcryptfsVolume } from '../../src/ecryptfs/ecryptfs-volume.js';
import { writePlainTree } from '../../src/ecryptfs/tree.js';
import { lookupUser } from '../../src/os/users.js';
import { deleteUserByName } from '../helpers/users.js';

export interface PrivateHomeFixture {
  /** mkdtemp'd; the caller removes it (and the user) in afterAll */
  base: string;
  home: string;
  /** HOMECRYPT_RECORD_DIR_FOR_TESTS, so the tests never touch the real records */
  records: string;
}

/**
 * Creates the system user `user` (replacing a leftover one) with an eCryptfs
 * Private directory under a fresh temp dir. The unmounted ~/Private holds the
 * README link the tool makes; `desktopLink` adds its .desktop link too.
 */
export function makeEcryptfsPrivateHome(opts: {
  user: string;
  mountPass: string;
  login: string;
  tmpPrefix: string;
  desktopLink?: boolean;
  /** this many more files of 40 KiB in the Private directory (something long to copy) */
  extraFiles?: number;
  /** the plaintext tree the Private directory holds (default: the committed vectors' plain/) */
  plain?: string;
}): PrivateHomeFixture {
  const base = mkdtempSync(join(tmpdir(), opts.tmpPrefix));
  chmodSync(base, 0o755);
  const records = join(base, 'records');
  mkdirSync(records, { mode: 0o700 });
  const home = join(base, opts.user);
  mkdirSync(home, { mode: 0o755 });
  deleteUserByName(opts.user);
  execFileSync('useradd', ['-M', '-d', home, '-s', '/bin/sh', opts.user]);
  const u = lookupUser(opts.user);
  const keys = keysFromMountPassphrase(Buffer.from(opts.mountPass), { keyBytes: 16, encryptNames: true });
  mkdirSync(join(home, '.Private'), { mode: 0o700 });
  mkdirSync(join(home, '.ecryptfs'), { mode: 0o700 });
  mkdirSync(join(home, 'Private'), { mode: 0o700 });
  symlinkSync('/usr/share/ecryptfs-utils/ecryptfs-mount-private.txt', join(home, 'Private/README.txt'));
  if (opts.desktopLink) {
    symlinkSync('/usr/share/ecryptfs-utils/ecryptfs-mount-private.desktop', join(home, 'Private/Access-Your-Private-Data.desktop'));
  }
  chmodSync(join(home, 'Private'), 0o500);
  writePlainTree(new EcryptfsVolume({ lowerDir: join(home, '.Private'), keys, keyBytes: 16 }), opts.plain ?? join(VECTORS, 'plain'));
  if (opts.extraFiles) {
    const extra = join(base, 'extra-plain');
    mkdirSync(join(extra, 'bulk'), { recursive: true });
    for (let i = 0; i < opts.extraFiles; i++) writeFileSync(join(extra, 'bulk', `file-${String(i).padStart(4, '0')}`), randomBytes(40 * 1024));
    writePlainTree(new EcryptfsVolume({ lowerDir: join(home, '.Private'), keys, keyBytes: 16 }), extra);
    rmSync(extra, { recursive: true, force: true });
  }
  writeFileSync(join(home, '.ecryptfs/Private.sig'), `${keys.sig}\n${keys.fnek!.sig}\n`);
  writeFileSync(join(home, '.ecryptfs/Private.mnt'), `${join(home, 'Private')}\n`);
  execFileSync('ecryptfs-wrap-passphrase', [join(home, '.ecryptfs/wrapped-passphrase'), '-'], { input: `${opts.mountPass}\n${opts.login}` });
  execFileSync('chown', ['-R', `${u.uid}:${u.gid}`, home]);
  return { base, home, records };
}

/**
 * The encrypted-home layout ecryptfs-migrate-home leaves, for the system user
 * `user` (made again if it exists) with home root/user and its eCryptfs data in
 * root/.ecryptfs/user. Returns the home.
 */
export function makeEcryptfsEncryptedHome(opts: { root: string; user: string; mountPass: string; login: string }): string {
  const { root, user } = opts;
  const home = join(root, user);
  const ecr = join(root, '.ecryptfs', user);
  mkdirSync(join(ecr, '.Private'), { recursive: true, mode: 0o700 });
  mkdirSync(join(ecr, '.ecryptfs'), { mode: 0o700 });
  chmodSync(join(root, '.ecryptfs'), 0o755);
  mkdirSync(home, { mode: 0o700 });
  symlinkSync(join(ecr, '.ecryptfs'), join(home, '.ecryptfs'));
  symlinkSync(join(ecr, '.Private'), join(home, '.Private'));
  symlinkSync('/usr/share/ecryptfs-utils/ecryptfs-mount-private.txt', join(home, 'README.txt'));
  symlinkSync('/usr/share/ecryptfs-utils/ecryptfs-mount-private.desktop', join(home, 'Access-Your-Private-Data.desktop'));
  const keys = keysFromMountPassphrase(Buffer.from(opts.mountPass), { keyBytes: 16, encryptNames: true });
  writePlainTree(new EcryptfsVolume({ lowerDir: join(ecr, '.Private'), keys, keyBytes: 16 }), join(VECTORS, 'plain'));
  writeFileSync(join(ecr, '.ecryptfs/Private.sig'), `${keys.sig}\n${keys.fnek!.sig}\n`);
  writeFileSync(join(ecr, '.ecryptfs/Private.mnt'), `${home}\n`);
  execFileSync('ecryptfs-wrap-passphrase', [join(ecr, '.ecryptfs/wrapped-passphrase'), '-'], { input: `${opts.mountPass}\n${opts.login}` });
  deleteUserByName(user);
  execFileSync('useradd', ['-M', '-d', home, '-s', '/bin/sh', user]);
  const u = lookupUser(user);
  execFileSync('chown', ['-R', `${u.uid}:${u.gid}`, home, ecr]);
  chmodSync(home, 0o500); // ecryptfs-utils leaves the unmounted home read-only
  return home;
}
