// Root's descriptor walks meet names that are not UTF-8 (a plaintext-names
// lower directory, an old home): readdirFd gives each in the form the other
// calls take back, so removeTreeAt empties such a tree instead of failing on
// a name that Node's UTF-8 listing would have changed.
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { openDirAt, openDirsAt, openTrustedDir, readdirFd, removeTreeAt, renameAt, withFd } from '../../src/os/dir-fd.js';
import { ErrnoError } from '../../src/os/libc.js';
import { bytesOfName } from '../../src/format/name-bytes.js';

let dir = '';
afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const at = (...names: Buffer[]) => Buffer.concat([Buffer.from(dir), ...names.flatMap((n) => [Buffer.from('/'), n])]);

const openFds = () => fs.readdirSync('/proc/self/fd').length;

describe('openDirsAt, the one descriptor walk', () => {
  it('opens each directory inside the one before, showing each to the check before stepping into it', () => {
    dir = fs.mkdtempSync(join(tmpdir(), 'homecrypt-dir-fd-'));
    fs.mkdirSync(join(dir, 'a/b/c'), { recursive: true });
    const seen: string[] = [];
    const fd = openDirsAt(fs.openSync(dir, 'r'), ['a', 'b', 'c'], dir, (d, at) => {
      expect(fs.fstatSync(d).ino).toBe(fs.statSync(at).ino);
      seen.push(at);
    });
    expect(fs.fstatSync(fd).ino).toBe(fs.statSync(join(dir, 'a/b/c')).ino);
    fs.closeSync(fd);
    expect(seen).toEqual([dir, `${dir}/a`, `${dir}/a/b`]);
  });

  it('refuses a symlink on the way, says where, and leaves no descriptor open', () => {
    dir = fs.mkdtempSync(join(tmpdir(), 'homecrypt-dir-fd-'));
    fs.mkdirSync(join(dir, 'a/real'), { recursive: true });
    fs.symlinkSync('real', join(dir, 'a/b'));
    const before = openFds();
    let err: unknown;
    try {
      openDirsAt(fs.openSync(dir, 'r'), ['a', 'b'], dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ErrnoError);
    expect(['ELOOP', 'ENOTDIR']).toContain((err as ErrnoError).code);
    expect((err as ErrnoError).what).toBe(`${dir}/a/b`);
    expect(openFds()).toBe(before);
    // a check that refuses stops the walk there, closing what it held
    expect(() =>
      openDirsAt(fs.openSync(dir, 'r'), ['a', 'real'], dir, (_d, at) => {
        if (at.endsWith('/a')) throw new Error(`refused ${at}`);
      }),
    ).toThrow(`refused ${dir}/a`);
    expect(openFds()).toBe(before);
  });
});

describe.skipIf(skipUnless('root', 'root-owned directories for openTrustedDir'))('directory-descriptor walks over names that are not UTF-8', () => {
  it('list, rename and remove a tree by those bytes', () => {
    dir = fs.mkdtempSync(join(tmpdir(), 'homecrypt-dir-fd-'));
    const [ff, lone, mixed] = [Buffer.of(0xff), Buffer.of(0xc3), Buffer.from([0x61, 0xc3, 0xa9, 0xe9])];
    fs.mkdirSync(at(ff));
    fs.mkdirSync(at(ff, lone));
    fs.writeFileSync(at(ff, lone, mixed), 'x');
    fs.symlinkSync('/etc', at(ff, Buffer.of(0x80)));
    withFd(openTrustedDir(dir), (fd) => {
      const names = readdirFd(fd);
      expect(names.map((n) => bytesOfName(n).toString('hex'))).toEqual([ff.toString('hex')]);
      withFd(openDirAt(fd, names[0]!), (sub) => {
        expect(
          readdirFd(sub)
            .map((n) => bytesOfName(n).toString('hex'))
            .sort(),
        ).toEqual([Buffer.of(0x80), lone].map((n) => n.toString('hex')).sort());
      });
      renameAt(fd, names[0]!, fd, `${names[0]}${names[0]}`);
      expect((fs.readdirSync(dir, { encoding: 'buffer' }) as Buffer[]).map((n) => n.toString('hex'))).toEqual(['ffff']);
      removeTreeAt(fd, readdirFd(fd)[0]!);
    });
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(fs.existsSync('/etc/passwd')).toBe(true); // the symlink went, not what it names
  });
});
