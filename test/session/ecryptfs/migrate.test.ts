// `homecrypt ecryptfs migrate --user U`: an ecryptfs-setup-private layout (made
// here with homecrypt's kernel-exact writer and the real ecryptfs-wrap-passphrase)
// becomes a homecrypt private directory; interrupted and resumed; verified
// against the plaintext (names that are not UTF-8 included: the same bytes);
// the eCryptfs copy removed only on request. Then, for another user, the undo
// of a migration and what migrate and setup --private do after it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { makeEcryptfsPrivateHome } from '../../helpers/ecryptfs-homes.js';
import { BIN, VECTORS, plainManifest } from '../../helpers/ecryptfs.js';
import { skipUnless } from '../../helpers/requirements.js';
import { lookupUser } from '../../../src/os/users.js';
import { unwrapForUser } from '../../../src/session/key-ops.js';
import { openVolume } from '../../../src/engine/volume.js';
import { EncryptedFilesystem } from '../../../src/engine/filesystem.js';
import { createHash } from 'node:crypto';
import { deleteUserByName } from '../../helpers/users.js';
import { bytesOfName } from '../../../src/format/name-bytes.js';

const MOUNT_PASS = 'migrate mount pass';
const LOGIN = 'migrate login pass';

/** Reads a homecrypt volume through the engine's operations (no mount), as a manifest. */
async function homecryptManifest(userName: string, lower: string, keyStore: string): Promise<string> {
  const { mountKey } = await unwrapForUser(keyStore, lookupUser(userName), Buffer.from(LOGIN));
  const vol = openVolume(lower, [mountKey]);
  const fs = new EncryptedFilesystem({ lowerRoot: vol.lowerRoot, format: vol.format, log: () => {} });
  const lines: { p: string; l: string }[] = [];
  const walk = (dir: string) => {
    for (const { name: n } of fs.readdir(dir)) {
      if (n === '.' || n === '..') continue;
      const p = dir === '/' ? `/${n}` : `${dir}/${n}`;
      const st = fs.getattr(p);
      const type = st.mode & 0o170000;
      if (type === 0o120000) lines.push({ p, l: `l\t.${p}\t${fs.readlink(p)}` });
      else if (type === 0o040000) {
        lines.push({ p, l: `d\t.${p}` });
        walk(p);
      } else {
        const fh = fs.open(p, 0);
        const buf = Buffer.alloc(st.size);
        const n2 = st.size ? fs.read(p, fh, buf, 0) : 0;
        fs.release(p, fh);
        lines.push({ p, l: `f\t.${p}\t${n2}\t${createHash('sha256').update(buf.subarray(0, n2)).digest('hex')}` });
      }
    }
  };
  walk('/');
  return (
    lines
      .sort((a, b) => Buffer.compare(bytesOfName(`.${a.p}`), bytesOfName(`.${b.p}`)))
      .map((x) => x.l)
      .join('\n') + '\n'
  );
}

describe.skipIf(skipUnless('root', 'eCryptfs migrate'))('homecrypt ecryptfs migrate', () => {
  let base: string, home: string, records: string;
  const user = `hcmig${process.pid % 100000}`;
  const env = () => ({ ...process.env, HOMECRYPT_RECORD_DIR_FOR_TESTS: records });
  const migrate = (extra: string[], login = LOGIN) =>
    spawnSync(BIN, ['ecryptfs', 'migrate', '--user', user, '--passphrase-fd', '0', '--kdf-time', '0.05', '--no-password-check', ...extra], {
      input: `${login}\n`,
      encoding: 'utf8',
      env: env(),
    });

  let plain: string;
  beforeAll(() => {
    // the vectors' tree and old Latin-1 names (Linux names are bytes): a file, a directory and a symlink
    plain = mkdtempSync(join(tmpdir(), 'hc-ecryptfs-migrate-plain-'));
    cpSync(join(VECTORS, 'plain'), plain, { recursive: true, verbatimSymlinks: true });
    const at = (...parts: (string | number[])[]) => Buffer.concat([Buffer.from(`${plain}/`), ...parts.map((p) => Buffer.from(p as string))]);
    writeFileSync(at('caf', [0xe9]), 'Latin-1 name\n');
    writeFileSync(at([0xff]), '');
    mkdirSync(at('r', [0xe9], 'pertoire'));
    writeFileSync(at('r', [0xe9], 'pertoire/', [0xc3]), 'a lone 0xc3 in a directory so named\n');
    symlinkSync(Buffer.from([0x63, 0x61, 0x66, 0xe9]), at('lien-', [0xe9]));
    ({ base, home, records } = makeEcryptfsPrivateHome({
      user,
      mountPass: MOUNT_PASS,
      login: LOGIN,
      tmpPrefix: 'hc-ecryptfs-migrate-',
      plain,
    }));
  });

  afterAll(() => {
    deleteUserByName(user);
    if (base) rmSync(base, { recursive: true, force: true });
    if (plain) rmSync(plain, { recursive: true, force: true });
  });

  it('a wrong login passphrase changes nothing', () => {
    const r = migrate([], 'wrong');
    expect(r.status).toBe(3);
    expect(existsSync(join(home, '.Private.ecryptfs'))).toBe(false);
    expect(existsSync(join(home, '.homecrypt'))).toBe(false);
  });

  it('refuses a ~/.Private.ecryptfs that no journal names, saying what it likely is and how to move it, and changes nothing', () => {
    const aside = join(home, '.Private.ecryptfs');
    mkdirSync(aside);
    try {
      const r = migrate([]);
      expect(r.stderr).toBe(
        `homecrypt: ${aside} already exists, and no migration journal (${home}/.homecrypt/ecryptfs-migration.json) names it\n` +
          `hint: it is most likely the eCryptfs copy an earlier migration of ${user} kept (it stays until --remove-ecryptfs) whose journal was removed since, ` +
          `or a copy made by hand; look inside with ls -la ${aside}, then move it away with runuser -u ${user} -- mv -T -- ${aside} ${aside}.old ` +
          `and run homecrypt ecryptfs migrate --user ${user} again\n`,
      );
      expect(r.status).toBe(8);
      expect(existsSync(join(home, '.homecrypt'))).toBe(false);
      expect(existsSync(join(home, '.Private'))).toBe(true);
    } finally {
      rmSync(aside, { recursive: true });
    }
  });

  it('a Private.sig the user made a fifo, or a wrapped-passphrase linked to a root-only file, is refused at once (exit 4), nothing moved or read', () => {
    const secret = join(base, 'root-only');
    writeFileSync(secret, 'a1b2c3d4e5f60718\n', { mode: 0o600 });
    const u = lookupUser(user);
    const planted = (name: string, plant: (p: string) => void, why: string) => {
      const p = join(home, '.ecryptfs', name);
      renameSync(p, `${p}.saved`);
      try {
        plant(p);
        lchownSync(p, u.uid, u.gid);
        const r = spawnSync(BIN, ['ecryptfs', 'migrate', '--user', user, '--passphrase-fd', '0', '--no-password-check'], {
          input: `${LOGIN}\n`,
          encoding: 'utf8',
          env: env(),
          timeout: 30_000,
        });
        expect(r.signal, 'migrate hung and was killed').toBeNull();
        expect(r.stderr).toBe(`homecrypt: ${p}: ${why}\n`);
        expect(r.status).toBe(4);
        expect(r.stdout + r.stderr).not.toContain('a1b2c3d4e5f60718');
        expect(existsSync(join(home, '.Private.ecryptfs'))).toBe(false);
        expect(existsSync(join(home, '.homecrypt'))).toBe(false);
      } finally {
        rmSync(p, { force: true });
        renameSync(`${p}.saved`, p);
      }
    };
    try {
      planted('Private.sig', (p) => execFileSync('mkfifo', ['-m', '0600', p]), 'is not a regular file');
      planted('wrapped-passphrase', (p) => symlinkSync(secret, p), 'is a symbolic link; root reads the eCryptfs settings only from real files of the user');
    } finally {
      rmSync(secret);
    }
  }, 90_000);

  it('shows the recovery key before copying, survives an interruption, and resumes', () => {
    const first = migrate(['--fail-after', '3']);
    expect(first.status).not.toBe(0);
    expect(first.stdout).toMatch(/Recovery key for/);
    expect(first.stderr).toMatch(/simulated interruption/);
    const journal = JSON.parse(readFileSync(join(home, '.homecrypt/ecryptfs-migration.json'), 'utf8'));
    expect(journal.step).toBe('setup');
    const second = migrate([]);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/resuming/);
    expect(second.stdout).not.toMatch(/Recovery key/);
    expect(second.stdout).toMatch(/eCryptfs copy is kept/);
    expect(existsSync(join(home, '.Private.ecryptfs'))).toBe(true);
  }, 300_000); // two migrations, each starting node and several user workers: minutes on a loaded machine

  it('the homecrypt volume holds the same tree, owned by the user', async () => {
    const want = plainManifest(plain);
    expect(want).toMatch(/\udce9/); // the reference holds the names that are not UTF-8
    expect(await homecryptManifest(user, join(home, '.Private'), join(home, '.homecrypt/homecrypt.keys'))).toBe(want);
    const u = lookupUser(user);
    const owners = execFileSync('find', [join(home, '.Private'), '-printf', '%U\n'], { encoding: 'utf8' })
      .trim()
      .split('\n');
    expect(new Set(owners)).toEqual(new Set([String(u.uid)]));
    expect(lstatSync(join(home, 'Private')).isDirectory()).toBe(true);
    expect(existsSync(join(records, `${user}.json`))).toBe(true);
  });

  it('refuses a journal the user edited to name another folder, and deletes nothing', () => {
    // the journal sits in the user's home: a user could point root's delete elsewhere
    const jp = join(home, '.homecrypt/ecryptfs-migration.json');
    const original = readFileSync(jp, 'utf8');
    const victim = mkdtempSync(join(base, 'root-owned-'));
    writeFileSync(join(victim, 'keep'), 'root data');
    try {
      writeFileSync(jp, JSON.stringify({ ...JSON.parse(original), aside: victim }));
      const r = migrate(['--remove-ecryptfs']);
      expect(r.status).toBe(8);
      expect(r.stderr).toMatch(/move the journal away/);
      expect(readFileSync(join(victim, 'keep'), 'utf8')).toBe('root data');
      expect(existsSync(join(home, '.Private.ecryptfs'))).toBe(true);
    } finally {
      writeFileSync(jp, original);
    }
  });

  it('removes the eCryptfs copy only when asked (doctor names it until then), and refuses to migrate twice', () => {
    const doctor = () => spawnSync(BIN, ['doctor', '--user', user], { encoding: 'utf8', env: env() }).stdout;
    const aside = join(home, '.Private.ecryptfs');
    expect(doctor()).toContain(
      `warning: ${user}: the eCryptfs copy ${aside} that homecrypt ecryptfs migrate kept is still there, beside the homecrypt volume that holds the same files`,
    );
    expect(doctor()).toContain(`fix: once ${user} has checked the migrated files: homecrypt ecryptfs migrate --user ${user} --remove-ecryptfs`);
    const r = migrate(['--remove-ecryptfs']);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(aside)).toBe(false);
    expect(existsSync(join(home, '.ecryptfs'))).toBe(false);
    expect(doctor()).not.toContain('eCryptfs copy');
    expect(existsSync(join(home, '.Private/homecrypt.conf'))).toBe(true);
    const again = migrate([]);
    expect(again.status).toBe(8);
    expect(again.stderr).toMatch(/already migrated/);
  });
});

// `setup --undo` of a migrated Private directory: the migration's journal is
// homecrypt's and goes with the key store (kept, it made a later migrate say
// "already migrated" of a user who no longer uses homecrypt, and
// `migrate --remove-ecryptfs` delete the eCryptfs copy while reporting a
// migration); the eCryptfs copy and ~/.ecryptfs are the user's: kept, and named.
describe.skipIf(skipUnless('root', 'eCryptfs migrate, then setup --undo'))('homecrypt setup --undo after ecryptfs migrate', () => {
  let base: string, home: string, records: string;
  const user = `hcmigu${process.pid % 100000}`;
  const env = () => ({ ...process.env, HOMECRYPT_RECORD_DIR_FOR_TESTS: records });
  const hc = (args: string[]) => spawnSync(BIN, args, { input: `${LOGIN}\n`, encoding: 'utf8', env: env() });
  const opts = ['--user', user, '--passphrase-fd', '0', '--kdf-time', '0.05', '--no-password-check'];
  const migrate = (extra: string[] = []) => hc(['ecryptfs', 'migrate', ...opts, ...extra]);
  const asUser = (...argv: string[]) => execFileSync('runuser', ['-u', user, '--', ...argv]);
  let aside: string, journal: string;

  beforeAll(() => {
    ({ base, home, records } = makeEcryptfsPrivateHome({ user, mountPass: MOUNT_PASS, login: LOGIN, tmpPrefix: 'hc-ecryptfs-migrate-undo-' }));
    aside = join(home, '.Private.ecryptfs');
    journal = join(home, '.homecrypt/ecryptfs-migration.json');
    const m = migrate();
    expect(m.status, m.stderr).toBe(0);
  }, 300_000);

  afterAll(() => {
    deleteUserByName(user);
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('undo removes the journal with ~/.homecrypt, keeps the eCryptfs copy and ~/.ecryptfs, and says what they are and how to remove them', () => {
    const r = hc(['setup', '--undo', '--yes', '--user', user, '--passphrase-fd', '0']);
    expect(r.status, r.stderr).toBe(0);
    const settings = join(home, '.ecryptfs');
    expect(r.stdout).toBe(
      `${user}'s Private directory is plain again at ${home}/Private; homecrypt is removed for ${user}\n` +
        `kept ${aside} and ${settings}: the eCryptfs copy that homecrypt ecryptfs migrate set aside (${user}'s Private directory as it was migrated, still encrypted, ` +
        `and its eCryptfs settings). homecrypt does not use them, and ${home}/Private holds the same files in the clear, with the changes made since. ` +
        `Once they are no longer needed, remove them as ${user}: runuser -u ${user} -- rm -rf -- ${aside} ${settings}\n`,
    );
    expect(existsSync(journal)).toBe(false);
    expect(existsSync(join(home, '.homecrypt'))).toBe(false);
    expect(existsSync(join(home, '.Private'))).toBe(false);
    expect(lstatSync(aside).isDirectory()).toBe(true);
    expect(existsSync(join(settings, 'wrapped-passphrase'))).toBe(true);
    expect(readFileSync(join(home, 'Private/hello.txt'), 'utf8')).toBe(readFileSync(join(VECTORS, 'plain/hello.txt'), 'utf8'));
    expect(existsSync(join(records, `${user}.json`))).toBe(false);
  }, 300_000);

  it('after the undo, migrate (with --remove-ecryptfs too) is refused naming the kept copy and setup --private, and deletes nothing', () => {
    for (const extra of [[], ['--remove-ecryptfs']]) {
      const r = migrate(extra);
      expect(r.status, r.stderr).toBe(8);
      expect(r.stderr).toBe(
        `homecrypt: ${user} has no eCryptfs Private directory to migrate: ${home}/.Private is not there\n` +
          `hint: ${aside} is the eCryptfs copy an earlier migration kept (undone since, or its journal removed), and ${home}/Private is not encrypted: ` +
          `to encrypt it again, homecrypt setup --private --user ${user}; remove the copy as ${user} once it is no longer needed: ` +
          `runuser -u ${user} -- rm -rf -- ${aside} ${home}/.ecryptfs\n`,
      );
      expect(lstatSync(aside).isDirectory()).toBe(true);
      expect(existsSync(join(home, '.ecryptfs/wrapped-passphrase'))).toBe(true);
    }
  });

  it('a journal an older undo left behind is refused as stale, with the commands to clear it, and --remove-ecryptfs deletes nothing', () => {
    asUser('mkdir', '-m', '700', join(home, '.homecrypt'));
    const stale = JSON.stringify({ version: 1, step: 'done', aside, startedAt: '2024-01-01T00:00:00.000Z' });
    execFileSync('runuser', ['-u', user, '--', 'sh', '-c', 'printf %s "$2" > "$1"', 'sh', journal, stale]);
    try {
      for (const extra of [[], ['--remove-ecryptfs']]) {
        const r = migrate(extra);
        expect(r.status, r.stderr).toBe(8);
        expect(r.stderr).toBe(
          `homecrypt: ${journal} says ${user}'s eCryptfs Private directory was migrated, but ${user} does not use homecrypt any more\n` +
            `hint: the migration was undone since (setup --undo) or its record removed, and the journal is stale: remove it with runuser -u ${user} -- rm -- ${journal}; ` +
            `${aside} is the eCryptfs copy that migration kept (the Private directory as it was then): keep it, or remove it as ${user} ` +
            `with runuser -u ${user} -- rm -rf -- ${aside} ${home}/.ecryptfs; to encrypt ${home}/Private again: homecrypt setup --private --user ${user}\n`,
        );
        expect(lstatSync(aside).isDirectory()).toBe(true);
        expect(existsSync(join(home, '.ecryptfs/wrapped-passphrase'))).toBe(true);
      }
    } finally {
      rmSync(join(home, '.homecrypt'), { recursive: true, force: true });
    }
  });

  it('setup --private works again once ~/Private is emptied, and migrate then is refused: the user already uses homecrypt', () => {
    asUser('mv', '-T', '--', join(home, 'Private'), join(home, 'Private.plain'));
    asUser('mkdir', '-m', '700', join(home, 'Private'));
    const s = hc(['setup', '--private', ...opts]);
    expect(s.status, s.stderr).toBe(0);
    expect(execFileSync('ls', ['-A', join(home, '.homecrypt')], { encoding: 'utf8' })).toBe('homecrypt.keys\n');
    const r = migrate(['--remove-ecryptfs']);
    expect(r.status, r.stderr).toBe(8);
    expect(r.stderr).toBe(
      `homecrypt: ${user} already uses homecrypt (private mode, ${home}/.Private), and no migration journal (${journal}) says a migration is under way\n` +
        `hint: homecrypt status --user ${user} shows the setup; there is nothing of it to migrate\n`,
    );
    expect(lstatSync(aside).isDirectory()).toBe(true);
    expect(existsSync(join(home, '.Private/homecrypt.conf'))).toBe(true);
  }, 300_000);
});
