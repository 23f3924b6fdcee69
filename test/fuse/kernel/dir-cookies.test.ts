// Directory offsets that stay put across listings (src/fuse/kernel/dir-cookies.ts):
// a reader resuming at the offset of the last entry it got, in a listing read
// later, gets exactly the entries it had not got, whatever was added or
// removed meanwhile (those alone may or may not show).
import { describe, expect, it } from 'vitest';
import { DirCookies, resumeAt } from '../../../src/fuse/kernel/dir-cookies.js';

const names = (n: number) => Array.from({ length: n }, (_, i) => `n${i}`);

describe('directory cookies', () => {
  it('numbers a first listing in its order, from 1', () => {
    const placed = new DirCookies().place(['.', '..', 'b', 'a']);
    expect(placed).toEqual({ entries: ['.', '..', 'b', 'a'], cookies: [1, 2, 3, 4] });
  });

  it('keeps numbers across listings in another order, new names last, gone names forgotten', () => {
    const c = new DirCookies();
    c.place(['x', 'y', 'z']);
    const again = c.place(['z', 'new', 'x']); // y removed, new added, order changed
    expect(again.entries).toEqual(['x', 'z', 'new']);
    expect(again.cookies).toEqual([1, 3, 4]);
    const back = c.place(['y', 'x']); // y again: a new number (its old one was let go)
    expect(back).toEqual({ entries: ['x', 'y'], cookies: [1, 5] });
  });

  it('takes DirEntry objects as well as names', () => {
    const c = new DirCookies();
    c.place([
      { name: 'a', ino: 7 },
      { name: 'b', ino: 8 },
    ]);
    expect(
      c.place([
        { name: 'b', ino: 8 },
        { name: 'a', ino: 7 },
      ]).cookies,
    ).toEqual([1, 2]);
  });

  it('a name listed twice is listed twice, each with a number of its own', () => {
    const placed = new DirCookies().place(['a', 'b', 'a']);
    expect(placed.entries).toEqual(['a', 'b', 'a']);
    expect(new Set(placed.cookies).size).toBe(3);
  });

  it('resumeAt: the first entry numbered above the offset', () => {
    expect(resumeAt([1, 2, 5, 9], 0)).toBe(0);
    expect(resumeAt([1, 2, 5, 9], 2)).toBe(2);
    expect(resumeAt([1, 2, 5, 9], 4)).toBe(2);
    expect(resumeAt([1, 2, 5, 9], 9)).toBe(4);
    expect(resumeAt([], 3)).toBe(0);
  });

  it('a reader resuming in a later listing gets every name that was there all along exactly once', () => {
    for (let seed = 1; seed <= 50; seed++) {
      let x = seed;
      const rnd = (n: number) => ((x = (x * 1103515245 + 12345) >>> 0), x % n);
      const c = new DirCookies();
      const before = names(200);
      const first = c.place([...before].sort(() => rnd(3) - 1));
      const stop = rnd(200);
      const got = first.entries.slice(0, stop) as string[];
      const offset = stop === 0 ? 0 : first.cookies[stop - 1]!;
      // meanwhile: some removed, some added, and the lower order shuffled
      const removed = new Set(before.filter(() => rnd(10) === 0));
      const after = [...before.filter((n) => !removed.has(n)), ...names(20).map((n) => `added-${n}`)].sort(() => rnd(3) - 1);
      const later = c.place(after);
      got.push(...(later.entries.slice(resumeAt(later.cookies, offset)) as string[]));
      for (const n of before) {
        if (removed.has(n)) continue;
        expect(
          got.filter((g) => g === n),
          `seed ${seed}: ${n}`,
        ).toHaveLength(1);
      }
      // with plain positions instead, the same resumption skips or repeats some (what this prevents)
      const byPosition = [...(first.entries.slice(0, stop) as string[]), ...after.slice(stop)];
      if (seed === 1) expect(before.filter((n) => !removed.has(n)).some((n) => byPosition.filter((g) => g === n).length !== 1)).toBe(true);
    }
  });
});
