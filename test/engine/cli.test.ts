// The engine's commands as a user meets them: init, mount (passphrase, keyring,
// wrong passphrase, bad mount points, tampered config), umount, and a mount by
// an ordinary user through fusermount that root cannot see into.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { skipUnless } from '../helpers/requirements.js';
import { BIN, hc, PASS } from './volume-helper.js';

const ExitWrongPassphrase = 3;
const ExitCorrupt = 4;

describe.skipIf(skipUnless('fuse', 'engine CLI tests'))('homecrypt init / mount / umount', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync('/tmp/hc-cli-test-');
  });
  afterAll(() => {
    for (const m of fs.readdirSync(dir)) {
      try {
        execFileSync('fusermount', ['-u', '-z', join(dir, m)], { stdio: 'ignore' });
      } catch {
        /* not a mount */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('init makes a private lower dir with config and key store, and shows a recovery key', () => {
    const lower = join(dir, 'v1');
    const r = hc(['init', lower, '--passphrase-fd', '0', '--kdf-time', '0.05', '--json'], `${PASS}\n`);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(out.recoveryKey).toBeTruthy();
    expect(fs.statSync(lower).mode & 0o777).toBe(0o700);
    expect(fs.readdirSync(lower).sort()).toEqual(['homecrypt.conf', 'homecrypt.diriv', 'homecrypt.keys']);
    expect(fs.statSync(join(lower, 'homecrypt.keys')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(join(lower, 'homecrypt.conf'), 'utf8')).currentKeyId).toBe(out.keyId);
    const again = hc(['init', lower, '--passphrase-fd', '0', '--kdf-time', '0.05'], `${PASS}\n`);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/not empty/);
  });

  it('a wrong passphrase is refused clearly and mounts nothing', () => {
    const m = join(dir, 'm-wrong');
    fs.mkdirSync(m);
    const r = hc(['mount', join(dir, 'v1'), m, '--passphrase-fd', '0'], 'not the passphrase\n');
    expect(r.code).toBe(ExitWrongPassphrase);
    expect(r.stderr).toMatch(/wrong passphrase/);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${m} `);
  });

  it('clear errors for a missing or foreign lower dir and a bad mount point', () => {
    const m = join(dir, 'm-bad');
    fs.mkdirSync(m);
    let r = hc(['mount', join(dir, 'missing'), m, '--passphrase-fd', '0'], `${PASS}\n`);
    expect(r.stderr).toMatch(/does not exist/);
    fs.mkdirSync(join(dir, 'foreign'));
    fs.writeFileSync(join(dir, 'foreign', 'file.txt'), 'x');
    r = hc(['mount', join(dir, 'foreign'), m, '--passphrase-fd', '0'], `${PASS}\n`);
    expect(r.stderr).toMatch(/not a homecrypt volume/);
    fs.writeFileSync(join(m, 'occupied'), '');
    r = hc(['mount', join(dir, 'v1'), m, '--passphrase-fd', '0'], `${PASS}\n`);
    expect(r.stderr).toMatch(/not empty/);
    expect(r.stderr).not.toMatch(/at .*\.js/); // no stack traces
    r = hc(['umount', m]);
    expect(r.stderr).toMatch(/not mounted/);
  });

  it('a tampered volume config is refused', () => {
    const lower = join(dir, 'v-tamper');
    expect(hc(['init', lower, '--passphrase-fd', '0', '--kdf-time', '0.05'], `${PASS}\n`).code).toBe(0);
    const p = join(lower, 'homecrypt.conf');
    fs.writeFileSync(p, fs.readFileSync(p, 'utf8').replace('"encrypted"', '"plaintext"'));
    const m = join(dir, 'm-tamper');
    fs.mkdirSync(m);
    const r = hc(['mount', lower, m, '--passphrase-fd', '0'], `${PASS}\n`);
    expect(r.code).toBe(ExitCorrupt);
    expect(r.stderr).toMatch(/homecrypt.conf: volume config failed authentication/);
  });

  it('a volume config that is a fifo, a device or a huge file is refused unread, at once', () => {
    const lower = join(dir, 'v-conf-kinds');
    expect(hc(['init', lower, '--passphrase-fd', '0', '--kdf-time', '0.05'], `${PASS}\n`).code).toBe(0);
    const p = join(lower, 'homecrypt.conf');
    const cases: Array<[string, () => void, RegExp]> = [
      ['fifo', () => execFileSync('mkfifo', [p]), /homecrypt.conf: volume config is not a regular file/],
      ['/dev/zero behind a link', () => fs.symlinkSync('/dev/zero', p), /homecrypt.conf: volume config is not a regular file/],
      ['a terabyte of hole', () => fs.truncateSync((fs.writeFileSync(p, ''), p), 2 ** 40), /homecrypt.conf: volume config holds 1099511627776 bytes/],
    ];
    for (const [, make, said] of cases) {
      fs.rmSync(p, { force: true });
      make();
      for (const args of [
        ['fsck', lower],
        ['mount', lower, join(dir, 'm-never')],
      ]) {
        const t0 = performance.now();
        const r = hc([...args, '--passphrase-fd', '0'], `${PASS}\n`);
        expect(performance.now() - t0).toBeLessThan(20_000);
        expect(r.code).toBe(ExitCorrupt);
        expect(r.stderr).toMatch(said);
      }
    }
  });

  it('mounts with the key from the keyring, without a passphrase', () => {
    const lower = join(dir, 'v-keyring');
    const init = hc(['init', lower, '--passphrase-fd', '0', '--kdf-time', '0.05', '--json'], `${PASS}\n`);
    const keyId = JSON.parse(init.stdout).keyId as string;
    const m = join(dir, 'm-keyring');
    fs.mkdirSync(m);
    // a private session keyring: nothing leaks into root's shared keyrings
    const script = [
      'keyctl link @u @s', // the user keyring, reachable (possessed) from this session
      `printf '%s\\n' '${PASS}' | ${BIN} key unwrap ${lower}/homecrypt.keys --passphrase-fd 0 >/dev/null`,
      `${BIN} mount ${lower} ${m} --log-file ${dir}/keyring.log </dev/null`,
      `echo via-keyring > ${m}/f && cat ${m}/f`,
      `${BIN} umount ${m}`,
      `${BIN} keyring forget ${keyId} >/dev/null 2>&1 || true`,
    ].join(' && ');
    const r = spawnSync('keyctl', ['session', '-', 'sh', '-c', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).not.toMatch(/homecrypt:/);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('via-keyring');
  });

  it('add-key: new files use the new mount key, old files keep theirs, both open', () => {
    const lower = join(dir, 'v-two');
    const id1 = JSON.parse(hc(['init', lower, '--passphrase-fd', '0', '--kdf-time', '0.05', '--json'], `${PASS}\n`).stdout).keyId;
    const ks2 = join(dir, 'second.keys');
    expect(hc(['key', 'create', ks2, '--passphrase-fd', '0', '--kdf-time', '0.05'], 'second pass\n').code).toBe(0);
    const m = join(dir, 'm-two');
    fs.mkdirSync(m);
    const log = join(dir, 'two.log');
    expect(hc(['mount', lower, m, '--passphrase-fd', '0', '--log-file', log], `${PASS}\n`).code).toBe(0);
    fs.writeFileSync(join(m, 'old'), 'first key');
    expect(hc(['umount', m]).code).toBe(0);
    const add = hc(['add-key', lower, ks2, '--passphrase-fd', '0'], `${PASS}\nsecond pass\n`);
    expect(add.stderr).toBe('');
    const id2 = JSON.parse(fs.readFileSync(join(lower, 'homecrypt.conf'), 'utf8')).currentKeyId;
    expect(id2).not.toBe(id1);
    const script = [
      'keyctl link @u @s',
      `printf '%s\\n' '${PASS}' | ${BIN} key unwrap ${lower}/homecrypt.keys --passphrase-fd 0 >/dev/null`,
      `printf '%s\\n' 'second pass' | ${BIN} key unwrap ${ks2} --passphrase-fd 0 >/dev/null`,
      `${BIN} mount ${lower} ${m} --log-file ${log} </dev/null`,
      `echo second > ${m}/new && cat ${m}/old ${m}/new`,
      `${BIN} umount ${m}`,
      `${BIN} keyring forget ${id1} >/dev/null 2>&1; ${BIN} keyring forget ${id2} >/dev/null 2>&1; true`,
    ].join(' && ');
    const r = spawnSync('keyctl', ['session', '-', 'sh', '-c', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).not.toMatch(/homecrypt:/);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('first keysecond'); // cat of both files
    const ids = fs
      .readdirSync(lower)
      .filter((n) => !n.includes('.'))
      .map((n) => fs.readFileSync(join(lower, n)).subarray(24, 32).toString('hex'))
      .sort();
    expect(ids).toEqual([id1, id2].sort());
  });

  it('--keystore keeps the key store outside the lower dir', () => {
    const lower = join(dir, 'v-ext');
    const ks = join(dir, 'external.keys');
    expect(hc(['init', lower, '--keystore', ks, '--passphrase-fd', '0', '--kdf-time', '0.05'], `${PASS}\n`).code).toBe(0);
    expect(fs.readdirSync(lower).sort()).toEqual(['homecrypt.conf', 'homecrypt.diriv']);
    expect(fs.existsSync(ks)).toBe(true);
    const m = join(dir, 'm-ext');
    fs.mkdirSync(m);
    const r = hc(['mount', lower, m, '--passphrase-fd', '0', '--log-file', join(dir, 'ext.log')], `${PASS}\n`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    fs.writeFileSync(join(m, 'a'), 'b');
    expect(hc(['umount', m]).code).toBe(0);
    expect(fs.readdirSync(m)).toEqual([]);
  });
});

describe.skipIf(skipUnless('root', 'fuse', 'engine unprivileged mount test'))('an ordinary user mounts through fusermount', () => {
  const uid = 65534; // nobody
  let dir: string;
  const asUser = (args: string[], input = '') =>
    spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', BIN, ...args], {
      input,
      encoding: 'utf8',
      timeout: 60_000,
      cwd: '/',
      env: { PATH: process.env.PATH, HOME: '/nonexistent' },
    });
  beforeAll(() => {
    dir = fs.mkdtempSync('/tmp/hc-user-test-');
    fs.chownSync(dir, uid, uid);
  });
  afterAll(() => {
    try {
      execFileSync('umount', ['-l', join(dir, 'mnt')], { stdio: 'ignore' });
    } catch {
      /* not mounted */
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('mounts, writes, is invisible to root, and unmounts', () => {
    const lower = join(dir, 'lower');
    const mnt = join(dir, 'mnt');
    let r = asUser(['init', lower, '--passphrase-fd', '0', '--kdf-time', '0.05'], `${PASS}\n`);
    expect(r.stderr).toBe('');
    expect(fs.statSync(lower).uid).toBe(uid);
    fs.mkdirSync(mnt);
    fs.chownSync(mnt, uid, uid);
    r = asUser(['mount', lower, mnt, '--passphrase-fd', '0', '--log-file', join(dir, 'log')], `${PASS}\n`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const mine = spawnSync(
      'setpriv',
      [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sh', '-c', `echo hi > ${mnt}/f && cat ${mnt}/f && stat -c %u ${mnt}/f`],
      { encoding: 'utf8' },
    );
    expect(mine.stdout.trim().split('\n')).toEqual(['hi', String(uid)]);
    // permissions are enforced from the modes the mount reports
    const denied = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sh', '-c', `chmod 400 ${mnt}/f && echo more >> ${mnt}/f`], {
      encoding: 'utf8',
    });
    expect(denied.status).not.toBe(0);
    expect(denied.stderr).toMatch(/Permission denied/);
    let code: string | undefined;
    try {
      fs.readdirSync(mnt);
    } catch (err) {
      code = (err as NodeJS.ErrnoException).code;
    }
    expect(code).toBe('EACCES'); // no allow_other: not even root sees in
    r = asUser(['umount', mnt]);
    expect(r.status).toBe(0);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${mnt} `);
  });

  it("another's volume is refused as permission denied (exit 11), not as a corrupt file", () => {
    const theirs = fs.mkdtempSync('/tmp/hc-theirs-'); // root's, 0700
    try {
      expect(hc(['init', join(theirs, 'v'), '--passphrase-fd', '0', '--kdf-time', '0.05'], `${PASS}\n`).code).toBe(0);
      fs.chmodSync(theirs, 0o711); // the user may pass through, not read the 0700 volume
      const r = asUser(['mount', join(theirs, 'v'), join(dir, 'mnt'), '--passphrase-fd', '0'], `${PASS}\n`);
      expect(r.status).toBe(11);
      expect(r.stderr).toMatch(/homecrypt\.conf: permission denied/);
    } finally {
      fs.rmSync(theirs, { recursive: true, force: true });
    }
  });
});

describe.skipIf(skipUnless('root', 'fuse', 'engine guards for an ordinary user'))("an ordinary user: other users' directories and Ctrl-C", () => {
  const uid = 65534; // nobody
  let dir: string;
  const asUser = (args: string[], input = '') =>
    spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', BIN, ...args], { input, encoding: 'utf8', timeout: 60_000, cwd: '/' });
  /** Runs `homecrypt args…` as the user and sends SIGINT once `when()` holds (setpriv and env exec: the pid is node's). */
  const interruptWhen = (args: string[], when: () => boolean): Promise<{ status: number | null; signal: string | null; stderr: string }> =>
    new Promise((done, fail) => {
      const child = spawn('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', BIN, ...args], { cwd: '/' });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.stdin.end(`${PASS}\n`);
      const poll = setInterval(() => {
        if (when()) {
          clearInterval(poll);
          child.kill('SIGINT');
        }
      }, 10);
      child.on('exit', (status, signal) => {
        clearInterval(poll);
        done({ status, signal, stderr });
      });
      child.on('error', fail);
    });
  /** Pids of the mount daemons (started with --ready-fd) serving `mnt`. */
  const daemonsOf = (mnt: string) =>
    fs.readdirSync('/proc').filter((p) => {
      try {
        const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return argv.includes('--ready-fd') && argv.includes(mnt);
      } catch {
        return false;
      }
    });
  const mounted = (mnt: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `);
  const own = (p: string) => {
    fs.mkdirSync(p);
    fs.chownSync(p, uid, uid);
    return p;
  };

  let vol: string; // a volume of the user's
  beforeAll(() => {
    dir = fs.mkdtempSync('/tmp/hc-user-guards-');
    fs.chmodSync(dir, 0o755);
    vol = join(own(join(dir, 'u-home')), 'vol');
    const r = asUser(['init', vol, '--passphrase-fd', '0', '--kdf-time', '0.05'], `${PASS}\n`);
    if (r.status !== 0) throw new Error(`init failed: ${r.stderr}`);
  });
  afterAll(() => {
    for (const m of fs.readdirSync(dir)) spawnSync('umount', ['-l', join(dir, m)], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('init refuses a directory of another user (even one open to all) and makes its own one 0700', () => {
    const shared = join(dir, 'shared');
    fs.mkdirSync(shared);
    fs.chmodSync(shared, 0o777);
    let r = asUser(['init', shared, '--passphrase-fd', '0', '--kdf-time', '0.05'], `${PASS}\n`);
    expect(r.status).toBe(11);
    expect(r.stderr).toBe(`homecrypt: ${shared} belongs to root, not you\nhint: give a new path, or an empty directory of your own\n`);
    expect(fs.readdirSync(shared)).toEqual([]);
    const mine = own(join(dir, 'mine'));
    fs.chmodSync(mine, 0o755);
    r = asUser(['init', mine, '--passphrase-fd', '0', '--kdf-time', '0.05'], `${PASS}\n`);
    expect(r.stderr).toBe('');
    expect(fs.statSync(mine).mode & 0o7777).toBe(0o700);
  });

  it('mount refuses a mount point of another user before asking for the passphrase', () => {
    const theirs = join(dir, 'theirs');
    fs.mkdirSync(theirs);
    // no --passphrase-fd and no terminal: a prompt would fail with "no terminal" (exit 2)
    const r = asUser(['mount', vol, theirs]);
    expect(r.stderr).toBe(`homecrypt: you cannot mount on ${theirs}: it belongs to root\nhint: mount on an empty directory of your own\n`);
    expect(r.status).toBe(11);
  });

  /**
   * `homecrypt args…` as the user, with `conf` bound over /etc/fuse.conf in a mount namespace of its own: fusermount3
   * reads it there, and the host's stays as it is.
   */
  const asUserWithFuseConf = (conf: string, args: string[], input = '') => {
    const file = join(dir, `fuse.conf-${fs.readdirSync(dir).length}`);
    fs.writeFileSync(file, conf);
    return spawnSync(
      'unshare',
      [
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        `mount --bind "$0" /etc/fuse.conf && exec setpriv --reuid=${uid} --regid=${uid} --clear-groups "$@"`,
        file,
        BIN,
        ...args,
      ],
      { input, encoding: 'utf8', timeout: 60_000, cwd: '/' },
    );
  };

  it('--allow-other without user_allow_other in /etc/fuse.conf is refused before the passphrase is asked, as fusermount3 would', () => {
    const mnt = own(join(dir, 'm-allow-other'));
    const log = join(dir, 'u-home', 'allow-other.log'); // the user's
    // what fusermount3 does not take for the line: commented out, with a value, or without its newline at the end of the file
    const without = '#user_allow_other\nuser_allow_other = 1\nmount_max = 1000\nuser_allow_other';
    const said = `you cannot mount on ${mnt} with --allow-other: option allow_other only allowed if 'user_allow_other' is set in /etc/fuse.conf`;
    const hint = 'root can allow it with a line user_allow_other in /etc/fuse.conf; or mount without letting other users in';
    // no --passphrase-fd and no terminal: a prompt would fail with "no terminal" (exit 2); no daemon is started
    for (const extra of [['--foreground'], ['--log-file', log]]) {
      const r = asUserWithFuseConf(without, ['mount', vol, mnt, '--allow-other', ...extra]);
      expect(r.stderr).toBe(`homecrypt: ${said}\nhint: ${hint}\n`);
      expect(r.status).toBe(11);
    }
    expect(fs.existsSync(log)).toBe(false);
    // the line as fusermount3 reads it (blanks around it, a comment after it): allowed, and fusermount3 agrees (the
    // mount is in the namespace the daemon was started in: read in its mountinfo; its SIGTERM unmounts it)
    const r = asUserWithFuseConf(
      '# let users share\n\t user_allow_other   # for homecrypt\n',
      ['mount', vol, mnt, '--passphrase-fd', '0', '--allow-other', '--log-file', log],
      `${PASS}\n`,
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [daemon] = daemonsOf(mnt);
    expect(fs.readFileSync(`/proc/${daemon}/mountinfo`, 'utf8')).toMatch(new RegExp(` ${mnt} .* fuse\\.homecrypt .*allow_other`));
    process.kill(Number(daemon), 'SIGTERM');
    for (let i = 0; i < 100 && daemonsOf(mnt).length > 0; i++) execFileSync('sleep', ['0.1']);
    expect(daemonsOf(mnt)).toEqual([]);
  });

  it("fusermount3's refusal through the daemon exits as --foreground does: its type crosses the ready pipe with its hint", () => {
    const mnt = own(join(dir, 'm-mount-max'));
    const log = join(dir, 'u-home', 'mount-max.log');
    // mount_max = 0: fusermount3 refuses every mount of an ordinary user
    const conf = 'mount_max = 0\n';
    const said = `FUSE mount at ${mnt} failed: fusermount3: too many FUSE filesystems mounted; mount_max=N can be set in /etc/fuse.conf`;
    const hint = 'unmount a FUSE mount you no longer need, or ask root to raise mount_max in /etc/fuse.conf';
    // served from this process: the error's own type, refused (exit 8)
    let r = asUserWithFuseConf(conf, ['mount', vol, mnt, '--passphrase-fd', '0', '--foreground'], `${PASS}\n`);
    expect(r.stderr).toBe(`homecrypt: ${said}\nhint: ${hint}\n`);
    expect(r.status).toBe(8);
    // through a daemon: the same status (was: 1), its error and its hint back over the ready pipe
    r = asUserWithFuseConf(conf, ['mount', vol, mnt, '--passphrase-fd', '0', '--log-file', log], `${PASS}\n`);
    expect(r.stderr).toBe(`homecrypt: mount failed: ${said}\nhint: ${hint}; see the daemon's log ${log}\n`);
    expect(r.status).toBe(8);
    expect(mounted(mnt)).toBe(false);
    expect(daemonsOf(mnt)).toEqual([]);
  });

  it('umount of a busy mount is refused (exit 8) with who to look for, and works once it is free', async () => {
    const mnt = own(join(dir, 'm-busy'));
    expect(asUser(['mount', vol, mnt, '--passphrase-fd', '0', '--log-file', join(dir, 'u-home', 'busy.log')], `${PASS}\n`).status).toBe(0);
    // a process of the user's whose working directory is inside the mount (root may not enter it)
    const holder = spawn('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sh', '-c', 'cd "$0" && exec sleep 60', mnt], {
      cwd: '/',
      stdio: 'ignore',
    });
    const exited = new Promise((done) => holder.on('exit', done));
    const cwdOf = (pid: number) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        return null;
      }
    };
    for (let i = 0; i < 100 && cwdOf(holder.pid!) !== mnt; i++) execFileSync('sleep', ['0.05']);
    expect(cwdOf(holder.pid!)).toBe(mnt);
    try {
      const r = asUser(['umount', mnt]);
      expect(r.stderr).toBe(
        `homecrypt: cannot unmount ${mnt}: fusermount3: failed to unmount ${mnt}: Device or resource busy\n` +
          `hint: close what uses it (fuser -vm '${mnt}' lists the processes), then run the same command again; or detach it now: homecrypt umount --lazy ${mnt}\n`,
      );
      expect(r.status).toBe(8);
      expect(mounted(mnt)).toBe(true);
    } finally {
      holder.kill('SIGKILL');
      await exited;
    }
    const r = asUser(['umount', mnt]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(mounted(mnt)).toBe(false);
  });

  it('umount says whose mount it is, and that a path does not exist', () => {
    const mnt = own(join(dir, 'm-root'));
    // root mounts the user's volume: the user may not unmount it
    expect(hc(['mount', vol, mnt, '--passphrase-fd', '0', '--log-file', join(dir, 'root.log')], `${PASS}\n`).code).toBe(0);
    let r = asUser(['umount', mnt]);
    expect(r.stderr).toBe(`homecrypt: ${mnt} was mounted by root, not you\nhint: ask root to unmount it\n`);
    expect(r.status).toBe(11);
    expect(hc(['umount', mnt]).code).toBe(0);
    r = asUser(['umount', join(dir, 'nothere')]);
    expect(r.stderr).toBe(`homecrypt: ${join(dir, 'nothere')} does not exist\n`);
    expect(r.status).toBe(2);
  });

  it('Ctrl-C while init works removes what init made and says so', async () => {
    const parent = join(dir, 'u-home', 'new-parent');
    const lower = join(parent, 'lower');
    // a calibration of 1 s: the signal lands while the key store is being made
    const r = await interruptWhen(['init', lower, '--passphrase-fd', '0', '--kdf-time', '1'], () => fs.existsSync(lower));
    expect(r.stderr).toMatch(new RegExp(`homecrypt: interrupted: ${lower} was not made\nhint: run the same command again\n$`));
    expect(r.status).toBe(130);
    expect(fs.existsSync(parent)).toBe(false);
  });

  it('Ctrl-C while mount waits for its daemon leaves nothing mounted and says so', async () => {
    const mnt = own(join(dir, 'm-int'));
    const log = join(dir, 'u-home', 'int.log');
    const r = await interruptWhen(['mount', vol, mnt, '--passphrase-fd', '0', '--log-file', log], () => daemonsOf(mnt).length > 0);
    expect(r.stderr).toMatch(new RegExp(`homecrypt: interrupted: nothing is mounted at ${mnt}\nhint: run the same command again to mount it\n$`));
    expect(r.status).toBe(130);
    expect(mounted(mnt)).toBe(false);
    expect(daemonsOf(mnt)).toEqual([]);
  });
});
