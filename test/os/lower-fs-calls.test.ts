// The lower calls hand the kernel a name's bytes: a name that is not UTF-8
// (each such byte a lone surrogate, format/name-bytes.ts) is created, found,
// renamed, linked and listed as those very bytes, and what comes back from the
// kernel (getdents64, readlink, listxattr) comes back in the same form.
// Checked against Node's byte-path calls, which pass Buffers through untouched.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  AT_FDCWD,
  O_PATH,
  faccessatSync,
  getxattratSync,
  lgetxattrSync,
  linkatSync,
  llistxattrSync,
  lsetxattrSync,
  lstatatSync,
  mkdiratSync,
  openatSync,
  preadCachedSync,
  readdiratSync,
  readlinkatSync,
  renameat2Sync,
  renameatSync,
  symlinkatSync,
  unlinkatSync,
} from '../../src/os/lower-fs-calls.js';
import { bytesOfName, nameFromBytes } from '../../src/format/name-bytes.js';

const DIST_CALLS = fileURLToPath(new URL('../../dist/os/lower-fs-calls.js', import.meta.url));
const SECCOMP_DENY = fileURLToPath(new URL('../helpers/seccomp-deny.py', import.meta.url));
const [SYS_GETXATTRAT, SYS_LGETXATTR] = [464, 192]; // x86_64

const BYTES = [Buffer.of(0xff), Buffer.of(0x61, 0x80, 0x62), Buffer.of(0xc3), Buffer.from([0x63, 0xc3, 0xa9, 0xe9]), Buffer.of(0xed, 0xa0, 0x80)];
const NAMES = BYTES.map(nameFromBytes);

let dir: string;
let dirFd: number;
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'homecrypt-lower-calls-'));
  dirFd = fs.openSync(dir, O_PATH | fs.constants.O_DIRECTORY);
});
afterEach(() => {
  fs.closeSync(dirFd);
  fs.rmSync(dir, { recursive: true, force: true });
});

const inDir = (...names: Buffer[]) => Buffer.concat([Buffer.from(dir), ...names.flatMap((n) => [Buffer.from('/'), n])]);
const listedBytes = (p: Buffer) => (fs.readdirSync(p, { encoding: 'buffer' }) as Buffer[]).map((n) => n.toString('hex')).sort();

describe('lower calls with names that are not UTF-8', () => {
  it('the test names are such names (each carries a lone surrogate)', () => {
    for (const n of NAMES) expect(n).toMatch(/[\udc80-\udcff]/);
    for (let i = 0; i < NAMES.length; i++) expect(bytesOfName(NAMES[i]!).equals(BYTES[i]!)).toBe(true);
  });

  it('create, stat, access and list the very bytes', () => {
    for (const n of NAMES) fs.closeSync(openatSync(dirFd, n, fs.constants.O_CREAT | fs.constants.O_WRONLY, 0o600));
    mkdiratSync(dirFd, `sub${NAMES[0]}`, 0o700);
    const expected = [...BYTES, Buffer.concat([Buffer.from('sub'), BYTES[0]!])].map((b) => b.toString('hex')).sort();
    expect(listedBytes(Buffer.from(dir))).toEqual(expected);
    const got = readdiratSync(AT_FDCWD, dir)
      .map((e) => e.name)
      .filter((b) => b.toString() !== '.' && b.toString() !== '..');
    expect(got.map((b) => b.toString('hex')).sort()).toEqual(expected);
    // each entry's inode number and type are the entry's own (the directory's listing, as ls -i gives them)
    for (const e of readdiratSync(AT_FDCWD, dir)) {
      const st = fs.lstatSync(inDir(e.name), { bigint: true });
      expect([e.ino, e.type]).toEqual([Number(st.ino), st.isDirectory() ? 4 : 8]);
    }
    for (let i = 0; i < NAMES.length; i++) {
      expect(lstatatSync(dirFd, NAMES[i]!).ino).toBe(fs.lstatSync(inDir(BYTES[i]!)).ino);
      faccessatSync(dirFd, NAMES[i]!, fs.constants.F_OK);
    }
    // the same name with U+FFFD where the bytes were (what a UTF-8 conversion would pass) is not there
    expect(() => lstatatSync(dirFd, BYTES[0]!.toString('utf8'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('rename, renameat2, link, unlink by those bytes', () => {
    fs.writeFileSync(inDir(BYTES[0]!), 'a');
    renameatSync(dirFd, NAMES[0]!, dirFd, NAMES[1]!);
    linkatSync(dirFd, NAMES[1]!, dirFd, NAMES[2]!);
    expect(fs.lstatSync(inDir(BYTES[2]!)).nlink).toBe(2);
    fs.writeFileSync(inDir(BYTES[3]!), 'b');
    renameat2Sync(dirFd, NAMES[3]!, dirFd, NAMES[2]!, 2); // RENAME_EXCHANGE
    expect(fs.readFileSync(inDir(BYTES[2]!), 'utf8')).toBe('b');
    expect(fs.readFileSync(inDir(BYTES[3]!), 'utf8')).toBe('a');
    unlinkatSync(dirFd, NAMES[1]!);
    unlinkatSync(dirFd, NAMES[2]!);
    unlinkatSync(dirFd, NAMES[3]!);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('symlink targets go down and come back byte-exact', () => {
    const target = nameFromBytes(Buffer.concat([Buffer.from('../x/'), BYTES[3]!, Buffer.from('/'), BYTES[4]!]));
    symlinkatSync(target, dirFd, NAMES[0]!);
    expect((fs.readlinkSync(inDir(BYTES[0]!), { encoding: 'buffer' }) as Buffer).equals(bytesOfName(target))).toBe(true);
    expect(readlinkatSync(dirFd, NAMES[0]!)).toBe(target);
  });

  it('xattrs of such a file, under such names, by path', () => {
    fs.writeFileSync(inDir(BYTES[1]!), '');
    const path = nameFromBytes(inDir(BYTES[1]!));
    const odd = `user.${NAMES[0]}`;
    lsetxattrSync(path, odd, Buffer.from('v'), 0);
    lsetxattrSync(path, 'user.plain', Buffer.from('w'), 0);
    expect(lgetxattrSync(path, odd).toString()).toBe('v');
    expect(llistxattrSync(path).sort()).toEqual([odd, 'user.plain'].sort());
    // the kernel has the name's bytes: Python lists them
    const script = "import os, sys; print(' '.join(sorted(os.fsencode(n).hex() for n in os.listxattr(bytes.fromhex(sys.argv[1])) if n.startswith('user.'))))";
    const listed = execFileSync('python3', ['-c', script, inDir(BYTES[1]!).toString('hex')], { encoding: 'utf8' });
    expect(listed.trim().split(' ')).toEqual(
      [Buffer.concat([Buffer.from('user.'), BYTES[0]!]), Buffer.from('user.plain')].map((b) => b.toString('hex')).sort(),
    );
  });
});

describe('xattrs by directory descriptor, and reads that do not wait for the device', () => {
  it('getxattrat gives what lgetxattr of the path gives, never through a symlink', () => {
    const name = NAMES[3]!;
    fs.writeFileSync(inDir(BYTES[3]!), '');
    const path = nameFromBytes(inDir(BYTES[3]!));
    lsetxattrSync(path, 'user.small', Buffer.from('v'), 0);
    const big = Buffer.alloc(3000, 0x5a); // more than the first try's room (ext4 keeps up to a block)
    lsetxattrSync(path, 'user.big', big, 0);
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      for (const at of [dirFd, fd]) {
        expect(getxattratSync(at, name, 'user.small').toString()).toBe('v');
        expect(getxattratSync(at, name, 'user.big').equals(big)).toBe(true);
        expect(() => getxattratSync(at, name, 'user.none')).toThrow(expect.objectContaining({ code: 'ENODATA' }));
        expect(() => getxattratSync(at, 'absent', 'user.small')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
      }
      expect(getxattratSync(AT_FDCWD, path, 'user.small').toString()).toBe('v');
      // a symlink to the file is asked about itself, as lgetxattr does
      symlinkatSync(name, dirFd, 'link');
      expect(() => getxattratSync(dirFd, 'link', 'user.small')).toThrow(expect.objectContaining({ code: 'ENODATA' }));
      expect(() => lgetxattrSync(`${dir}/link`, 'user.small')).toThrow(expect.objectContaining({ code: 'ENODATA' }));
    } finally {
      fs.closeSync(fd);
    }
  });

  // A container whose seccomp filter is older than getxattrat(2) answers it EPERM (or ENOSYS):
  // the lower calls then go by the /proc path, in a process that really gets those answers
  it.skipIf(process.arch !== 'x64' || !fs.existsSync(DIST_CALLS))(
    'getxattrat refused by a seccomp filter (EPERM, ENOSYS): the same values by the /proc path; a refused lgetxattr too is an error',
    () => {
      fs.writeFileSync(join(dir, 'f'), '');
      lsetxattrSync(join(dir, 'f'), 'user.v', Buffer.from('value'), 0);
      const child = (errno: number, calls: number[]) => {
        const script = `
          import { openSync } from 'node:fs';
          import { getxattratSync } from ${JSON.stringify(DIST_CALLS)};
          const d = openSync(${JSON.stringify(dir)}, 0o10000000 | 0o200000); // O_PATH | O_DIRECTORY
          const one = () => { try { return getxattratSync(d, 'f', 'user.v').toString(); } catch (e) { return e.code; } };
          console.log(JSON.stringify([one(), one()]));`;
        const out = execFileSync('python3', [SECCOMP_DENY, String(errno), calls.join(','), '--', process.execPath, '--input-type=module', '-e', script], {
          encoding: 'utf8',
        });
        return JSON.parse(out) as string[];
      };
      const { EPERM, ENOSYS } = constants.errno;
      expect(child(EPERM, [SYS_GETXATTRAT])).toEqual(['value', 'value']);
      expect(child(ENOSYS, [SYS_GETXATTRAT])).toEqual(['value', 'value']);
      expect(child(EPERM, [SYS_GETXATTRAT, SYS_LGETXATTR])).toEqual(['EPERM', 'EPERM']);
      // the control: under a filter that refuses nothing, the same child reads the value
      expect(child(EPERM, [])).toEqual(['value', 'value']);
    },
  );

  it('a read of what the page cache does not hold says so (-1), and reads it once it does', () => {
    const file = join(dir, 'f');
    fs.writeFileSync(file, Buffer.alloc(100, 1));
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(256);
      expect(preadCachedSync(fd, buf, 0)).toBe(100); // just written: cached
      fs.fsyncSync(fd);
      // out of the page cache (this file only)
      execFileSync('python3', ['-c', 'import os,sys; fd=os.open(sys.argv[1],os.O_RDONLY); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)', file]);
      expect(preadCachedSync(fd, buf, 0)).toBe(-1);
      expect(fs.readSync(fd, buf, 0, 256, 0)).toBe(100);
      expect(preadCachedSync(fd, buf, 0)).toBe(100);
      expect(buf.subarray(0, 100).equals(Buffer.alloc(100, 1))).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
  });
});
