// POSIX behaviour of a mounted volume, with real errno values, and what the
// lower directory shows (no plaintext names or contents).
import { beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { skipUnless } from '../helpers/requirements.js';
import { asUser, makeVolume, run, mountedVolume, type TestVolume } from './volume-helper.js';
import { lgetxattrSync, llistxattrSync, lremovexattrSync, lsetxattrSync } from '../../src/os/lower-fs-calls.js';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
  return undefined;
};

function lowerFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...lowerFiles(p));
  }
  return out;
}

describe.skipIf(skipUnless('fuse', 'engine POSIX tests'))('a mounted volume', () => {
  const vol = mountedVolume();
  let v: TestVolume;
  let m: string;
  beforeAll(() => ({ v, m } = vol));

  it('stores names and contents encrypted; stat shows plaintext sizes', () => {
    const marker = `MARKER-${randomBytes(8).toString('hex')}`;
    fs.mkdirSync(join(m, 'secret-dir'));
    fs.writeFileSync(join(m, 'secret-dir', 'secret-file.txt'), marker.repeat(100));
    expect(fs.statSync(join(m, 'secret-dir', 'secret-file.txt')).size).toBe(marker.length * 100);
    expect(fs.readdirSync(join(m, 'secret-dir'))).toEqual(['secret-file.txt']);
    const all = lowerFiles(v.lower);
    expect(all.some((p) => p.includes('secret'))).toBe(false);
    for (const p of all) if (fs.statSync(p).isFile()) expect(fs.readFileSync(p).includes(marker)).toBe(false);
    expect(fs.readdirSync(m)).not.toContain('homecrypt.conf');
    expect(fs.readdirSync(m)).not.toContain('homecrypt.keys');
  });

  it('reads and writes at any offset, O_APPEND, truncate up and down, ftruncate', () => {
    const p = join(m, 'rw.bin');
    const model = Buffer.alloc(20000);
    const fd = fs.openSync(p, 'w+');
    for (const [off, len] of [
      [0, 100],
      [5000, 9000],
      [4090, 12],
      [19990, 10],
      [12288, 4096],
    ] as const) {
      const d = randomBytes(len);
      fs.writeSync(fd, d, 0, len, off);
      d.copy(model, off);
    }
    const back = Buffer.alloc(20000);
    expect(fs.readSync(fd, back, 0, 20000, 0)).toBe(20000);
    expect(back.equals(model)).toBe(true);
    fs.ftruncateSync(fd, 7000);
    expect(fs.fstatSync(fd).size).toBe(7000);
    fs.ftruncateSync(fd, 30000);
    const grown = fs.readFileSync(p);
    expect(grown.subarray(0, 7000).equals(model.subarray(0, 7000))).toBe(true);
    expect(grown.subarray(7000).equals(Buffer.alloc(23000))).toBe(true);
    fs.closeSync(fd);
    fs.truncateSync(p, 5);
    expect(fs.readFileSync(p).equals(model.subarray(0, 5))).toBe(true);
    fs.appendFileSync(p, 'abc');
    fs.appendFileSync(p, 'def');
    expect(fs.readFileSync(p).subarray(5).toString()).toBe('abcdef');
    // a write far past the end leaves zeros (authenticated, not a hole)
    const fd2 = fs.openSync(p, 'r+');
    fs.writeSync(fd2, Buffer.from('Z'), 0, 1, 3 * 1024 * 1024);
    fs.closeSync(fd2);
    const big = fs.readFileSync(p);
    expect(big.length).toBe(3 * 1024 * 1024 + 1);
    expect(big.subarray(11, 3 * 1024 * 1024).equals(Buffer.alloc(3 * 1024 * 1024 - 11))).toBe(true);
  });

  it('touch -m keeps the atime exactly as the lower file has it, to the nanosecond, and touch -a the mtime (UTIME_OMIT reaches the lower file)', () => {
    const before = new Set(lowerFiles(v.lower));
    const p = join(m, 'times');
    fs.writeFileSync(p, 'x');
    const lower = lowerFiles(v.lower).filter((f) => !before.has(f) && fs.statSync(f).isFile());
    expect(lower).toHaveLength(1);
    const sh = (cmd: string, at: string, ...args: string[]) => spawnSync(cmd, [...args, at], { encoding: 'utf8' });
    const times = (at: string) => sh('stat', at, '-c', '%x|%y').stdout.trim().split('|');
    // times the mount cannot set itself (it carries microseconds), so a time read and set again would show
    expect(sh('touch', lower[0]!, '-a', '-d', '2001-02-03 04:05:06.123456789').status).toBe(0);
    expect(sh('touch', p, '-m', '-d', '2002-03-04 05:06:07.5').status).toBe(0);
    expect(times(lower[0]!)[0]).toMatch(/^2001-02-03 04:05:06\.123456789 /);
    expect(times(p)[1]).toMatch(/^2002-03-04 05:06:07\.500000000 /);
    expect(sh('touch', lower[0]!, '-m', '-d', '2002-03-04 05:06:07.987654321').status).toBe(0);
    expect(sh('touch', p, '-a', '-d', '2003-01-01 00:00:00.25').status).toBe(0);
    expect(times(lower[0]!)[1]).toMatch(/^2002-03-04 05:06:07\.987654321 /);
    expect(times(p)[0]).toMatch(/^2003-01-01 00:00:00\.250000000 /);
  });

  it('renameat2: RENAME_EXCHANGE swaps two entries (long names too), RENAME_NOREPLACE refuses an existing name', async () => {
    const long = 'L'.repeat(240);
    fs.mkdirSync(join(m, 'x'));
    fs.writeFileSync(join(m, 'x', 'a'), 'file a');
    fs.mkdirSync(join(m, long));
    fs.writeFileSync(join(m, long, 'inside'), 'in dir');
    const rn = (from: string, to: string, flags: number) =>
      run('python3', [
        '-c',
        `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), int(sys.argv[3]))
print(0 if r == 0 else os.strerror(ctypes.get_errno()))`,
        from,
        to,
        String(flags),
      ]);
    expect((await rn(join(m, 'x', 'a'), join(m, long), 2)).stdout.trim()).toBe('0');
    expect(fs.readFileSync(join(m, long), 'utf8')).toBe('file a');
    expect(fs.readFileSync(join(m, 'x', 'a', 'inside'), 'utf8')).toBe('in dir');
    expect(fs.readdirSync(m)).toContain(long);
    expect((await rn(join(m, 'x', 'a'), join(m, long), 1)).stdout.trim()).toBe('File exists');
    expect((await rn(join(m, long), join(m, 'x', 'b'), 1)).stdout.trim()).toBe('0');
    expect(fs.readFileSync(join(m, 'x', 'b'), 'utf8')).toBe('file a');
    expect((await rn(join(m, 'x', 'b'), join(m, 'x', 'nothing'), 2)).stdout.trim()).toBe('No such file or directory');
    fs.rmSync(join(m, 'x'), { recursive: true });
  });

  it('rename over an existing entry and across directories', () => {
    fs.mkdirSync(join(m, 'r1'));
    fs.mkdirSync(join(m, 'r2'));
    fs.writeFileSync(join(m, 'r1', 'a'), 'A');
    fs.writeFileSync(join(m, 'r2', 'b'), 'B');
    fs.renameSync(join(m, 'r1', 'a'), join(m, 'r2', 'b'));
    expect(fs.readFileSync(join(m, 'r2', 'b'), 'utf8')).toBe('A');
    expect(fs.readdirSync(join(m, 'r1'))).toEqual([]);
    fs.renameSync(join(m, 'r2'), join(m, 'r1', 'moved'));
    expect(fs.readFileSync(join(m, 'r1', 'moved', 'b'), 'utf8')).toBe('A');
    fs.mkdirSync(join(m, 'r3'));
    fs.writeFileSync(join(m, 'r3', 'x'), 'x');
    expect(code(() => fs.renameSync(join(m, 'r1'), join(m, 'r3')))).toBe('ENOTEMPTY');
  });

  it('hard links share content and link count; unlink keeps the other', () => {
    fs.writeFileSync(join(m, 'h1'), 'shared');
    fs.linkSync(join(m, 'h1'), join(m, 'h2'));
    fs.appendFileSync(join(m, 'h2'), '+more');
    expect(fs.readFileSync(join(m, 'h1'), 'utf8')).toBe('shared+more');
    expect(fs.statSync(join(m, 'h2')).ino).toBe(fs.statSync(join(m, 'h1')).ino);
    fs.unlinkSync(join(m, 'h1'));
    expect(fs.readFileSync(join(m, 'h2'), 'utf8')).toBe('shared+more');
    expect(fs.statSync(join(m, 'h2')).nlink).toBe(1);
  });

  it('an open file stays readable and writable after unlink', () => {
    const p = join(m, 'ghost');
    fs.writeFileSync(p, 'still here');
    const fd = fs.openSync(p, 'r+');
    fs.unlinkSync(p);
    expect(code(() => fs.statSync(p))).toBe('ENOENT');
    fs.writeSync(fd, Buffer.from('STILL'), 0, 5, 0);
    const b = Buffer.alloc(10);
    fs.readSync(fd, b, 0, 10, 0);
    expect(b.toString()).toBe('STILL here');
    expect(fs.fstatSync(fd).size).toBe(10);
    fs.closeSync(fd);
  });

  it('mkdir/rmdir, symlinks, fifos, chmod/chown/utimes, statfs, fsync', async () => {
    fs.mkdirSync(join(m, 'd'), 0o750);
    expect(fs.statSync(join(m, 'd')).mode & 0o777).toBe(0o750);
    fs.symlinkSync('../target/name.txt', join(m, 'd', 'link'));
    expect(fs.readlinkSync(join(m, 'd', 'link'))).toBe('../target/name.txt');
    expect(fs.lstatSync(join(m, 'd', 'link')).size).toBe('../target/name.txt'.length);
    const lowerLinks = lowerFiles(v.lower).filter((p) => fs.lstatSync(p).isSymbolicLink());
    expect(lowerLinks.length).toBe(1);
    expect(fs.readlinkSync(lowerLinks[0]!)).not.toContain('target');
    expect((await run('mkfifo', [join(m, 'd', 'fifo')])).code).toBe(0);
    expect(fs.statSync(join(m, 'd', 'fifo')).isFIFO()).toBe(true);
    expect(code(() => fs.rmdirSync(join(m, 'd')))).toBe('ENOTEMPTY');
    fs.writeFileSync(join(m, 'd', 'f'), 'x');
    fs.chmodSync(join(m, 'd', 'f'), 0o604);
    expect(fs.statSync(join(m, 'd', 'f')).mode & 0o777).toBe(0o604);
    fs.chownSync(join(m, 'd', 'f'), 1234, 5678);
    expect(fs.statSync(join(m, 'd', 'f')).uid).toBe(1234);
    fs.utimesSync(join(m, 'd', 'f'), 1_000_000_000, 1_200_000_000);
    const st = fs.statSync(join(m, 'd', 'f'));
    expect(st.atimeMs).toBe(1_000_000_000_000);
    expect(st.mtimeMs).toBe(1_200_000_000_000);
    const sfs = fs.statfsSync(m);
    expect(sfs.blocks).toBeGreaterThan(0);
    const fd = fs.openSync(join(m, 'd', 'f'), 'r+');
    fs.fsyncSync(fd);
    fs.fdatasyncSync(fd);
    fs.closeSync(fd);
    for (const n of ['link', 'fifo', 'f']) fs.unlinkSync(join(m, 'd', n));
    fs.rmdirSync(join(m, 'd'));
    expect(fs.existsSync(join(m, 'd'))).toBe(false);
  });

  it('keeps times before 1970 and past 2038 (signed 64-bit seconds)', async () => {
    const p = join(m, 'old');
    fs.writeFileSync(p, '');
    for (const [arg, want] of [
      ['1960-01-01 00:00:00Z', '-315619200'],
      ['@-1', '-1'],
      ['@4294967297', '4294967297'],
    ] as const) {
      const t = await run('touch', ['-d', arg, p]);
      expect(t.stderr).toBe('');
      expect((await run('stat', ['-c', '%X %Y', p])).stdout.trim()).toBe(`${want} ${want}`);
    }
    fs.unlinkSync(p);
  });

  it('stores and lists names that are not UTF-8 byte-exact (symlink targets too)', () => {
    const d = join(m, 'bytes');
    fs.mkdirSync(d);
    const names = [Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe]), Buffer.from([0xc3, 0x28]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('ok-ü')];
    for (const n of names) fs.writeFileSync(Buffer.concat([Buffer.from(`${d}/`), n]), n);
    const listed = (fs.readdirSync(d, { encoding: 'buffer' }) as Buffer[]).map((b) => b.toString('hex')).sort();
    expect(listed).toEqual(names.map((b) => b.toString('hex')).sort());
    for (const n of names) expect(fs.readFileSync(Buffer.concat([Buffer.from(`${d}/`), n])).equals(n)).toBe(true);
    const link = Buffer.from(`${d}/link`);
    fs.symlinkSync(names[0]!, link);
    expect((fs.readlinkSync(link, { encoding: 'buffer' }) as Buffer).equals(names[0]!)).toBe(true);
    expect(fs.lstatSync(link).size).toBe(names[0]!.length);
    fs.rmSync(d, { recursive: true });
  });

  it('gives the right d_ino from every directory offset (seekdir, lseek)', async () => {
    const d = join(m, 'many');
    fs.mkdirSync(d);
    for (let i = 0; i < 200; i++) fs.writeFileSync(join(d, `entry-with-a-longer-name-${i}`), '');
    // a second directory stream resumes at a position the first one saved
    const script = `
import ctypes, os, sys
libc = ctypes.CDLL(None)
libc.opendir.restype = ctypes.c_void_p; libc.readdir.restype = ctypes.c_void_p; libc.telldir.restype = ctypes.c_long
libc.readdir.argtypes = [ctypes.c_void_p]; libc.telldir.argtypes = [ctypes.c_void_p]
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
os.chdir(sys.argv[1])
d = libc.opendir(b'.')
for i in range(100): libc.readdir(d)
d2 = libc.opendir(b'.'); libc.seekdir(d2, libc.telldir(d))
seen = wrong = 0
while True:
    p = libc.readdir(d2)
    if not p: break
    name = ctypes.string_at(p + 19)
    seen += 1
    if ctypes.c_uint64.from_address(p).value != os.lstat(name).st_ino: wrong += 1
print(seen, wrong)
`;
    const r = await run('python3', ['-c', script, d]);
    expect(r.stderr).toBe('');
    const [seen, wrong] = r.stdout.trim().split(' ').map(Number);
    expect(seen).toBeGreaterThan(90);
    expect(wrong).toBe(0);
    fs.rmSync(d, { recursive: true });
  });

  it('user xattrs with encrypted values; other namespaces refused', () => {
    const p = join(m, 'xa');
    fs.writeFileSync(p, '');
    lsetxattrSync(p, 'user.colour', Buffer.from('blue'), 0);
    expect(lgetxattrSync(p, 'user.colour').toString()).toBe('blue');
    expect(llistxattrSync(p)).toContain('user.colour');
    const lower = lowerFiles(v.lower).filter((f) => llistxattrSync(f).length > 0);
    expect(lower.length).toBe(1);
    const names = llistxattrSync(lower[0]!);
    expect(names.some((n) => n.includes('colour'))).toBe(false);
    expect(lgetxattrSync(lower[0]!, names[0]!).includes(Buffer.from('blue'))).toBe(false);
    lremovexattrSync(p, 'user.colour');
    expect(code(() => lgetxattrSync(p, 'user.colour'))).toBe('ENODATA');
    // (trusted.* is stored for root: test/engine/acl.test.ts)
    expect(code(() => lsetxattrSync(p, 'security.homecrypt', Buffer.from('1'), 0))).toBe('EOPNOTSUPP');
    // and read as unsupported too, as `ls -l` needs to stop asking for security.selinux
    expect(code(() => lgetxattrSync(p, 'security.selinux'))).toBe('EOPNOTSUPP');
    expect(code(() => lgetxattrSync(p, 'system.nfs4_acl'))).toBe('EOPNOTSUPP');
    // ACLs are stored: none is ENODATA
    expect(code(() => lgetxattrSync(p, 'system.posix_acl_access'))).toBe('ENODATA');
  });

  it('full 255-byte names, long names in the lower dir, ENAMETOOLONG past 255', () => {
    const long = 'n'.repeat(255);
    const uni = 'ü'.repeat(127); // 254 bytes
    fs.writeFileSync(join(m, long), 'long');
    fs.mkdirSync(join(m, uni));
    fs.writeFileSync(join(m, uni, long), 'nested');
    expect(fs.readdirSync(m)).toEqual(expect.arrayContaining([long, uni]));
    expect(fs.readFileSync(join(m, uni, long), 'utf8')).toBe('nested');
    fs.renameSync(join(m, long), join(m, uni, 'short'));
    expect(fs.readFileSync(join(m, uni, 'short'), 'utf8')).toBe('long');
    expect(code(() => fs.writeFileSync(join(m, 'x'.repeat(256)), ''))).toBe('ENAMETOOLONG');
    fs.rmSync(join(m, uni), { recursive: true });
    expect(lowerFiles(v.lower).filter((p) => p.includes('~'))).toEqual([]); // sidecars went with their entries
  });

  it('paths near PATH_MAX of 127-byte names work as on ext4, though each lower path is far longer', () => {
    // as pjdfstest */03.t: a path of PATH_MAX-1 bytes from the mount point
    const n127 = (c: string) => c.repeat(127);
    const base = join(m, 'deep');
    fs.mkdirSync(base);
    let dir = base;
    while (dir.length + 128 + 128 <= 4095) {
      dir = join(dir, n127('d'));
      fs.mkdirSync(dir, 0o755);
    }
    const last = 'f'.repeat(4095 - dir.length - 1); // 127 to 254 bytes
    const file = join(dir, last);
    expect(file.length).toBe(4095);
    fs.writeFileSync(file, 'at the bottom');
    expect(fs.readFileSync(file, 'utf8')).toBe('at the bottom');
    fs.chmodSync(file, 0o600);
    fs.chownSync(file, process.getuid!(), process.getgid!());
    fs.truncateSync(file, 2);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(file).size).toBe(2);
    fs.utimesSync(file, 1000, 2000);
    expect(fs.statSync(file).mtimeMs).toBe(2_000_000);
    const other = join(dir, last.slice(1) + 'g');
    fs.linkSync(file, other);
    expect(fs.statSync(file).nlink).toBe(2);
    fs.unlinkSync(other);
    fs.renameSync(file, other);
    fs.symlinkSync('target', file);
    expect(fs.readlinkSync(file)).toBe('target');
    fs.unlinkSync(file);
    expect(spawnSync('mkfifo', [file]).status).toBe(0);
    expect(fs.lstatSync(file).isFIFO()).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual([last, last.slice(1) + 'g'].sort());
    fs.unlinkSync(file);
    fs.unlinkSync(other);
    fs.mkdirSync(file);
    fs.rmdirSync(file);
    // one byte more is the kernel's ENAMETOOLONG, as on ext4
    expect(code(() => fs.mkdirSync(`${file}x`))).toBe('ENAMETOOLONG');
    // the lower tree under it is deeper than PATH_MAX (find names entries relative to directories)
    const longest = Math.max(
      ...spawnSync('find', [v.lower], { encoding: 'utf8', maxBuffer: 64 << 20 })
        .stdout.split('\n')
        .map((l) => l.length),
    );
    expect(longest).toBeGreaterThan(4096);
    fs.rmSync(base, { recursive: true }); // Node removes by path: through deep names too
    expect(fs.existsSync(base)).toBe(false);
  });

  it('answers the right errno', async () => {
    expect(code(() => fs.readFileSync(join(m, 'nope')))).toBe('ENOENT');
    fs.mkdirSync(join(m, 'e'));
    expect(code(() => fs.mkdirSync(join(m, 'e')))).toBe('EEXIST');
    fs.writeFileSync(join(m, 'e', 'f'), '1');
    expect(code(() => fs.openSync(join(m, 'e', 'f'), 'wx'))).toBe('EEXIST');
    expect(code(() => fs.rmdirSync(join(m, 'e')))).toBe('ENOTEMPTY');
    expect(code(() => fs.readdirSync(join(m, 'e', 'f')))).toBe('ENOTDIR');
    expect(code(() => fs.writeFileSync(join(m, 'e'), 'x'))).toBe('EISDIR');
    expect(code(() => fs.unlinkSync(join(m, 'e')))).toMatch(/EISDIR|EPERM/);
    expect(code(() => fs.renameSync(join(m, 'e', 'f'), join(v.dir, 'outside')))).toBe('EXDEV');
    // fallocate's modes the format has work (test/engine/sparse.test.ts); the others are EOPNOTSUPP
    const fz = await run('fallocate', ['-z', '-l', '1M', join(m, 'e', 'f')]);
    expect(fz.code).not.toBe(0);
    expect(fz.stderr).toMatch(/not supported/i);
    const fa = await run('fallocate', ['-l', '1M', join(m, 'e', 'f')]);
    expect(fa.code).toBe(0);
    expect(fs.statSync(join(m, 'e', 'f')).size).toBe(1 << 20);
    fs.rmSync(join(m, 'e'), { recursive: true });
  });
});

// What ext4 does for a user other than the daemon's: the daemon runs as root
// on an --allow-other mount and acts for each caller.
describe.skipIf(skipUnless('fuse', 'root', 'engine tests with other users'))('an --allow-other mount used by another user', () => {
  const vol = mountedVolume({ allowOther: true }, (w) => fs.chmodSync(w.mnt, 0o777));
  let m: string;
  const NOBODY = 65534;
  const as = (script: string) => asUser(NOBODY, NOBODY, script, m);
  beforeAll(() => ({ m } = vol));

  it('gives what the user creates to the user, with the mode asked for', () => {
    const r = as(
      'mkdir -m 777 d && touch f && mkfifo -m 606 q && ln -s f l && mkdir -m 1777 t && stat -c "%u:%g %a %n" d f q t && stat -c "%u:%g %n" l && echo own > d/x',
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual([
      `${NOBODY}:${NOBODY} 777 d`,
      `${NOBODY}:${NOBODY} 666 f`,
      `${NOBODY}:${NOBODY} 606 q`,
      `${NOBODY}:${NOBODY} 1777 t`,
      `${NOBODY}:${NOBODY} l`,
    ]);
    // the user may then do what an owner does
    expect(as('chmod 600 f && chmod 700 d && touch -d @1000 f && stat -c "%a %Y" f').stdout.trim()).toBe('600 1000');
  });

  it('a set-group-ID directory passes its group (and to subdirectories its set-group-ID bit)', () => {
    fs.mkdirSync(join(m, 'sg'));
    fs.chownSync(join(m, 'sg'), 0, 100);
    fs.chmodSync(join(m, 'sg'), 0o2777);
    const r = as('mkdir sg/d && touch sg/f && ln -s f sg/l && stat -c "%u:%g %A %n" sg/d sg/f && stat -c "%u:%g %n" sg/l');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual([`${NOBODY}:100 drwxrwsrwx sg/d`, `${NOBODY}:100 -rw-rw-rw- sg/f`, `${NOBODY}:100 sg/l`]);
  });

  it("a non-owner's write clears set-user-ID and set-group-ID, and stat shows it at once", () => {
    const p = join(m, 'suid');
    fs.writeFileSync(p, '');
    fs.chmodSync(p, 0o6777);
    expect(fs.statSync(p).mode & 0o7777).toBe(0o6777); // cached by the kernel now
    expect(as('echo x >> suid && stat -c %a suid').stdout.trim()).toBe('777');
    expect(fs.statSync(p).mode & 0o7777).toBe(0o777);
  });
});

// On a relatime lower filesystem a read of a symlink moves its atime when it
// is older than its mtime. pjdfstest utimensat/05 sets exactly such times on
// a symlink and then lstats it: getattr must not read the link.
describe.skipIf(skipUnless('fuse', 'root', 'loop', 'symlink atimes on a relatime lower filesystem'))('a symlink over a relatime lower filesystem', () => {
  it("lstat (lookup and getattr of a fresh mount) leaves the link's atime alone and still shows the target's length", () => {
    const v = makeVolume({ loopMiB: 16 });
    try {
      v.mount();
      const l = join(v.mnt, 'link');
      const target = 'some/where/ü-\u00e9';
      fs.symlinkSync(target, l);
      fs.lutimesSync(l, 1_960_000_000, 1_970_000_000); // atime before mtime
      const lower = fs
        .readdirSync(v.lower)
        .map((n) => join(v.lower, n))
        .filter((p) => fs.lstatSync(p).isSymbolicLink());
      expect(lower).toHaveLength(1);
      // nothing cached in the kernel: lstat goes to the engine
      v.umount();
      v.mount();
      const st = fs.lstatSync(l);
      expect(st.size).toBe(Buffer.byteLength(target));
      expect(st.atimeMs).toBe(1_960_000_000_000);
      expect(st.mtimeMs).toBe(1_970_000_000_000);
      expect(fs.lstatSync(lower[0]!).atimeMs).toBe(1_960_000_000_000);
      // the lower filesystem does move the atime on a read of the link (so the lines above could fail)
      expect(fs.readlinkSync(l)).toBe(target);
      expect(fs.lstatSync(lower[0]!).atimeMs).not.toBe(1_960_000_000_000);
      v.umount();
    } finally {
      v.cleanup();
    }
  });
});
