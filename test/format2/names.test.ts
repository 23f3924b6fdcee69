// Format 2 names through the mount (docs/FORMAT-FILES.md, "Format 2: names"):
// bound to their directory by its IV file, renaming a directory touches
// nothing below it, and the IV files travel with cp -a, rsync -a and tar.
// The lower dir sits on a small loop-mounted ext4.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { skipUnless } from '../helpers/requirements.js';
import { hc, makeVolume, PASS, type TestVolume } from '../engine/volume-helper.js';
import { errnoOf, fsck, lowerOf, snapshot } from './lower-tree.js';

const DIRIV = 'homecrypt.diriv';
/** Several CLI runs (mount, fsck) each: a loaded machine needs minutes. */
const SLOW = 400_000;

describe.skipIf(skipUnless('root', 'fuse', 'loop', 'format-2 names on the mount'))('format 2 names', () => {
  let v: TestVolume;
  beforeAll(() => {
    v = makeVolume({ loopMiB: 64 });
    v.mount();
  });
  afterAll(() => v?.cleanup());

  it(
    'every directory has its own IV file, hidden from listings; equal names in different directories differ',
    () => {
      fs.mkdirSync(join(v.mnt, 'a'));
      fs.mkdirSync(join(v.mnt, 'b'));
      fs.writeFileSync(join(v.mnt, 'a/x'), 'same name, directory a');
      fs.writeFileSync(join(v.mnt, 'b/x'), 'same name, directory b');
      const ax = lowerOf(v.lower, v.mnt, 'a/x');
      const bx = lowerOf(v.lower, v.mnt, 'b/x');
      expect(basename(ax)).not.toBe(basename(bx));
      const ivs = [v.lower, dirname(ax), dirname(bx)].map((d) => fs.readFileSync(join(d, DIRIV)));
      for (const iv of ivs) expect(iv.length).toBe(32);
      expect(new Set(ivs.map((b) => b.toString('hex'))).size).toBe(3);
      expect(fs.readdirSync(v.mnt).sort()).toEqual(['a', 'b']);
      expect(fs.readdirSync(join(v.mnt, 'a'))).toEqual(['x']);
      expect(fsck(v.lower).problems).toEqual([]);
    },
    SLOW,
  );

  it(
    'long names are bound too: equal long names differ, and an entry moved with its sidecar does not decrypt',
    () => {
      const long = 'L'.repeat(200);
      fs.writeFileSync(join(v.mnt, 'a', long), 'long a');
      fs.writeFileSync(join(v.mnt, 'b', long), 'long b');
      const la = lowerOf(v.lower, v.mnt, `a/${long}`);
      const lb = lowerOf(v.lower, v.mnt, `b/${long}`);
      expect(basename(la)).toMatch(/^~/);
      expect(basename(la)).not.toBe(basename(lb));
      expect(fs.readFileSync(`${la}~name`, 'utf8')).not.toBe(fs.readFileSync(`${lb}~name`, 'utf8'));
      v.umount();
      const moved = join(dirname(lb), basename(la));
      fs.renameSync(la, moved);
      fs.renameSync(`${la}~name`, `${moved}~name`);
      v.mount();
      expect(errnoOf(() => fs.statSync(join(v.mnt, 'a', long)))).toBe('ENOENT');
      expect(fs.readFileSync(join(v.mnt, 'b', long), 'utf8')).toBe('long b');
      expect(fs.readdirSync(join(v.mnt, 'b')).sort()).toEqual([long, 'x']);
      expect(fsck(v.lower).problems.map((p) => p.lowerPath)).toEqual([moved]);
      // put the tree back in order for the next tests
      v.umount();
      fs.unlinkSync(moved);
      fs.unlinkSync(`${moved}~name`);
      fs.unlinkSync(lb);
      fs.unlinkSync(`${lb}~name`);
      v.mount();
      expect(fsck(v.lower).problems).toEqual([]);
    },
    SLOW,
  );

  it(
    'renaming a directory is O(1): nothing below it changes in the lower dir, and everything still reads',
    () => {
      const big = join(v.mnt, 'big');
      fs.mkdirSync(big);
      fs.mkdirSync(join(big, 'sub'));
      fs.writeFileSync(join(big, 'sub/deep'), 'deep');
      for (let i = 0; i < 400; i++) fs.writeFileSync(join(big, `f${i}`), `file ${i}`);
      const lowerBig = lowerOf(v.lower, v.mnt, 'big');
      const before = new Map(
        fs.readdirSync(lowerBig).map((n) => {
          const st = fs.lstatSync(join(lowerBig, n), { bigint: true });
          return [n, `${st.ino} ${st.mtimeNs} ${st.ctimeNs}`];
        }),
      );
      expect(before.size).toBe(1 + 401); // the IV file, sub and 400 files
      fs.renameSync(big, join(v.mnt, 'a', 'renamed'));
      const lowerRenamed = lowerOf(v.lower, v.mnt, 'a/renamed');
      expect(basename(lowerRenamed)).not.toBe(basename(lowerBig));
      const after = new Map(
        fs.readdirSync(lowerRenamed).map((n) => {
          const st = fs.lstatSync(join(lowerRenamed, n), { bigint: true });
          return [n, `${st.ino} ${st.mtimeNs} ${st.ctimeNs}`];
        }),
      );
      expect(after).toEqual(before);
      for (let i = 0; i < 400; i++) expect(fs.readFileSync(join(v.mnt, 'a/renamed', `f${i}`), 'utf8')).toBe(`file ${i}`);
      expect(fs.readFileSync(join(v.mnt, 'a/renamed/sub/deep'), 'utf8')).toBe('deep');
      // and after a remount (the IV read from the moved IV file, not the cache)
      v.umount();
      v.mount();
      expect(fs.readFileSync(join(v.mnt, 'a/renamed/f399'), 'utf8')).toBe('file 399');
      expect(fs.readFileSync(join(v.mnt, 'a/renamed/sub/deep'), 'utf8')).toBe('deep');
    },
    SLOW,
  );

  it(
    'rmdir, and rename over an empty directory, take the IV file with them; a non-empty one stays',
    () => {
      fs.mkdirSync(join(v.mnt, 'e1'));
      fs.mkdirSync(join(v.mnt, 'e2'));
      fs.writeFileSync(join(v.mnt, 'e2/keep'), 'k');
      expect(errnoOf(() => fs.rmdirSync(join(v.mnt, 'e2')))).toBe('ENOTEMPTY');
      expect(fs.readFileSync(join(v.mnt, 'e2/keep'), 'utf8')).toBe('k');
      expect(errnoOf(() => fs.renameSync(join(v.mnt, 'e1'), join(v.mnt, 'e2')))).toMatch(/ENOTEMPTY|EEXIST/);
      fs.mkdirSync(join(v.mnt, 'e3'));
      fs.renameSync(join(v.mnt, 'e2'), join(v.mnt, 'e3'));
      expect(fs.readdirSync(join(v.mnt, 'e3'))).toEqual(['keep']);
      fs.rmdirSync(join(v.mnt, 'e1'));
      fs.mkdirSync(join(v.mnt, 'e1'), { mode: 0o555 });
      expect(fs.statSync(join(v.mnt, 'e1')).mode & 0o777).toBe(0o555);
      fs.rmdirSync(join(v.mnt, 'e1'));
      expect(fs.readdirSync(v.mnt).sort()).toEqual(['a', 'b', 'e3']);
      expect(fsck(v.lower).problems).toEqual([]);
    },
    SLOW,
  );

  it(
    'an rmdir the lower filesystem refuses after the IV file went puts the same IV file back (IV known or read)',
    () => {
      fs.mkdirSync(join(v.mnt, 'a/stays'));
      const lowerDir = lowerOf(v.lower, v.mnt, 'a/stays');
      const ivFile = join(lowerDir, DIRIV);
      const iv = fs.readFileSync(ivFile);
      for (const known of [true, false]) {
        if (known)
          expect(fs.readdirSync(join(v.mnt, 'a/stays'))).toEqual([]); // its IV is in the mount's cache
        else {
          v.umount();
          v.mount();
        } // nothing looked inside it since: its IV is read before the file goes
        // an immutable lower parent: the IV file inside the directory can go, the directory cannot
        execFileSync('chattr', ['+i', dirname(lowerDir)]);
        try {
          expect(errnoOf(() => fs.rmdirSync(join(v.mnt, 'a/stays')))).toBe('EPERM');
        } finally {
          execFileSync('chattr', ['-i', dirname(lowerDir)]);
        }
        expect(fs.readFileSync(ivFile).equals(iv), `known ${known}`).toBe(true);
        expect(fs.statSync(ivFile).mode & 0o7777).toBe(0o444);
        fs.writeFileSync(join(v.mnt, 'a/stays/f'), 'names still seal under the same IV');
        v.umount();
        v.mount();
        expect(fs.readFileSync(join(v.mnt, 'a/stays/f'), 'utf8')).toBe('names still seal under the same IV');
        fs.unlinkSync(join(v.mnt, 'a/stays/f'));
      }
      fs.rmdirSync(join(v.mnt, 'a/stays'));
      expect(fs.existsSync(lowerDir)).toBe(false);
      expect(fsck(v.lower).problems).toEqual([]);
    },
    SLOW,
  );

  it(
    'a copy of the lower dir by cp -a, rsync -a and tar mounts with the same plaintext',
    () => {
      fs.symlinkSync('renamed/sub/deep', join(v.mnt, 'a/link'));
      const want = snapshot(v.mnt);
      expect(Object.keys(want).length).toBeGreaterThan(400);
      v.umount();
      const copies = join(dirname(v.lower), 'copies');
      fs.mkdirSync(copies);
      const made = {
        cp: () => execFileSync('cp', ['-a', v.lower, join(copies, 'cp')]),
        rsync: () => execFileSync('rsync', ['-a', `${v.lower}/`, join(copies, 'rsync')]),
        tar: () => {
          fs.mkdirSync(join(copies, 'tar'));
          execFileSync('sh', ['-c', 'tar -C "$1" -cf - . | tar -C "$2" -xpf -', 'sh', v.lower, join(copies, 'tar')]);
        },
      };
      for (const [how, copy] of Object.entries(made)) {
        copy();
        const lower = join(copies, how);
        const mnt = join(v.dir, `mnt-${how}`);
        fs.mkdirSync(mnt);
        const m = hc(['mount', lower, mnt, '--passphrase-fd', '0', '--log-file', join(v.dir, `log-${how}`)], `${PASS}\n`);
        expect(m.code, m.stderr).toBe(0);
        try {
          expect(snapshot(mnt), how).toEqual(want);
        } finally {
          hc(['umount', mnt]);
        }
        expect(fsck(lower).problems, how).toEqual([]);
        fs.rmSync(lower, { recursive: true, force: true });
      }
      v.mount();
    },
    SLOW,
  );
});

describe.skipIf(skipUnless('root', 'fuse', 'loop', 'format-2 plaintext names on the mount'))('format 2 with plaintext names', () => {
  let v: TestVolume;
  beforeAll(() => {
    v = makeVolume({ loopMiB: 32, plaintextNames: true });
    v.mount();
  });
  afterAll(() => v?.cleanup());

  it(
    'has no directory IV files and no new reserved name: a user file called homecrypt.diriv is itself',
    () => {
      fs.mkdirSync(join(v.mnt, 'd/e'), { recursive: true });
      fs.writeFileSync(join(v.mnt, 'd/homecrypt.diriv'), 'mine');
      fs.writeFileSync(join(v.mnt, 'homecrypt.conf'), 'also mine');
      fs.renameSync(join(v.mnt, 'd/e'), join(v.mnt, 'e'));
      fs.rmdirSync(join(v.mnt, 'e'));
      expect(fs.readdirSync(v.lower).sort()).toEqual(['d', 'homecrypt.conf', 'homecrypt.conf~', 'homecrypt.keys']);
      expect(fs.readdirSync(join(v.lower, 'd'))).toEqual(['homecrypt.diriv']);
      expect(fs.readdirSync(join(v.mnt, 'd'))).toEqual(['homecrypt.diriv']);
      expect(fs.readFileSync(join(v.mnt, 'd/homecrypt.diriv'), 'utf8')).toBe('mine');
      expect(fsck(v.lower).problems).toEqual([]);
    },
    SLOW,
  );
});
