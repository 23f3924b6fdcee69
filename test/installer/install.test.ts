// The installer step against a real Debian root (debootstrap, cached): it
// refuses a target that lacks what it needs, rolls PAM back on failure,
// installs non-interactively, is idempotent, and a PAM login of the created
// user inside the target (chroot, pamtester) unlocks the encrypted home.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { skipUnless } from '../helpers/requirements.js';
import type { ChrootSession } from '../helpers/debootstrap.js';
import { debootstrapAbsentReason, FROZEN as REPO_ROOT, homecrypt, mountsBelow, openTarget } from './target-root.js';

const noRoot = skipUnless('root', 'fuse', 'keyring', 'installer step into a debootstrap root');
const absent = noRoot ? 'skipped' : debootstrapAbsentReason();

/** Every file of the target's PAM configuration, by path, as bytes + mode. */
function pamState(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
    else out.set(p.slice(root.length), `${(st.mode & 0o7777).toString(8)}:${readFileSync(p, 'base64')}`);
  };
  walk(join(root, 'etc/pam.d'));
  walk(join(root, 'var/lib/pam'));
  return out;
}

const PASS = 'Correct-horse-4-battery';

describe.skipIf(noRoot || absent !== null)('homecrypt install into a debootstrap root', () => {
  let t: ChrootSession;
  let tmp: string;
  const answers = (name: string, a: Record<string, unknown>) => {
    const f = join(tmp, name);
    writeFileSync(f, JSON.stringify({ version: 1, kdfTime: 0.05, package: 'copy', ...a }));
    return f;
  };

  beforeAll(() => {
    t = openTarget(200_000 + (process.pid % 90) * 1000);
    tmp = mkdtempSync('/tmp/homecrypt-installer-test-');
    chmodSync(tmp, 0o700);
  }, 900_000);
  afterAll(() => {
    // Log out anything a failed test left mounted, then drop the overlay.
    t?.sh('for u in alice; do pamtester login $u close_session </dev/null; done >/dev/null 2>&1');
    t?.dispose();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('refuses a directory that is not a system root, naming what is missing', async () => {
    const r = await homecrypt(['install', '--target', tmp, '--answers', answers('a0.json', { user: 'alice', createUser: true }), '--passphrase-fd', '3'], {
      fd3: `${PASS}\n`,
    });
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/is not the root of an installed system: it lacks \/etc\/passwd, \/bin\/sh/);
  });

  it('refuses a target without Node or the account, listing each with its package, and changes nothing', async () => {
    const before = pamState(t.root);
    renameSync(t.path('/usr/bin/node'), t.path('/usr/bin/node.hidden'));
    try {
      const r = await homecrypt(['install', '--target', t.root, '--passphrase-fd', '3', '--answers', answers('a1.json', { user: 'nobody2' })], {
        fd3: `${PASS}\n`,
      });
      expect(r.code).toBe(7);
      expect(r.stderr).toContain('lacks what the installer step needs');
      expect(r.stderr).toContain('node >= 18 (Debian package nodejs)');
      expect(r.stderr).toContain('the account nobody2 (create it first, or answer "createUser": true)');
    } finally {
      renameSync(t.path('/usr/bin/node.hidden'), t.path('/usr/bin/node'));
    }
    expect(pamState(t.root)).toEqual(before);
    expect(existsSync(t.path('/usr/lib/homecrypt'))).toBe(false);
    expect(mountsBelow(t.root).filter((m) => m !== t.root && !/\/(proc|sys|dev)(\/|$)/.test(m.slice(t.root.length)))).toEqual([]);
  });

  it('rolls the PAM change back when pam-auth-update fails half-way (injected)', async () => {
    const before = pamState(t.root);
    // A pam-auth-update that writes the new stack and then fails, as a crash
    // after the files were written would.
    renameSync(t.path('/usr/sbin/pam-auth-update'), t.path('/usr/sbin/pam-auth-update.real'));
    writeFileSync(t.path('/usr/sbin/pam-auth-update'), '#!/bin/sh\n/usr/sbin/pam-auth-update.real "$@"\necho "injected failure" >&2\nexit 1\n', {
      mode: 0o755,
    });
    try {
      const r = await homecrypt(['install', '--target', t.root, '--answers', answers('a2.json', { user: 'alice', createUser: true }), '--passphrase-fd', '3'], {
        fd3: `${PASS}\n`,
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/enabling the PAM profile in the target failed.*injected failure/);
      expect(r.stderr).toContain('rolled back the PAM configuration of the target');
    } finally {
      renameSync(t.path('/usr/sbin/pam-auth-update.real'), t.path('/usr/sbin/pam-auth-update'));
    }
    expect(pamState(t.root)).toEqual(before);
    expect(existsSync(t.path('/usr/share/pam-configs/homecrypt'))).toBe(false);
    const log = readFileSync(t.path('/var/log/homecrypt-install.log'), 'utf8');
    expect(log).toMatch(/rollback: PAM configuration restored as it was before this run \(.*\/etc\/pam.d\/common-auth/);
    expect(t.sh('getent passwd alice').code).not.toBe(0); // the failure came before the account
  });

  it('interrupted (SIGTERM) while PAM is half-done: rolls PAM back before exiting', async () => {
    const before = pamState(t.root);
    const marker = t.path('/run/homecrypt-test-pam-started');
    rmSync(marker, { force: true });
    renameSync(t.path('/usr/sbin/pam-auth-update'), t.path('/usr/sbin/pam-auth-update.real'));
    writeFileSync(t.path('/usr/sbin/pam-auth-update'), '#!/bin/sh\n/usr/sbin/pam-auth-update.real "$@"\ntouch /run/homecrypt-test-pam-started\nsleep 5\n', {
      mode: 0o755,
    });
    let pid = 0;
    try {
      const run = homecrypt(['install', '--target', t.root, '--passphrase-fd', '3', '--answers', answers('a2c.json', { user: 'alice', createUser: true })], {
        fd3: `${PASS}\n`,
        onSpawn: (p) => {
          pid = p;
        },
      });
      const until = Date.now() + 60_000;
      while (!existsSync(marker) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(marker)).toBe(true);
      expect(pamState(t.root)).not.toEqual(before); // the stack was being changed when the signal came
      process.kill(pid, 'SIGTERM');
      const r = await run;
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('interrupted by SIGTERM');
      expect(r.stderr).toContain('rolled back the PAM configuration of the target');
    } finally {
      await new Promise((r) => setTimeout(r, 5500)); // the wrapper's sleep
      renameSync(t.path('/usr/sbin/pam-auth-update.real'), t.path('/usr/sbin/pam-auth-update'));
    }
    expect(pamState(t.root)).toEqual(before);
    expect(existsSync(t.path('/usr/share/pam-configs/homecrypt'))).toBe(false);
    expect(readFileSync(t.path('/var/log/homecrypt-install.log'), 'utf8')).toMatch(/failed: interrupted by SIGTERM/);
  });

  it("rolls PAM back when a later step fails: setup refuses a passphrase that is not the user's password", async () => {
    t.must('useradd --create-home --shell /bin/bash carol');
    t.must('chpasswd', { input: 'carol:Carols-real-password-1\n' });
    const before = pamState(t.root);
    const r = await homecrypt(
      ['install', '--target', t.root, '--passphrase-fd', '3', '--answers', answers('a2b.json', { user: 'carol', encryptHome: 'private' })],
      { fd3: 'not-carols-password\n' },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/homecrypt setup for carol in the target failed \(exit \d+\): homecrypt: .*(password|passphrase)/i);
    expect(r.stderr).toContain('rolled back the PAM configuration of the target');
    expect(pamState(t.root)).toEqual(before);
    expect(existsSync(t.path('/home/carol/.Private'))).toBe(false);
    const log = readFileSync(t.path('/var/log/homecrypt-install.log'), 'utf8').split(' start: ').pop() as string;
    expect(log).toMatch(/pam: PAM profile enabled/);
    expect(log).toMatch(/rollback: PAM configuration restored/);
    expect(log).not.toContain('not-carols-password');
  });

  it('installs non-interactively: homecrypt, PAM profile, the user and the encrypted home, with a log', async () => {
    const pwFile = join(tmp, 'alice.pass');
    writeFileSync(pwFile, `${PASS}\n`, { mode: 0o600 });
    const rk = join(tmp, 'alice-recovery.txt');
    const r = await homecrypt([
      'install',
      '--target',
      t.root,
      '--answers',
      answers('a3.json', { user: 'alice', createUser: true, fullName: 'Alice', encryptHome: 'home', passphraseFile: pwFile, recoveryKeyFile: rk }),
    ]);
    expect(r.stderr).toBe(r.code === 0 ? r.stderr : 'a failure (shown here)');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('homecrypt is installed in');
    expect(t.must('homecrypt --version').trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(readFileSync(t.path('/etc/pam.d/common-auth'), 'utf8')).toContain('homecrypt');
    expect(readFileSync(t.path('/etc/pam.d/common-session'), 'utf8')).toContain('homecrypt');
    expect(t.must('getent passwd alice')).toContain(':Alice:');
    // The shipped units are in the target (this minbase root has no systemd, so they are logged as not enabled).
    const units = readdirSync(join(REPO_ROOT, 'systemd')).filter((n) => /\.(service|target|mount|timer)$/.test(n));
    expect(units.length).toBeGreaterThan(0);
    for (const u of units) expect(readFileSync(t.path(`/lib/systemd/system/${u}`))).toEqual(readFileSync(join(REPO_ROOT, 'systemd', u)));
    expect(statSync(rk).mode & 0o777).toBe(0o600);
    expect(readFileSync(rk, 'utf8')).toMatch(/recovery/i);
    const logFile = t.path('/var/log/homecrypt-install.log');
    expect(statSync(logFile).mode & 0o777).toBe(0o600);
    const log = readFileSync(logFile, 'utf8');
    expect(log).toContain('done: the installer step completed');
    expect(log).toMatch(/systemd: systemctl is not in the target \(no systemd\): units installed, not enabled: homecrypt/);
    expect(log).not.toContain(PASS);
    expect(log).not.toContain(readFileSync(rk, 'utf8').match(/([A-Z0-9]{4,}-){3,}[A-Z0-9]{4,}/)?.[0] ?? 'no-key-found');
    // Nothing the step mounted is left behind.
    expect(mountsBelow(t.root).filter((m) => !/^\/(proc|sys|dev)(\/|$)/.test(m.slice(t.root.length)) && m !== t.root)).toEqual([]);
  });

  it('is idempotent: a re-run changes nothing and says what it kept', async () => {
    const before = pamState(t.root);
    const r = await homecrypt(
      ['install', '--target', t.root, '--passphrase-fd', '3', '--answers', answers('a4.json', { user: 'alice', createUser: true, encryptHome: 'home' })],
      { fd3: `${PASS}\n` },
    );
    expect(r.code).toBe(0);
    expect(pamState(t.root)).toEqual(before);
    const log = readFileSync(t.path('/var/log/homecrypt-install.log'), 'utf8').split('start: ').pop() as string;
    expect(log).toContain('already holds this build');
    expect(log).toContain("alice's home is already encrypted");
  });

  it('mounts /proc, /sys and /dev itself when the installer has not, and always unmounts them', async () => {
    const sys = ['/proc', '/sys', '/dev'].map((d) => t.path(d));
    for (const m of sys) execFileSync('umount', ['-R', m]);
    try {
      expect(mountsBelow(t.root).filter((m) => m !== t.root)).toEqual([]);
      const r = await homecrypt(
        ['install', '--target', t.root, '--passphrase-fd', '3', '--answers', answers('a5.json', { user: 'alice', encryptHome: 'home' })],
        { fd3: `${PASS}\n` },
      );
      expect(r.stderr).toBe(r.code === 0 ? r.stderr : 'a failure (shown here)');
      const log = readFileSync(t.path('/var/log/homecrypt-install.log'), 'utf8').split(' start: ').pop() as string;
      expect(log).toContain('chroot: mounted /proc, /sys, /dev, /dev/pts into the target');
      expect(log).toContain('chroot: unmounted /dev/pts, /dev, /sys, /proc');
      expect(mountsBelow(t.root).filter((m) => m !== t.root)).toEqual([]);
    } finally {
      // Put back what the test session had, for the login below.
      execFileSync('mount', ['-t', 'proc', 'proc', t.path('/proc')]);
      execFileSync('mount', ['-t', 'sysfs', 'sysfs', t.path('/sys')]);
      execFileSync('mount', ['--rbind', '/dev', t.path('/dev')]);
      execFileSync('mount', ['--make-rslave', t.path('/dev')]);
    }
  });

  it('block mode: formats a LUKS2 volume once, writes crypttab and fstab, and a re-run keeps them', async () => {
    const img = '/var/lib/homecrypt-test-volume.img';
    execFileSync('truncate', ['-s', '48M', t.path(img)]);
    const a = answers('a6.json', { user: 'alice', encryptHome: 'home', block: { device: img, name: 'cryptdata', mountPoint: '/srv/data', format: true } });
    const r = await homecrypt(['install', '--target', t.root, '--passphrase-fd', '3', '--answers', a], { fd3: `${PASS}\n` });
    expect(r.stderr).toBe(r.code === 0 ? r.stderr : 'a failure (shown here)');
    expect(r.stdout).toMatch(/recovery/i);
    const head = readFileSync(t.path(img)).subarray(0, 6);
    expect(head.equals(Buffer.from('LUKS\xba\xbe', 'latin1'))).toBe(true);
    // cryptsetup itself accepts the volume and the passphrase.
    const dump = execFileSync('cryptsetup', ['luksDump', t.path(img)], { encoding: 'utf8' });
    const uuid = /^UUID:\s+(\S+)/m.exec(dump)?.[1];
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    execFileSync('cryptsetup', ['open', '--test-passphrase', '--key-file', '-', t.path(img)], { input: PASS });
    const crypttab = readFileSync(t.path('/etc/crypttab'), 'utf8');
    expect(crypttab).toMatch(new RegExp(`^cryptdata\\s+UUID=${uuid}\\s`, 'm'));
    expect(readFileSync(t.path('/etc/fstab'), 'utf8')).toMatch(/^\/dev\/mapper\/cryptdata\s+\/srv\/data\s+ext4\s/m);
    const before = readFileSync(t.path(img)).subarray(0, 1 << 20);
    const again = await homecrypt(['install', '--target', t.root, '--passphrase-fd', '3', '--answers', a], { fd3: `${PASS}\n` });
    expect(again.code).toBe(0);
    expect(
      readFileSync(t.path(img))
        .subarray(0, 1 << 20)
        .equals(before),
    ).toBe(true);
    expect(readFileSync(t.path('/etc/crypttab'), 'utf8')).toBe(crypttab);
    const log = readFileSync(t.path('/var/log/homecrypt-install.log'), 'utf8').split(' start: ').pop() as string;
    expect(log).toContain(`${img} already holds a LUKS volume; not formatted again`);
    expect(log).toContain('/etc/crypttab already has cryptdata; left as it is');
    expect(log).not.toContain(PASS);
  });

  it('a PAM login of the user inside the target unlocks the encrypted home; logout locks it', async () => {
    const home = t.path('/home/alice');
    const skel = readFileSync(t.path('/etc/skel/.bashrc'), 'utf8');
    const login = t.sh('pamtester -v login alice authenticate open_session', { input: `${PASS}\n` });
    expect(login.stdout + login.stderr).toMatch(/successfully opened a session/);
    expect(mountsBelow(home)).toContain(home);
    expect(t.must("su -s /bin/sh alice -c 'cat /home/alice/.bashrc'")).toBe(skel);
    const logout = t.sh('pamtester -v login alice close_session', { input: '' });
    expect(logout.stdout + logout.stderr).toMatch(/session has successfully been closed/);
    expect(mountsBelow(home)).toEqual([]);
    expect(existsSync(join(home, '.bashrc'))).toBe(false);
  });

  it('a target with systemd: the shipped units are enabled through systemctl in the chroot', async () => {
    // A real installed Debian has systemd; this minbase root gets it from the mirror now.
    const get = 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd';
    if (t.sh(get, { timeoutMs: 300_000 }).code !== 0) t.must(`apt-get update -q && ${get}`, { timeoutMs: 300_000 });
    const r = await homecrypt(
      ['install', '--target', t.root, '--passphrase-fd', '3', '--answers', answers('a7.json', { user: 'alice', encryptHome: 'home' })],
      { fd3: `${PASS}\n` },
    );
    expect(r.stderr).toBe(r.code === 0 ? r.stderr : 'a failure (shown here)');
    const log = readFileSync(t.path('/var/log/homecrypt-install.log'), 'utf8').split(' start: ').pop() as string;
    expect(log).toContain('ran `systemctl enable homecrypt-shutdown.service` -> exit 0');
    expect(t.must('systemctl is-enabled homecrypt-shutdown.service').trim()).toBe('enabled');
    expect(readlinkSync(t.path('/etc/systemd/system/multi-user.target.wants/homecrypt-shutdown.service'))).toMatch(
      /^\/(usr\/)?lib\/systemd\/system\/homecrypt-shutdown\.service$/,
    );
  }, 600_000);
});
