// The kernel's cache of a mount (docs/FUSE-BRIDGE.md, "Cache policy"): names
// and attributes are trusted for --cache-timeout seconds (default 60), so
// everything changed through the mount must be seen at once, through every
// name, with no timeout to hide a mistake; a change made in the lower directory
// behind the mount is not seen until the timeout, except with
// --cache-timeout 0; and an open never serves pages of a file that changed.
// Directory listings are the kernel's to keep too (OPENDIR answered
// FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE): every change of a directory through
// the mount drops its kept listing, and a reader resuming a listing gets
// every entry that was there all along exactly once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { skipUnless } from '../helpers/requirements.js';
import { BIN, asUser, makeVolume, mountedVolume, type TestVolume } from './volume-helper.js';

const NOBODY = 65534;

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
  return undefined;
};

const nsStat = (p: string) => fs.statSync(p, { bigint: true });
const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Lower names that appeared in `dir` while `fn` ran. */
function madeIn(dir: string, fn: () => void): string[] {
  const before = new Set(fs.readdirSync(dir));
  fn();
  return fs.readdirSync(dir).filter((n) => !before.has(n));
}

describe.skipIf(skipUnless('root', 'fuse', 'the kernel cache of a mount'))('the kernel cache of a mount', () => {
  const vol = mountedVolume({ loopMiB: 64, allowOther: true }, (w) => fs.chmodSync(w.mnt, 0o1777));
  let v: TestVolume;
  let m: string;
  beforeAll(() => ({ v, m } = vol));

  it('mounts with a 60 s cache by default (the daemon says so)', () => {
    expect(v.log()).toMatch(/cache timeout 60 s/);
  });

  it('shows every change made through the mount at once, through every name', () => {
    const a = join(m, 'a');
    const b = join(m, 'b');
    fs.writeFileSync(a, 'one');
    const s0 = nsStat(a); // the kernel holds a's attributes for 60 s from here
    pause(20);
    fs.linkSync(a, b);
    const s1 = nsStat(a);
    expect(s1.nlink).toBe(2n);
    expect(s1.ctimeNs > s0.ctimeNs).toBe(true);
    fs.chmodSync(b, 0o600);
    expect(Number(nsStat(a).mode) & 0o7777).toBe(0o600);
    fs.writeFileSync(b, 'two, longer');
    expect(nsStat(a).size).toBe(11n);
    expect(fs.readFileSync(a, 'utf8')).toBe('two, longer');
    pause(20);
    fs.unlinkSync(a);
    const s2 = nsStat(b);
    expect(s2.nlink).toBe(1n);
    expect(s2.ctimeNs > s1.ctimeNs).toBe(true);
    expect(code(() => fs.statSync(a))).toBe('ENOENT'); // a negative entry now, for 60 s
    fs.renameSync(b, a);
    expect(fs.readFileSync(a, 'utf8')).toBe('two, longer');
    expect(code(() => fs.statSync(b))).toBe('ENOENT');
    fs.writeFileSync(b, 'new'); // over the negative entry
    expect(fs.readFileSync(b, 'utf8')).toBe('new');
    expect(
      fs
        .readdirSync(m)
        .filter((n) => n === 'a' || n === 'b')
        .sort(),
    ).toEqual(['a', 'b']);
    // a directory replaced by another of the same name: its contents are the new one's
    fs.mkdirSync(join(m, 'd'));
    fs.writeFileSync(join(m, 'd', 'x'), 'old');
    expect(fs.readFileSync(join(m, 'd', 'x'), 'utf8')).toBe('old');
    fs.mkdirSync(join(m, 'd2'));
    fs.writeFileSync(join(m, 'd2', 'y'), 'moved');
    fs.unlinkSync(join(m, 'd', 'x'));
    fs.renameSync(join(m, 'd2'), join(m, 'd'));
    expect(fs.readdirSync(join(m, 'd'))).toEqual(['y']);
    expect(fs.readFileSync(join(m, 'd', 'y'), 'utf8')).toBe('moved');
    expect(code(() => fs.statSync(join(m, 'd', 'x')))).toBe('ENOENT');
  });

  it("shows the mode a non-owner's write clears, and an owner change, at once", () => {
    const p = join(m, 'suid');
    fs.writeFileSync(p, '');
    fs.chmodSync(p, 0o6777);
    expect(fs.statSync(p).mode & 0o7777).toBe(0o6777); // cached
    expect(asUser(NOBODY, NOBODY, 'echo x >> suid && stat -c %a suid', m).stdout.trim()).toBe('777');
    expect(fs.statSync(p).mode & 0o7777).toBe(0o777);
    fs.chownSync(p, NOBODY, NOBODY);
    expect(fs.statSync(p).uid).toBe(NOBODY);
  });

  it('does not show a change made in the lower directory behind the mount until the timeout', () => {
    const p = join(m, 'behind');
    const [lowerName] = madeIn(v.lower, () => fs.writeFileSync(p, 'here'));
    expect(lowerName).toBeDefined();
    expect(fs.statSync(p).size).toBe(4);
    fs.unlinkSync(join(v.lower, lowerName!));
    // the kernel still trusts what it was told (the documented policy)
    expect(fs.statSync(p).size).toBe(4);
    // the daemon, asked, knows better: an open must reach it
    expect(code(() => fs.readFileSync(p))).toBe('ENOENT');
  });

  it("keeps a directory's listing, and drops it at every change made through the mount, by any user", () => {
    const d = join(m, 'listed');
    const made = madeIn(v.lower, () => fs.mkdirSync(d));
    const lowerD = join(
      v.lower,
      made.find((n) => fs.statSync(join(v.lower, n)).isDirectory())!,
    );
    fs.chmodSync(d, 0o1777);
    const ls = () => fs.readdirSync(d).sort();
    const [la] = madeIn(lowerD, () => fs.writeFileSync(join(d, 'a'), 'a'));
    expect(ls()).toEqual(['a']);
    // read twice, the listing is the kernel's (the first read after a fill asks for the
    // directory's attributes once more): a lower entry removed behind the mount is still listed
    expect(ls()).toEqual(['a']);
    fs.unlinkSync(join(lowerD, la!));
    expect(ls()).toEqual(['a']);
    fs.writeFileSync(join(d, 'b'), 'b'); // a change through the mount: listed afresh
    expect(ls()).toEqual(['b']);
    const steps: Array<[string, () => void, string[]]> = [
      ['create by another user', () => expect(asUser(NOBODY, NOBODY, 'echo c > listed/c', m).code).toBe(0), ['b', 'c']],
      ['rename within', () => fs.renameSync(join(d, 'b'), join(d, 'b2')), ['b2', 'c']],
      ['rename in', () => (fs.writeFileSync(join(m, 'out'), 'o'), fs.renameSync(join(m, 'out'), join(d, 'in'))), ['b2', 'c', 'in']],
      ['rename out', () => fs.renameSync(join(d, 'in'), join(m, 'out')), ['b2', 'c']],
      ['mkdir', () => fs.mkdirSync(join(d, 'sub')), ['b2', 'c', 'sub']],
      ['rmdir', () => fs.rmdirSync(join(d, 'sub')), ['b2', 'c']],
      ['link', () => fs.linkSync(join(d, 'c'), join(d, 'c-link')), ['b2', 'c', 'c-link']],
      ['symlink', () => fs.symlinkSync('c', join(d, 's')), ['b2', 'c', 'c-link', 's']],
      ['unlink by its owner', () => expect(asUser(NOBODY, NOBODY, 'rm listed/c', m).code).toBe(0), ['b2', 'c-link', 's']],
      ['rename over', () => fs.renameSync(join(d, 's'), join(d, 'b2')), ['b2', 'c-link']],
    ];
    for (const [what, change, after] of steps) {
      ls();
      ls(); // from the kernel's cache
      change();
      expect(ls(), what).toEqual(after);
    }
  });

  it('a reader part-way through a large listing gets every entry once, while the directory changes and another lists it', () => {
    const d = join(m, 'big');
    fs.mkdirSync(d);
    const names = Array.from({ length: 3000 }, (_, i) => `entry-${String(i).padStart(5, '0')}-${'x'.repeat(30)}`);
    for (const n of names) fs.writeFileSync(join(d, n), '');
    // python's scandir reads the directory in 32 KiB getdents calls: the first holds a
    // few hundred of these names, so the rest comes from later READDIRs at offsets
    const script = `
import os, sys, json
d = sys.argv[1]
it = os.scandir(d)
first = [next(it).name for _ in range(100)]
open(os.path.join(d, 'aaa-new'), 'w').close()   # sorts first; lands anywhere in the lower order
os.unlink(os.path.join(d, first[0]))             # one the reader has already seen
other = os.listdir(d)                            # another reader, after the change
rest = [e.name for e in it]
print(json.dumps({'a': first + rest, 'b': other, 'removed': first[0]}))`;
    const r = spawnSync('python3', ['-c', script, d], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const { a, b, removed } = JSON.parse(r.stdout) as { a: string[]; b: string[]; removed: string };
    // every name there all along exactly once (POSIX leaves only the added and removed ones open)
    const seen = new Map<string, number>();
    for (const n of a) seen.set(n, (seen.get(n) ?? 0) + 1);
    for (const n of names) expect(seen.get(n), n).toBe(1);
    expect([...seen.values()].every((c) => c === 1)).toBe(true);
    expect(b.sort()).toEqual([...names.filter((n) => n !== removed), 'aaa-new'].sort());
    // and a listing from the start now, from the kernel's cache or not, is the directory as it is
    expect(fs.readdirSync(d).sort()).toEqual(b);
  });

  it('never serves the cached pages of a file that changed behind the mount', () => {
    const a = join(m, 'same-a');
    const b = join(m, 'same-b');
    const [la] = madeIn(v.lower, () => fs.writeFileSync(a, 'A'.repeat(5000)));
    const [lb] = madeIn(v.lower, () => fs.writeFileSync(b, 'B'.repeat(5000)));
    expect(fs.readFileSync(b, 'utf8')).toBe('B'.repeat(5000));
    expect(fs.readFileSync(b, 'utf8')).toBe('B'.repeat(5000)); // its pages kept: unchanged since its last open
    pause(20);
    fs.copyFileSync(join(v.lower, la!), join(v.lower, lb!)); // same inode, other contents
    // a's contents or EIO (where a file's contents are bound to it), never b's old pages
    let got: string | undefined;
    const err = code(() => {
      got = fs.readFileSync(b, 'utf8');
    });
    if (err === undefined) expect(got).toBe('A'.repeat(5000));
    else expect(err).toBe('EIO');
  });
});

describe.skipIf(skipUnless('root', 'fuse', 'the kernel cache of a mount'))('--cache-timeout 0', () => {
  let v: TestVolume;
  beforeAll(() => {
    v = makeVolume({ loopMiB: 64, mountArgs: ['--cache-timeout', '0'] });
    v.mount();
  });
  afterAll(() => {
    try {
      v.umount();
    } finally {
      v.cleanup();
    }
  });

  it('shows a change made in the lower directory at once', () => {
    expect(v.log()).toMatch(/cache timeout 0 s/);
    const p = join(v.mnt, 'behind');
    const [lowerName] = madeIn(v.lower, () => fs.writeFileSync(p, 'here'));
    expect(fs.statSync(p).size).toBe(4);
    fs.readdirSync(v.mnt);
    expect(fs.readdirSync(v.mnt)).toContain('behind');
    fs.unlinkSync(join(v.lower, lowerName!));
    expect(code(() => fs.statSync(p))).toBe('ENOENT');
    expect(fs.readdirSync(v.mnt)).not.toContain('behind'); // the listing too
  });

  it('refuses a timeout that is not a number of seconds up to a day', () => {
    const dir = fs.mkdtempSync('/tmp/hc-cache-arg-');
    try {
      for (const bad of ['-1', 'ten', '86401']) {
        const r = makeVolumeArgs(bad, dir);
        expect(r.status).toBe(2);
        expect(r.stderr).toContain('--cache-timeout');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** `homecrypt mount` with a bad --cache-timeout (refused before anything is read). */
function makeVolumeArgs(timeout: string, dir: string): { status: number | null; stderr: string } {
  const r = spawnSync(BIN, ['mount', join(dir, 'lower'), join(dir, 'mnt'), `--cache-timeout=${timeout}`], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}
