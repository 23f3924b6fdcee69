// The "Attacks on names" table of docs/SECURITY.md, one test per row, on a
// format-2 volume: an attacker changes the lower directory while the volume
// is unmounted, and each test asserts exactly the documented outcome on the
// mount and in fsck. (The content rows are in their own file.) Each row has
// its own volume on a small loop-mounted ext4.
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { makeVolume, type TestVolume } from '../engine/volume-helper.js';
import { errnoOf, fsck, lowerOf } from './lower-tree.js';
import { swapFiles } from '../helpers/lower-tamper.js';

const DIRIV = 'homecrypt.diriv';
/** Several CLI runs (mount, fsck) each: a loaded machine needs minutes. */
const SLOW = 400_000;

describe.skipIf(skipUnless('root', 'fuse', 'loop', 'attacks on format-2 names'))('attacks on names (format 2)', () => {
  let v: TestVolume | undefined;
  afterEach(() => {
    v?.cleanup();
    v = undefined;
  });

  /** A mounted volume holding `files` (path → content); directories made as needed. */
  function volumeWith(files: Record<string, string>): TestVolume {
    const vol = makeVolume({ loopMiB: 32 });
    vol.mount();
    for (const [p, data] of Object.entries(files)) {
      fs.mkdirSync(dirname(join(vol.mnt, p)), { recursive: true });
      fs.writeFileSync(join(vol.mnt, p), data);
    }
    return vol;
  }

  it(
    "name swap within a directory: silently accepted (each name reads the other's content); fsck finds nothing",
    () => {
      v = volumeWith({ 'd/p': 'content of p', 'd/q': 'content of q' });
      const lp = lowerOf(v.lower, v.mnt, 'd/p');
      const lq = lowerOf(v.lower, v.mnt, 'd/q');
      v.umount();
      fs.renameSync(lp, `${lp}.tmp`);
      fs.renameSync(lq, lp);
      fs.renameSync(`${lp}.tmp`, lq);
      v.mount();
      expect(fs.readdirSync(join(v.mnt, 'd')).sort()).toEqual(['p', 'q']);
      expect(fs.readFileSync(join(v.mnt, 'd/p'), 'utf8')).toBe('content of q');
      expect(fs.readFileSync(join(v.mnt, 'd/q'), 'utf8')).toBe('content of p');
      expect(fsck(v.lower).problems).toEqual([]);
    },
    SLOW,
  );

  it(
    'move between directories: ENOENT at both places, not listed, logged; fsck names the lower path',
    () => {
      v = volumeWith({ 'a/x': "a's x", 'b/y': "b's y" });
      const ax = lowerOf(v.lower, v.mnt, 'a/x');
      const lowerB = lowerOf(v.lower, v.mnt, 'b');
      v.umount();
      const moved = join(lowerB, basename(ax));
      fs.renameSync(ax, moved);
      v.mount();
      expect(errnoOf(() => fs.statSync(join(v!.mnt, 'b/x')))).toBe('ENOENT');
      expect(errnoOf(() => fs.statSync(join(v!.mnt, 'a/x')))).toBe('ENOENT');
      expect(fs.readdirSync(join(v.mnt, 'b'))).toEqual(['y']);
      expect(fs.readdirSync(join(v.mnt, 'a'))).toEqual([]);
      expect(v.log()).toContain(`skipping ${moved}: encrypted name failed authentication`);
      const r = fsck(v.lower);
      expect(r.problems).toEqual([{ lowerPath: moved, problem: 'name: encrypted name failed authentication' }]);
    },
    SLOW,
  );

  it(
    'directory IV file removed: EIO on the directory (lookup, listing, create), logged; fsck reports the file',
    () => {
      v = volumeWith({ 'c/f': 'f', 'other/g': 'g' });
      const lowerC = lowerOf(v.lower, v.mnt, 'c');
      v.umount();
      fs.unlinkSync(join(lowerC, DIRIV));
      v.mount();
      expect(fs.statSync(join(v.mnt, 'c')).isDirectory()).toBe(true); // its name is its parent's
      expect(errnoOf(() => fs.readdirSync(join(v!.mnt, 'c')))).toBe('EIO');
      expect(errnoOf(() => fs.statSync(join(v!.mnt, 'c/f')))).toBe('EIO');
      expect(errnoOf(() => fs.writeFileSync(join(v!.mnt, 'c/new'), 'n'))).toBe('EIO');
      expect(fs.readFileSync(join(v.mnt, 'other/g'), 'utf8')).toBe('g');
      expect(v.log()).toContain(`${join(lowerC, DIRIV)}: ${DIRIV} is missing`);
      expect(fsck(v.lower).problems).toEqual([
        {
          lowerPath: join(lowerC, DIRIV),
          path: '/c',
          problem: `directory IV: ${join(lowerC, DIRIV)}: ${DIRIV} is missing (its directory's names cannot be read)`,
        },
      ]);
    },
    SLOW,
  );

  it(
    "directory IV file swapped with another directory's: lookups ENOENT, listing EIO, logged; fsck reports both directories and every entry",
    () => {
      v = volumeWith({ 'e/f1': '1', 'e/f2': '2', 'h/g': 'g' });
      const le = lowerOf(v.lower, v.mnt, 'e');
      const lh = lowerOf(v.lower, v.mnt, 'h');
      const entries = [
        ...fs
          .readdirSync(le)
          .filter((n) => n !== DIRIV)
          .map((n) => join(le, n)),
        ...fs
          .readdirSync(lh)
          .filter((n) => n !== DIRIV)
          .map((n) => join(lh, n)),
      ];
      v.umount();
      swapFiles(join(le, DIRIV), join(lh, DIRIV), join(v.lower, 'iv.tmp'));
      v.mount();
      expect(errnoOf(() => fs.statSync(join(v!.mnt, 'e/f1')))).toBe('ENOENT');
      expect(errnoOf(() => fs.statSync(join(v!.mnt, 'h/g')))).toBe('ENOENT');
      expect(errnoOf(() => fs.readdirSync(join(v!.mnt, 'e')))).toBe('EIO');
      expect(errnoOf(() => fs.readdirSync(join(v!.mnt, 'h')))).toBe('EIO');
      expect(v.log()).toContain(`readdir: ${le}: none of its 2 entries authenticates under its directory IV`);
      const r = fsck(v.lower);
      const swapped = "directory IV: none of the directory's";
      expect(
        r.problems
          .filter((p) => p.problem.startsWith(swapped))
          .map((p) => p.lowerPath)
          .sort(),
      ).toEqual([join(le, DIRIV), join(lh, DIRIV)].sort());
      expect(r.problems.filter((p) => !p.problem.startsWith(swapped))).toEqual(
        expect.arrayContaining(entries.map((lowerPath) => ({ lowerPath, problem: 'name: encrypted name failed authentication' }))),
      );
      expect(r.problems.length).toBe(entries.length + 2);
    },
    SLOW,
  );
});
