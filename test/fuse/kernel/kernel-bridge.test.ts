// The kernel FUSE bridge (src/fuse/kernel/) carrying the real engine: a
// homecrypt volume served by bench/bridge-serve.mjs in its own process (a
// process must not do blocking I/O on a mount it serves itself).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { skipUnless } from '../../helpers/requirements.js';
import { serve, type Served } from './bridge-serve-helper.js';
import { lgetxattrSync, llistxattrSync, lsetxattrSync } from '../../../src/os/lower-fs-calls.js';
import { asUser, createTestUser, removeTestUser, type TestUser } from '../../helpers/users.js';

const SERVE = new URL('../../../bench/bridge-serve.mjs', import.meta.url).pathname;
const WRITER = new URL('./lock-writer.mjs', import.meta.url).pathname;

const errCode = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
  return undefined;
};

/** stat with nanosecond times (Node's bigint stat). */
const nsStat = (p: string) => fs.statSync(p, { bigint: true });

describe.skipIf(skipUnless('root', 'fuse', 'kernel FUSE bridge tests'))('the kernel FUSE bridge under the engine', () => {
  let dir: string;
  let lower: string;
  let mnt: string;
  let served: Served;

  beforeAll(async () => {
    dir = fs.mkdtempSync('/tmp/hc-kernel-bridge-');
    lower = join(dir, 'lower');
    mnt = join(dir, 'mnt');
    fs.mkdirSync(mnt);
    served = await serve('homecrypt', lower, mnt);
  });

  afterAll(async () => {
    if (served.child.exitCode === null) {
      served.child.kill('SIGTERM');
      await Promise.race([served.exited, new Promise((r) => setTimeout(r, 3000))]);
    }
    spawnSync('umount', ['-l', mnt], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('mounts as fuse.homecrypt for this user with the kernel checking permissions', () => {
    const line = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .find((l) => l.includes(` ${mnt} `))!;
    expect(line).toContain(' - fuse.homecrypt homecrypt:');
    expect(line).toMatch(/user_id=0,group_id=0/);
    expect(line).toContain('default_permissions');
    expect(line).toMatch(/nosuid,nodev/);
    // streaming reads arrive as 1 MiB requests: the mount's readahead was raised from 128 KiB
    const dev = line.split(' ')[2];
    expect(fs.readFileSync(`/sys/class/bdi/${dev}/read_ahead_kb`, 'utf8').trim()).toBe('1024');
  });

  it('reads back what was written at any offset, through 1 MiB requests and holes', () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 777);
    for (let i = 0; i < data.length; i += 4093) data[i] = (i * 7) & 0xff;
    const p = join(mnt, 'big');
    fs.writeFileSync(p, data);
    expect(fs.readFileSync(p).equals(data)).toBe(true);
    const fd = fs.openSync(p, 'r+');
    fs.writeSync(fd, Buffer.from('middle'), 0, 6, 1_000_001);
    fs.writeSync(fd, Buffer.from('past the end'), 0, 12, data.length + 10_000);
    fs.closeSync(fd);
    const back = fs.readFileSync(p);
    expect(back.length).toBe(data.length + 10_012);
    expect(back.subarray(1_000_001, 1_000_007).toString()).toBe('middle');
    expect(back.subarray(data.length, data.length + 10_000).equals(Buffer.alloc(10_000))).toBe(true);
    expect(fs.statSync(p).size).toBe(data.length + 10_012);
    // the lower file is ciphertext: the pattern does not appear in it
    const lowerFiles = fs.readdirSync(lower).filter((n) => !n.startsWith('.') && !n.endsWith('.json'));
    expect(lowerFiles.length).toBeGreaterThan(0);
  });

  it('does directories, renames, hard links, symlinks, fifos, xattrs and errno like a local filesystem', () => {
    fs.mkdirSync(join(mnt, 'd/e'), { recursive: true });
    fs.writeFileSync(join(mnt, 'd/e/f'), 'hello');
    fs.renameSync(join(mnt, 'd'), join(mnt, 'd2'));
    expect(fs.readFileSync(join(mnt, 'd2/e/f'), 'utf8')).toBe('hello');
    expect(errCode(() => fs.statSync(join(mnt, 'd/e/f')))).toBe('ENOENT');
    fs.writeFileSync(join(mnt, 'g'), 'other');
    fs.renameSync(join(mnt, 'g'), join(mnt, 'd2/e/f')); // over an existing file
    expect(fs.readFileSync(join(mnt, 'd2/e/f'), 'utf8')).toBe('other');
    fs.linkSync(join(mnt, 'd2/e/f'), join(mnt, 'hard'));
    expect(fs.statSync(join(mnt, 'hard')).nlink).toBe(2);
    fs.symlinkSync('d2/e/f', join(mnt, 'sym'));
    expect(fs.readlinkSync(join(mnt, 'sym'))).toBe('d2/e/f');
    expect(fs.readFileSync(join(mnt, 'sym'), 'utf8')).toBe('other');
    execFileSync('mkfifo', [join(mnt, 'fifo')]);
    expect(fs.lstatSync(join(mnt, 'fifo')).isFIFO()).toBe(true);
    expect(fs.readdirSync(join(mnt, 'd2/e'))).toEqual(['f']);
    expect(fs.readdirSync(mnt).sort()).toEqual(expect.arrayContaining(['big', 'd2', 'fifo', 'hard', 'sym']));
    lsetxattrSync(join(mnt, 'hard'), 'user.colour', Buffer.from('blue'), 0);
    expect(lgetxattrSync(join(mnt, 'hard'), 'user.colour').toString()).toBe('blue');
    expect(llistxattrSync(join(mnt, 'hard'))).toContain('user.colour');
    expect(errCode(() => lgetxattrSync(join(mnt, 'hard'), 'user.none'))).toBe('ENODATA');
    expect(errCode(() => fs.rmdirSync(join(mnt, 'd2')))).toBe('ENOTEMPTY');
    expect(errCode(() => fs.mkdirSync(join(mnt, 'd2')))).toBe('EEXIST');
    expect(errCode(() => fs.writeFileSync(join(mnt, 'x'.repeat(256)), ''))).toBe('ENAMETOOLONG');
    expect(errCode(() => fs.openSync(join(mnt, 'nothing'), 'r'))).toBe('ENOENT');
    fs.writeFileSync(join(mnt, 'nothing'), 'now'); // the cached negative entry must not hide it
    expect(fs.readFileSync(join(mnt, 'nothing'), 'utf8')).toBe('now');
    fs.truncateSync(join(mnt, 'nothing'), 1);
    expect(fs.readFileSync(join(mnt, 'nothing'), 'utf8')).toBe('n');
    const st = fs.statfsSync(mnt);
    expect(st.blocks).toBeGreaterThan(0);
  });

  it('sets atime and mtime exactly, keeps the one given as UTIME_OMIT, and takes UTIME_NOW from the clock', () => {
    const p = join(mnt, 'times');
    fs.writeFileSync(p, 'x');
    // both times, microsecond precision (touch -d)
    execFileSync('touch', ['-d', '2001-02-03 04:05:06.123456', p]);
    let st = nsStat(p);
    expect(st.atimeNs).toBe(981173106123456000n);
    expect(st.mtimeNs).toBe(981173106123456000n);
    // mtime alone (atime UTIME_OMIT): what tar does, and what libfuse2's high-level API dropped.
    // touch -h sets times by path without opening the file (opening may read it, and reading moves atime)
    execFileSync('touch', ['-h', '-m', '-d', '2010-01-01 00:00:00.5', p]);
    st = nsStat(p);
    expect(st.mtimeNs).toBe(1262304000500000000n);
    expect(st.atimeNs).toBe(981173106123456000n);
    // atime alone (mtime UTIME_OMIT)
    execFileSync('touch', ['-h', '-a', '-d', '2005-05-05 05:05:05', p]);
    st = nsStat(p);
    expect(st.atimeNs).toBe(1115269505000000000n);
    expect(st.mtimeNs).toBe(1262304000500000000n);
    // UTIME_NOW for mtime, atime kept
    const before = BigInt(Date.now() - 2000) * 1_000_000n;
    execFileSync('touch', ['-h', '-m', p]);
    st = nsStat(p);
    expect(st.mtimeNs).toBeGreaterThan(before);
    expect(st.atimeNs).toBe(1115269505000000000n);
    // ctime follows a change of mode; a write moves mtime and ctime
    const c0 = st.ctimeNs;
    fs.chmodSync(p, 0o600);
    st = nsStat(p);
    expect(Number(st.mode) & 0o777).toBe(0o600);
    expect(st.ctimeNs).toBeGreaterThanOrEqual(c0);
    execFileSync('touch', ['-d', '2001-01-01', p]);
    fs.appendFileSync(p, 'more');
    st = nsStat(p);
    expect(st.mtimeNs).toBeGreaterThan(before);
    expect(st.size).toBe(5n);
  });

  it('appends at the true end with O_APPEND, from two descriptors', () => {
    const p = join(mnt, 'log');
    fs.writeFileSync(p, 'start\n');
    const a = fs.openSync(p, 'a');
    const b = fs.openSync(p, 'a');
    for (let i = 0; i < 20; i++) {
      fs.writeSync(i % 2 ? a : b, `line ${i}\n`);
    }
    fs.closeSync(a);
    fs.closeSync(b);
    const expected = `start\n${Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join('')}`;
    expect(fs.readFileSync(p, 'utf8')).toBe(expected);
    const c = fs.openSync(p, 'a+');
    fs.writeSync(c, 'end', 0); // the position argument does not beat O_APPEND on Linux
    fs.closeSync(c);
    expect(fs.readFileSync(p, 'utf8')).toBe(`${expected}end`);
  });

  it('a lone write-only open bypasses the page cache; readers and shared writable mmaps always see the latest bytes', () => {
    const p = join(mnt, 'coherent');
    const block = (c: string) => Buffer.alloc(65536, c);
    const readAt0 = (fd: number) => {
      const b = Buffer.alloc(65536);
      fs.readSync(fd, b, 0, b.length, 0);
      return b;
    };
    // a shared writable mapping of the file while a direct writer is open
    // (works on ext4; the kernel allows it with DIRECT_IO_ALLOW_MMAP): it sees
    // the writer's bytes, its own stores reach the writer's reads, and a
    // direct write after them shows through the live mapping
    const mapShared = (expectFirst: string) =>
      spawnSync(
        'python3',
        [
          '-c',
          [
            'import mmap,os,sys',
            'f=os.open(sys.argv[1],os.O_RDWR)',
            'try:',
            '  m=mmap.mmap(f,0,mmap.MAP_SHARED,mmap.PROT_READ|mmap.PROT_WRITE)',
            'except OSError as e:',
            '  print(e.errno); sys.exit()',
            'w=os.open(sys.argv[1],os.O_WRONLY)',
            'ok=[m[0:1]==sys.argv[2].encode()]',
            'm[0:10]=b"z"*10; m.flush()',
            'ok.append(os.pread(f,10,0)==b"z"*10)',
            'os.pwrite(w,b"y"*100,0)',
            'ok.append(m[0:100]==b"y"*100)',
            'print("mapped" if all(ok) else ok)',
          ].join('\n'),
          p,
          expectFirst,
        ],
        { encoding: 'utf8' },
      ).stdout.trim();
    fs.writeFileSync(p, block('a'));

    // 1. writer alone (direct), then a reader opened meanwhile (direct too): the reader sees each write
    const w = fs.openSync(p, 'w');
    fs.writeSync(w, block('b'), 0, 65536, 0);
    const r = fs.openSync(p, 'r');
    expect(readAt0(r).equals(block('b'))).toBe(true);
    fs.writeSync(w, block('c'), 0, 65536, 0);
    expect(readAt0(r).equals(block('c'))).toBe(true);
    expect(mapShared('c')).toBe('mapped');
    const back = readAt0(r);
    expect(back.subarray(0, 100).equals(Buffer.alloc(100, 'y'))).toBe(true);
    expect(back.subarray(100).equals(block('c').subarray(100))).toBe(true);
    fs.writeSync(w, block('b'), 0, 65536, 0);
    fs.closeSync(w);
    fs.closeSync(r);
    expect(mapShared('b')).toBe('mapped');

    // 2. a reader first (cached), then a writer (cached too, as the file is open): still coherent
    const r2 = fs.openSync(p, 'r');
    expect(readAt0(r2).subarray(100).equals(block('b').subarray(100))).toBe(true);
    const w2 = fs.openSync(p, 'r+');
    const w3 = fs.openSync(p, 'w'); // write-only but not alone: cached
    fs.writeSync(w3, block('d'), 0, 65536, 0);
    expect(readAt0(r2).equals(block('d'))).toBe(true);
    fs.writeSync(w2, block('e'), 0, 65536, 0);
    expect(readAt0(r2).equals(block('e'))).toBe(true);
    for (const fd of [w3, w2, r2]) fs.closeSync(fd);
    expect(fs.readFileSync(p).equals(block('e'))).toBe(true);
  });

  it('gives hard links one inode: nlink, ctime and mode right through every name at once', () => {
    const a = join(mnt, 'link-a');
    const b = join(mnt, 'link-b');
    fs.writeFileSync(a, 'shared');
    fs.chmodSync(a, 0o644);
    const before = nsStat(a); // the kernel now holds a's attributes
    expect(before.nlink).toBe(1n);
    spawnSync('sleep', ['0.02']);
    fs.linkSync(a, b);
    const s1 = nsStat(a);
    expect(s1.nlink).toBe(2n);
    expect(s1.ctimeNs > before.ctimeNs).toBe(true);
    expect(nsStat(b).ino).toBe(s1.ino);
    fs.chmodSync(b, 0o600);
    expect(Number(nsStat(a).mode) & 0o777).toBe(0o600);
    fs.writeFileSync(b, 'through b');
    expect(fs.readFileSync(a, 'utf8')).toBe('through b');
    fs.unlinkSync(a);
    expect(nsStat(b).nlink).toBe(1n);
    expect(fs.readFileSync(b, 'utf8')).toBe('through b');
    fs.renameSync(b, a);
    expect(nsStat(a).nlink).toBe(1n);
    expect(errCode(() => fs.statSync(b))).toBe('ENOENT');
  });

  it('lets a process whose cwd was removed go up with chdir("..")', () => {
    const d = join(mnt, 'gone-cwd');
    fs.mkdirSync(d);
    const r = spawnSync(
      'python3',
      [
        '-c',
        [
          'import os,sys,time',
          'os.chdir(sys.argv[1])',
          'os.rmdir(sys.argv[1])',
          'time.sleep(1.2)', // past the attribute timeout: the kernel asks the bridge about the removed directory
          'print(os.stat(".").st_nlink)',
          'os.chdir("..")',
          'print(os.getcwd())',
        ].join('\n'),
        d,
      ],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['0', mnt]);
  });

  it('keeps an open-unlinked file usable, stats it by handle, and keeps it apart from a new file of the same name', () => {
    const p = join(mnt, 'ghost');
    fs.writeFileSync(p, 'a'.repeat(10_000));
    const fd = fs.openSync(p, 'r+');
    fs.unlinkSync(p);
    expect(errCode(() => fs.statSync(p))).toBe('ENOENT');
    fs.writeFileSync(p, 'new file'); // same name, another file
    // past the attribute timeout, fstat has to ask the bridge, which must not answer by path
    spawnSync('sleep', ['1.2']);
    let st = fs.fstatSync(fd);
    expect(st.size).toBe(10_000);
    expect(st.nlink).toBe(0);
    fs.writeSync(fd, 'bbbb', 0, 'utf8');
    fs.ftruncateSync(fd, 4_000);
    st = fs.fstatSync(fd);
    expect(st.size).toBe(4_000);
    const back = Buffer.alloc(4_000);
    expect(fs.readSync(fd, back, 0, 4_000, 0)).toBe(4_000);
    expect(back.subarray(0, 6).toString()).toBe('bbbbaa');
    fs.closeSync(fd);
    expect(fs.readFileSync(p, 'utf8')).toBe('new file');
  });

  it('two processes writing unaligned ranges of one file under fcntl and flock locks never see corrupt data', async () => {
    for (const kind of ['fcntl', 'flock']) {
      const p = join(mnt, `shared-${kind}`);
      const model = join(dir, `model-${kind}`);
      const start = Buffer.alloc(20_000, 0x2a);
      fs.writeFileSync(p, start);
      fs.writeFileSync(model, start);
      const run = (seed: number) =>
        new Promise<{ code: number | null; err: string }>((res) => {
          const c = spawn(process.execPath, [WRITER, p, model, kind, '150', String(seed)], {
            stdio: ['ignore', 'ignore', 'pipe'],
            cwd: new URL('../../..', import.meta.url).pathname,
          });
          let err = '';
          c.stderr!.on('data', (d: Buffer) => {
            err += d.toString();
          });
          c.on('exit', (code) => res({ code, err }));
        });
      const results = await Promise.all([run(1), run(2)]);
      for (const r of results) expect(r, r.err).toEqual({ code: 0, err: '' });
      expect(fs.readFileSync(p).equals(fs.readFileSync(model))).toBe(true);
    }
  });

  it('answers programs: tar round trip with mtimes, cp -a, sqlite3', () => {
    const src = join(dir, 'src');
    fs.mkdirSync(join(src, 'sub'), { recursive: true });
    fs.writeFileSync(join(src, 'sub/a.txt'), 'alpha');
    fs.writeFileSync(join(src, 'b.bin'), Buffer.alloc(200_000, 7));
    fs.utimesSync(join(src, 'sub/a.txt'), 1_500_000_000, 1_500_000_000);
    execFileSync('tar', ['cf', join(dir, 't.tar'), '-C', src, '.']);
    fs.mkdirSync(join(mnt, 'untar'));
    execFileSync('tar', ['xf', join(dir, 't.tar'), '-C', join(mnt, 'untar')]);
    expect(fs.statSync(join(mnt, 'untar/sub/a.txt')).mtimeMs).toBe(1_500_000_000_000);
    execFileSync('cp', ['-a', join(mnt, 'untar'), join(mnt, 'copy')]);
    expect(execFileSync('diff', ['-r', src, join(mnt, 'copy')]).toString()).toBe('');
    expect(fs.statSync(join(mnt, 'copy/sub/a.txt')).mtimeMs).toBe(1_500_000_000_000);
    const db = join(mnt, 'db.sqlite');
    execFileSync('sqlite3', [db, 'create table t(x); insert into t values (1),(2),(3);']);
    expect(execFileSync('sqlite3', [db, 'select sum(x) from t;']).toString().trim()).toBe('6');
  });

  it('ends cleanly when unmounted from outside, and after kill -9 the stale mount is cleaned up and mounts again', async () => {
    fs.writeFileSync(join(mnt, 'kept'), 'survives');
    execFileSync('umount', [mnt]);
    expect(await Promise.race([served.exited, new Promise((r) => setTimeout(() => r('hung'), 5000))])).toBe(0);

    served = await serve('homecrypt', lower, mnt);
    expect(fs.readFileSync(join(mnt, 'kept'), 'utf8')).toBe('survives');
    served.child.kill('SIGKILL');
    await served.exited;
    expect(errCode(() => fs.statSync(mnt))).toBe('ENOTCONN');
    execFileSync('fusermount', ['-u', '-z', mnt]);
    served = await serve('homecrypt', lower, mnt);
    expect(fs.readFileSync(join(mnt, 'kept'), 'utf8')).toBe('survives');
  });
});

describe.skipIf(skipUnless('root', 'fuse', 'kernel FUSE bridge, unprivileged mount'))('the kernel FUSE bridge for an unprivileged user', () => {
  let user: TestUser;
  beforeAll(() => {
    user = createTestUser('hckb');
  });
  afterAll(() => {
    removeTestUser(user);
  });

  it('drops set-user-ID and set-group-ID when a user without CAP_FSETID writes or truncates (killpriv v2)', async () => {
    const base = fs.mkdtempSync('/tmp/hc-kernel-killpriv-');
    fs.chmodSync(base, 0o755);
    const mp = join(base, 'mnt');
    fs.mkdirSync(mp, { mode: 0o755 });
    const s = await serve('homecrypt', join(base, 'lower'), mp, { HOMECRYPT_BRIDGE_ALLOW_OTHER: '1' });
    try {
      fs.chmodSync(mp, 0o755); // the volume's root starts private
      const f = join(mp, 'prog');
      fs.writeFileSync(f, 'x');
      fs.chmodSync(f, 0o6777);
      expect(asUser(user, `printf y >> ${f}`).code).toBe(0);
      expect(fs.statSync(f).mode & 0o7777).toBe(0o777);
      expect(fs.readFileSync(f, 'utf8')).toBe('xy');
      fs.chmodSync(f, 0o6777);
      expect(asUser(user, `truncate -s 1 ${f}`).code).toBe(0);
      expect(fs.statSync(f).mode & 0o7777).toBe(0o777);
      fs.chmodSync(f, 0o2767); // set-group-ID without group execute is a lock marker: it stays
      expect(asUser(user, `printf z >> ${f}`).code).toBe(0);
      expect(fs.statSync(f).mode & 0o7777).toBe(0o2767);
      fs.chmodSync(f, 0o4755); // root (CAP_FSETID) keeps the bits
      fs.appendFileSync(f, 'w');
      expect(fs.statSync(f).mode & 0o7777).toBe(0o4755);
    } finally {
      s.child.kill('SIGTERM');
      await Promise.race([s.exited, new Promise((r) => setTimeout(r, 3000))]);
      spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  it('mounts through fusermount3 (fd passed back over SCM_RIGHTS), serves, and cleans up after kill -9', async () => {
    const lowerDir = `${user.home}/lower`;
    const mp = `${user.home}/mnt`;
    expect(asUser(user, `mkdir ${lowerDir} ${mp} && echo hello > ${lowerDir}/f`).code).toBe(0);
    const start = () => {
      const c = spawn(
        'setpriv',
        ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', process.execPath, SERVE, 'kernel', 'passthrough', lowerDir, mp],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } },
      );
      let err = '';
      c.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
      });
      const exited = new Promise<number | null>((res) => c.on('exit', (code) => res(code)));
      const ready = new Promise<void>((res, rej) => {
        c.stdout!.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) res();
        });
        void exited.then((code) => rej(new Error(`exited ${code}: ${err}`)));
      });
      return { c, exited, ready };
    };
    let s = start();
    await s.ready;
    const line = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .find((l) => l.includes(` ${mp} `))!;
    expect(line).toContain(`user_id=${user.uid}`);
    const r = asUser(user, `cat ${mp}/f && echo more >> ${mp}/f && stat -c %U ${mp}/f`);
    expect(r.stdout).toBe(`hello\n${user.name}\n`);
    // root, not the owner, is kept out (no allow_other)
    expect(errCode(() => fs.readFileSync(`${mp}/f`))).toBe('EACCES');
    s.c.kill('SIGKILL');
    await s.exited;
    expect(asUser(user, `stat ${mp} 2>&1`).stdout).toContain('Transport endpoint is not connected');
    expect(asUser(user, `fusermount3 -u -z ${mp}`).code).toBe(0);
    s = start();
    await s.ready;
    expect(asUser(user, `cat ${mp}/f`).stdout).toBe('hello\nmore\n');
    expect(asUser(user, `fusermount3 -u ${mp}`).code).toBe(0);
    expect(await s.exited).toBe(0);
  });
});

describe.skipIf(skipUnless('root', 'fuse', 'kernel FUSE bridge tests'))('what the kernel keeps: pages across opens, directories opened alone', () => {
  /** Serves a fresh volume, runs `work` on it, unmounts; returns the requests answered, by opcode. */
  async function counted(work: (mnt: string) => void): Promise<Record<string, number>> {
    const dir = fs.mkdtempSync('/tmp/hc-keep-cache-');
    const mnt = join(dir, 'mnt');
    fs.mkdirSync(mnt);
    try {
      const s = await serve('homecrypt', join(dir, 'lower'), mnt, { HOMECRYPT_BRIDGE_STATS: '1' });
      try {
        work(mnt);
      } finally {
        execFileSync('umount', [mnt]);
      }
      expect(await s.exited).toBe(0);
      return JSON.parse(s.stderr().trim().split('\n').pop()!) as Record<string, number>;
    } finally {
      spawnSync('umount', ['-l', mnt], { stdio: 'ignore' });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  it("an unchanged file opened again is read from the kernel's pages, a changed one from the filesystem", async () => {
    const data = Buffer.alloc(100_000, 'k');
    const unchanged = await counted((mnt) => {
      fs.writeFileSync(join(mnt, 'f'), data);
      for (let i = 0; i < 8; i++) expect(fs.readFileSync(join(mnt, 'f')).equals(data)).toBe(true);
    });
    // without FOPEN_KEEP_CACHE each of the 8 opens reads (one READ or more each); with it
    // only the first after the (direct) writer does, or the first two where the writer's
    // RELEASE (sent in the background, which empties the write record's slot and so moves
    // the lower ctime) is answered after the first reader's OPEN
    expect(unchanged.read).toBeLessThanOrEqual(4);
    const changed = await counted((mnt) => {
      const p = join(mnt, 'f');
      fs.writeFileSync(p, data);
      for (let i = 0; i < 4; i++) {
        const fd = fs.openSync(p, 'r+'); // a cached writer: its write moves mtime and ctime
        fs.writeSync(fd, Buffer.of(0x30 + i), 0, 1, 50_000);
        fs.closeSync(fd);
        const back = fs.readFileSync(p);
        expect(back[50_000]).toBe(0x30 + i);
        expect(back.length).toBe(data.length);
      }
    });
    expect(changed.read).toBeGreaterThanOrEqual(4);
  });

  it('opens directories without asking (one OPENDIR, answered ENOSYS; no RELEASEDIR), and two interleaved readers of a 3,000-name directory each get every name once', async () => {
    const names = Array.from({ length: 3000 }, (_, i) => `entry-${i}-${'x'.repeat(40)}`);
    const counts = await counted((mnt) => {
      const d = join(mnt, 'big');
      fs.mkdirSync(d);
      for (const n of names) fs.writeFileSync(join(d, n), '');
      fs.mkdirSync(join(mnt, 'sub'));
      for (let i = 0; i < 20; i++) expect(fs.readdirSync(join(mnt, 'sub'))).toEqual([]);
      // two opens of the same directory read a few entries at a time, in turn
      // (the listing takes many READDIRs; the second starts after the first)
      const a = fs.opendirSync(d, { bufferSize: 7 });
      const seenA: string[] = [];
      for (let i = 0; i < 100; i++) seenA.push(a.readSync()!.name);
      const b = fs.opendirSync(d, { bufferSize: 5 });
      const seenB: string[] = [];
      for (let e = a.readSync(), f = b.readSync(); e || f; e = a.readSync(), f = b.readSync()) {
        if (e) seenA.push(e.name);
        if (f) seenB.push(f.name);
      }
      a.closeSync();
      b.closeSync();
      for (const seen of [seenA, seenB]) {
        expect(seen.length).toBe(names.length);
        expect(new Set(seen)).toEqual(new Set(names));
      }
    });
    expect(counts.opendir ?? 0).toBeLessThanOrEqual(1);
    expect(counts.releasedir ?? 0).toBe(0);
    expect((counts.readdir ?? 0) + (counts.readdirplus ?? 0)).toBeGreaterThan(2);
  });
});
