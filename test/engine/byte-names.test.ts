// Names that are not UTF-8 (Linux names are bytes, issue 15), on a mounted
// volume of each name mode: created, listed, looked up, renamed, linked,
// pointed at by a symlink, given xattrs and removed byte-exact, through the
// kernel and Python's byte listing (not Node's decoding, nor homecrypt's own).
// On a --plaintext-names volume the lower directory holds the very same bytes
// (what `ls`, cp -a, rsync and another machine see); fsck walks them clean.
import { beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { skipUnless } from '../helpers/requirements.js';
import { PASS, hc, mountedVolume, type TestVolume } from './volume-helper.js';

const b = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

const NAMES: Record<string, Buffer> = {
  x80: b([0x80]),
  xff: b([0xff]),
  loneC3: b([0xc3]), // the first byte of a two-byte sequence, alone
  mixed: b('caf', [0xc3, 0xa9], '-', [0xe9], '-ok'), // valid é, then Latin-1 é
  surrogate: b([0xed, 0xa0, 0x80]), // U+D800 encoded: not UTF-8
  long: b('n'.repeat(200), Array(55).fill(0xff)), // 255 bytes
  reservedLookalike: b('homecrypt.conf', [0xff]),
};

/** `dir/name` as bytes. */
const at = (dir: string | Buffer, ...names: Buffer[]) => Buffer.concat([Buffer.from(dir), ...names.flatMap((n) => [Buffer.from('/'), n])]);

/** Python, given byte paths as hex arguments (argv is text): prints what the script prints. */
function py(script: string, ...paths: Buffer[]): string {
  const prelude = 'import os, sys\nP = [bytes.fromhex(a) for a in sys.argv[1:]]\n';
  return execFileSync('python3', ['-c', prelude + script, ...paths.map((p) => p.toString('hex'))], { encoding: 'utf8' });
}

/** The names in `dir` as hex, sorted, read by Python as bytes. */
const listed = (dir: Buffer | string) => py("print(' '.join(sorted(n.hex() for n in os.listdir(P[0]))))", Buffer.from(dir)).trim().split(' ').filter(Boolean);
const hexes = (names: Buffer[]) => names.map((n) => n.toString('hex')).sort();

describe.skipIf(skipUnless('fuse', 'loop', 'names that are not UTF-8 through a mount'))('names that are not UTF-8', () => {
  for (const plaintextNames of [true, false]) {
    describe(plaintextNames ? 'on a --plaintext-names volume' : 'on an encrypted-names volume', () => {
      const vol = mountedVolume({ plaintextNames, loopMiB: 32 });
      let v: TestVolume;
      let m: string;
      beforeAll(() => ({ v, m } = vol));

      it('creates, lists, stats and reads them back byte-exact, a 255-byte one too (256: ENAMETOOLONG)', () => {
        const names = Object.values(NAMES);
        fs.mkdirSync(at(m, b('d')));
        for (const n of names) fs.writeFileSync(at(m, b('d'), n), n);
        expect(listed(at(m, b('d')))).toEqual(hexes(names));
        for (const n of names) {
          expect(fs.statSync(at(m, b('d'), n)).size).toBe(n.length);
          expect(fs.readFileSync(at(m, b('d'), n)).equals(n)).toBe(true);
        }
        // a name that differs only in its bytes is another name
        expect(fs.existsSync(at(m, b('d'), b([0xfe])))).toBe(false);
        const tooLong = b('n'.repeat(200), Array(56).fill(0xff));
        expect(() => fs.writeFileSync(at(m, b('d'), tooLong), '')).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
        if (plaintextNames) {
          // the lower directory holds the same bytes
          expect(listed(at(v.lower, b('d')))).toEqual(hexes(names));
          // and ls shows the same escaped names in both
          const ls = (dir: string) => execFileSync('ls', ['-1', '--quoting-style=escape', dir], { encoding: 'utf8' });
          expect(ls(`${v.lower}/d`)).toBe(ls(`${m}/d`));
          expect(ls(`${m}/d`)).toContain('\\377');
        } else {
          // no lower name holds a plaintext one (the 255-byte name is behind a sidecar)
          const all = py("print(' '.join(n.hex() for _, ds, fs in os.walk(P[0]) for n in ds + fs))", Buffer.from(v.lower)).trim().split(' ');
          expect(all.length).toBeGreaterThan(names.length);
          for (const n of names.filter((n) => n.length > 2)) expect(all.some((h) => Buffer.from(h, 'hex').includes(n))).toBe(false);
        }
      });

      it('renames (across directories, onto another such name), hard-links, unlinks and removes directories', () => {
        const d = at(m, b('r', [0xff]));
        fs.mkdirSync(d);
        fs.mkdirSync(at(d, b([0x80])));
        fs.writeFileSync(at(d, b([0x80]), NAMES.loneC3!), 'one');
        fs.renameSync(at(d, b([0x80]), NAMES.loneC3!), at(d, NAMES.mixed!));
        expect(listed(d)).toEqual(hexes([b([0x80]), NAMES.mixed!]));
        expect(listed(at(d, b([0x80])))).toEqual([]);
        fs.writeFileSync(at(d, NAMES.long!), 'two');
        fs.renameSync(at(d, NAMES.long!), at(d, NAMES.mixed!)); // replaces it
        expect(fs.readFileSync(at(d, NAMES.mixed!), 'utf8')).toBe('two');
        fs.linkSync(at(d, NAMES.mixed!), at(d, b([0x80]), NAMES.surrogate!));
        expect(fs.statSync(at(d, NAMES.mixed!)).nlink).toBe(2);
        expect(fs.statSync(at(d, b([0x80]), NAMES.surrogate!)).ino).toBe(fs.statSync(at(d, NAMES.mixed!)).ino);
        // a directory renamed keeps what is below it reachable by its bytes
        fs.renameSync(at(d, b([0x80])), at(d, NAMES.xff!));
        expect(fs.readFileSync(at(d, NAMES.xff!, NAMES.surrogate!), 'utf8')).toBe('two');
        if (plaintextNames) expect(listed(at(v.lower, b('r', [0xff]), NAMES.xff!))).toEqual(hexes([NAMES.surrogate!]));
        fs.unlinkSync(at(d, NAMES.mixed!));
        expect(fs.statSync(at(d, NAMES.xff!, NAMES.surrogate!)).nlink).toBe(1);
        fs.unlinkSync(at(d, NAMES.xff!, NAMES.surrogate!));
        fs.rmdirSync(at(d, NAMES.xff!));
        expect(listed(d)).toEqual([]);
        if (plaintextNames) expect(listed(at(v.lower, b('r', [0xff])))).toEqual([]);
        fs.rmdirSync(d);
      });

      it('keeps a symlink target that is not UTF-8, and xattrs (with such names too) of such a file', () => {
        const d = at(m, b('s'));
        fs.mkdirSync(d);
        const target = at('..', b('d'), NAMES.mixed!);
        fs.symlinkSync(target, at(d, NAMES.x80!));
        expect((fs.readlinkSync(at(d, NAMES.x80!), { encoding: 'buffer' }) as Buffer).equals(target)).toBe(true);
        expect(fs.lstatSync(at(d, NAMES.x80!)).size).toBe(target.length);
        expect(fs.readFileSync(at(d, NAMES.x80!)).equals(NAMES.mixed!)).toBe(true); // followed by the kernel
        const f = at(d, NAMES.xff!);
        fs.writeFileSync(f, 'x');
        const out = py(
          `
os.setxattr(P[0], b'user.plain', b'v1', follow_symlinks=False)
os.setxattr(P[0], b'user.\\xff\\x80', b'v2', follow_symlinks=False)
print(sorted(os.fsencode(n).hex() for n in os.listxattr(P[0], follow_symlinks=False) if n.startswith('user.')))
print(os.getxattr(P[0], b'user.\\xff\\x80', follow_symlinks=False).decode())
os.removexattr(P[0], b'user.\\xff\\x80', follow_symlinks=False)
print(sorted(os.fsencode(n).hex() for n in os.listxattr(P[0], follow_symlinks=False) if n.startswith('user.')))
`,
          f,
        );
        const [user, odd] = [b('user.plain').toString('hex'), b('user.', [0xff, 0x80]).toString('hex')];
        expect(out.trim().split('\n')).toEqual([`['${[odd, user].sort().join("', '")}']`, 'v2', `['${user}']`]);
        if (plaintextNames) {
          // the lower file has the xattr under the same name (its value sealed)
          const lowerNames = py(
            "print(' '.join(sorted(os.fsencode(n).hex() for n in os.listxattr(P[0]) if n.startswith('user.'))))",
            at(v.lower, b('s'), NAMES.xff!),
          );
          expect(lowerNames.trim()).toBe(user);
        }
      });

      it('keeps the volume files escaped next to such names', () => {
        fs.writeFileSync(`${m}/homecrypt.conf`, 'mine');
        fs.writeFileSync(at(m, NAMES.reservedLookalike!), 'also mine');
        expect(fs.readFileSync(`${m}/homecrypt.conf`, 'utf8')).toBe('mine');
        expect(fs.readFileSync(at(m, NAMES.reservedLookalike!), 'utf8')).toBe('also mine');
        const top = listed(m).map((h) => Buffer.from(h, 'hex').toString('latin1'));
        expect(top).toContain('homecrypt.conf');
        expect(top).not.toContain('homecrypt.keys');
        if (plaintextNames) {
          const lower = listed(v.lower).map((h) => Buffer.from(h, 'hex'));
          expect(lower.map((n) => n.toString('latin1'))).toEqual(expect.arrayContaining(['homecrypt.conf', 'homecrypt.keys', 'homecrypt.conf~']));
          expect(lower.some((n) => n.equals(NAMES.reservedLookalike!))).toBe(true); // not a volume file: not escaped
        }
      });

      it('lists the same after a remount, and fsck walks them clean', () => {
        v.umount();
        const r = hc(['fsck', v.lower, '--passphrase-fd', '0'], `${PASS}\n`);
        expect(r.stderr).toBe('');
        expect(r.stdout).toMatch(/all authentic/);
        expect(r.code).toBe(0);
        v.mount();
        expect(listed(at(m, b('d')))).toEqual(hexes(Object.values(NAMES)));
        expect(fs.readFileSync(at(m, b('d'), NAMES.long!)).equals(NAMES.long!)).toBe(true);
        expect(v.log()).not.toMatch(/skipping|EIO/);
      });
    });
  }
});
