// Root's descriptor walks meet names that are not UTF-8 (a plaintext-names
// lower directory, an old home): readdirFd gives each in the form the other
// calls take back, so removeTreeAt empties such a tree instead of failing on
// a name that Node's UTF-8 listing would have changed.
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { openDirAt, openTrustedDir, readdirFd, removeTreeAt, renameAt, withFd } from '../../src/os/dir-fd.js';
import { bytesOfName } from '../../src/format/name-bytes.js';

let dir = '';
afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const at = (...names: Buffer[]) => Buffer.concat([Buffer.from(dir), ...names.flatMap((n) => [Buffer.from('/'), n])]);

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
