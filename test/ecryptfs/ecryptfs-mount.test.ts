// `homecrypt ecryptfs mount`: an eCryptfs lower directory the kernel wrote,
// served through FUSE by the engine with the eCryptfs format. Reads byte-exact,
// writes that stay readable as eCryptfs, bad entries failing alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync, statSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BIN, VECTORS, lowerManifest, openVectorVolume, plainManifest } from '../helpers/ecryptfs.js';
import { skipUnless } from '../helpers/requirements.js';
import { waitForExit } from '../helpers/processes.js';

const PASS = readFileSync(join(VECTORS, 'mount-passphrase'), 'utf8');
const isMounted = (mnt: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === mnt);

describe.skipIf(skipUnless('root', 'fuse', 'eCryptfs FUSE mount'))('homecrypt ecryptfs mount', () => {
  let dir: string, lower: string, mnt: string, ref: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hc-ecryptfs-mnt-'));
    lower = join(dir, 'lower');
    mnt = join(dir, 'mnt');
    ref = join(dir, 'ref');
    cpSync(join(VECTORS, 'kernel-k16fnek'), lower, { recursive: true, verbatimSymlinks: true });
    cpSync(join(VECTORS, 'plain'), ref, { recursive: true, verbatimSymlinks: true });
    mkdirSync(mnt);
  });
  afterAll(() => {
    if (isMounted(mnt)) spawnSync('fusermount', ['-u', '-z', mnt]);
    rmSync(dir, { recursive: true, force: true });
  });

  const mount = (args: string[], input: string) =>
    spawnSync(BIN, ['ecryptfs', 'mount', lower, mnt, ...args, '--log-file', join(dir, 'log')], { input, encoding: 'utf8' });
  const umount = () => execFileSync(BIN, ['ecryptfs', 'umount', mnt]);

  it('a wrong mount passphrase exits 3 and mounts nothing', () => {
    const r = mount(['--passphrase-fd', '0'], 'not the passphrase\n');
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/wrong mount passphrase/);
    expect(isMounted(mnt)).toBe(false);
  });

  it('serves the kernel-written tree byte-exact, then takes writes the eCryptfs format keeps', () => {
    const r = mount(['--passphrase-fd', '0'], `${PASS}\n`);
    expect(r.status, r.stderr).toBe(0);
    expect(isMounted(mnt)).toBe(true);
    expect(plainManifest(mnt)).toBe(readFileSync(join(VECTORS, 'kernel-k16fnek.manifest'), 'utf8'));
    // the same operations on the mount and on a plain reference directory
    const ops = `set -e
      printf 'appended' >> hello.txt
      head -c 10000 /dev/zero | tr '\\0' 'z' > big.txt
      truncate -s 5000 big.txt
      truncate -s 9000 f4097
      dd if=/dev/zero of=sparse bs=1 count=1 seek=20000 2>/dev/null
      mkdir -p newdir/inner && echo inner > newdir/inner/file
      ln -s newdir/inner/file newlink
      mv one newdir/one-moved
      rm empty
      printf 'overwrite' | dd of=f4097 bs=1 seek=4090 conv=notrunc 2>/dev/null`;
    execFileSync('sh', ['-c', ops], { cwd: ref });
    execFileSync('sh', ['-c', ops], { cwd: mnt });
    expect(plainManifest(mnt)).toBe(plainManifest(ref));
    expect(statSync(join(mnt, 'sparse')).size).toBe(20001);
    // user xattrs pass through to the lower file, as eCryptfs does
    const py = (code: string) => execFileSync('python3', ['-c', code], { encoding: 'utf8' }).trim();
    py(`import os; os.setxattr(${JSON.stringify(join(mnt, 'hello.txt'))}, 'user.color', b'blue')`);
    expect(py(`import os; print(os.getxattr(${JSON.stringify(join(mnt, 'hello.txt'))}, 'user.color').decode())`)).toBe('blue');
    umount();
    expect(isMounted(mnt)).toBe(false);
    const vol = openVectorVolume(lower, PASS, 16, true);
    expect(lowerManifest(vol)).toBe(plainManifest(ref));
    expect(
      execFileSync('python3', ['-c', `import os; print(os.getxattr(${JSON.stringify(vol.lowerPath('/hello.txt'))}, 'user.color').decode())`], {
        encoding: 'utf8',
      }).trim(),
    ).toBe('blue');
    // lower names stay eCryptfs names
    expect(readdirSync(lower).every((n) => n.startsWith('ECRYPTFS_FNEK_ENCRYPTED.'))).toBe(true);
  });

  it('a truncate far past the end fails at once with nothing written (eCryptfs has no holes: the gap would be written)', () => {
    expect(mount(['--passphrase-fd', '0'], `${PASS}\n`).status).toBe(0);
    try {
      const f = join(mnt, 'huge');
      writeFileSync(f, 'small');
      // 512-byte blocks allocated under the lower directory
      const lowerBlocks = () => execFileSync('du', ['-s', '--block-size=512', lower], { encoding: 'utf8' }).split('\t')[0];
      const before = Number(lowerBlocks());
      const t0 = Date.now();
      const r = spawnSync('truncate', ['-s', '1P', f], { encoding: 'utf8' });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/File too large|No space left/);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(readFileSync(f, 'utf8')).toBe('small');
      expect(statSync(f).size).toBe(5);
      expect(Number(lowerBlocks()) - before).toBeLessThan(2048);
      rmSync(f);
    } finally {
      umount();
    }
  });

  it('a corrupt file gives EIO alone and a foreign name is hidden; the rest keeps working', () => {
    const vol = openVectorVolume(lower, PASS, 16, true);
    const victim = vol.lowerPath('/hello.txt');
    const fd = openSync(victim, 'r+');
    writeSync(fd, Buffer.from([0xde, 0xad]), 0, 2, 12); // the marker
    closeSync(fd);
    writeFileSync(join(lower, 'ECRYPTFS_FNEK_ENCRYPTED.not-a-real-name'), 'x');
    writeFileSync(join(lower, 'plain-foreign-file'), 'x');
    const r = mount(['--passphrase-fd', '0'], `${PASS}\n`);
    expect(r.status, r.stderr).toBe(0);
    const cat = spawnSync('cat', [join(mnt, 'hello.txt')], { encoding: 'utf8' });
    expect(cat.status).not.toBe(0);
    expect(cat.stderr).toMatch(/Input\/output error/);
    expect(readFileSync(join(mnt, 'newdir/inner/file'), 'utf8')).toBe('inner\n');
    const names = readdirSync(mnt);
    expect(names).toContain('hello.txt');
    expect(names.some((n) => n.includes('not-a-real') || n.includes('foreign'))).toBe(false);
    umount();
    const log = readFileSync(join(dir, 'log'), 'utf8');
    expect(log).toContain(victim);
    expect(log).toMatch(/no eCryptfs marker/);
  });

  it('opens with the wrapped-passphrase file and the login passphrase', () => {
    const r = mount(['--wrapped', join(VECTORS, 'wrapped-passphrase-v2'), '--passphrase-fd', '0'], 'VectorLoginPass2\n');
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(mnt, 'newdir/inner/file'), 'utf8')).toBe('inner\n');
    umount();
    const bad = mount(['--wrapped', join(VECTORS, 'wrapped-passphrase-v2'), '--passphrase-fd', '0'], 'wrong login\n');
    expect(bad.status).toBe(3);
    expect(isMounted(mnt)).toBe(false);
  });

  it('a mount detached lazily (a logout with a process left inside) keeps its keys for that process: what it writes then is readable later', async () => {
    const r = mount(['--passphrase-fd', '0'], `${PASS}\n`);
    expect(r.status, r.stderr).toBe(0);
    const daemon = Number([...readFileSync(join(dir, 'log'), 'utf8').matchAll(/\(pid (\d+)\)/g)].pop()?.[1]);
    expect(daemon).toBeGreaterThan(1);
    writeFileSync(join(mnt, 'before.txt'), 'written before the detach\n');
    // a process left inside: it writes a new file and reads an old one only once the mount is detached
    const holder = spawn(
      'sh',
      ['-c', 'while [ ! -e "$0" ]; do sleep 0.05; done; sleep 1; echo written-after-detach > late.txt; cat before.txt', join(dir, 'go')],
      {
        cwd: mnt,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    holder.stdout.on('data', (d: Buffer) => (out += d.toString()));
    holder.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((res) => holder.on('exit', res));
    execFileSync('umount', ['-l', mnt]);
    expect(isMounted(mnt)).toBe(false);
    writeFileSync(join(dir, 'go'), '');
    // by now the daemon has seen its mount gone from the table (a poll every 300 ms) and still serves the holder
    expect(await exited, err).toBe(0);
    expect(out).toBe('written before the detach\n');
    await waitForExit(daemon, 'the daemon');
    const again = mount(['--passphrase-fd', '0'], `${PASS}\n`);
    expect(again.status, again.stderr).toBe(0);
    try {
      expect(readFileSync(join(mnt, 'late.txt'), 'utf8')).toBe('written-after-detach\n');
    } finally {
      umount();
    }
    // and as the kernel's eCryptfs would read it
    const vol = openVectorVolume(lower, PASS, 16, true);
    const f = vol.openFile(vol.lowerPath('/late.txt'), false);
    try {
      expect(f.readAll().toString()).toBe('written-after-detach\n');
    } finally {
      f.close();
    }
  });
});

describe.skipIf(skipUnless('root', 'fuse', 'eCryptfs FUSE mount by an ordinary user'))("an ordinary user's eCryptfs mount that fusermount3 refuses", () => {
  const uid = 65534; // nobody
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hc-ecryptfs-user-'));
    chmodSync(dir, 0o755);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("exits with the refusal's own status and says what to do, as a homecrypt mount does", () => {
    const home = join(dir, 'home');
    const lower = join(home, 'lower');
    const mnt = join(home, 'mnt');
    cpSync(join(VECTORS, 'kernel-k16fnek'), lower, { recursive: true, verbatimSymlinks: true });
    mkdirSync(mnt);
    execFileSync('chown', ['-R', `${uid}:${uid}`, home]);
    // fusermount3 reads /etc/fuse.conf: one with mount_max = 0 (it refuses every user's mount), bound over it in a
    // mount namespace of its own; the host's stays as it is
    const conf = join(dir, 'fuse.conf');
    writeFileSync(conf, 'mount_max = 0\n');
    const log = join(home, 'log');
    const r = spawnSync(
      'unshare',
      [
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        `mount --bind "$0" /etc/fuse.conf && exec setpriv --reuid=${uid} --regid=${uid} --clear-groups "$@"`,
        conf,
        BIN,
        'ecryptfs',
        'mount',
        lower,
        mnt,
        '--passphrase-fd',
        '0',
        '--log-file',
        log,
      ],
      { input: `${PASS}\n`, encoding: 'utf8', timeout: 60_000, cwd: '/' },
    );
    const said = `FUSE mount at ${mnt} failed: fusermount3: too many FUSE filesystems mounted; mount_max=N can be set in /etc/fuse.conf`;
    const hint = 'unmount a FUSE mount you no longer need, or ask root to raise mount_max in /etc/fuse.conf';
    // was: exit 1, "… (log LOG)" and no hint
    expect(r.stderr).toBe(`homecrypt: eCryptfs mount failed: ${said}\nhint: ${hint}; see the daemon's log ${log}\n`);
    expect(r.status).toBe(8);
    expect(isMounted(mnt)).toBe(false);
  });
});
