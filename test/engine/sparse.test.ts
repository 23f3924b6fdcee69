// Sparse files through the mount: growing a file costs neither time nor lower
// space for the gap, holes read as zeros, SEEK_DATA/SEEK_HOLE and fallocate
// work, EFBIG past the format's largest size. Each lower directory sits on a
// small loop-mounted filesystem, so a regression ends in ENOSPC, not in a full
// disk: ext4 (64 MiB) for most, XFS (300 MiB, its smallest) where a file of
// 1 PiB must fit (ext4 stops at 16 TiB).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { skipUnless } from '../helpers/requirements.js';
import { hc, PASS } from './volume-helper.js';

const GiB = 1024 ** 3;
const PiB = 1024 ** 5;

interface LoopVolume {
  fsDir: string;
  lower: string;
  mnt: string;
  log: string;
  /** Bytes in use on the loop filesystem. */
  used(): number;
  cleanup(): void;
}

function loopVolume(type: 'ext4' | 'xfs', sizeMiB: number): LoopVolume {
  const dir = fs.mkdtempSync(`/tmp/hc-sparse-${type}-`);
  const img = join(dir, 'img');
  const fsDir = join(dir, 'fs');
  const mnt = join(dir, 'mnt');
  fs.mkdirSync(fsDir);
  fs.mkdirSync(mnt);
  fs.closeSync(fs.openSync(img, 'w'));
  fs.truncateSync(img, sizeMiB << 20);
  execFileSync(type === 'ext4' ? 'mkfs.ext4' : 'mkfs.xfs', type === 'ext4' ? ['-q', '-F', img] : ['-q', img]);
  execFileSync('mount', ['-o', 'loop', img, fsDir]); // -o loop: the loop device goes with the unmount
  const lower = join(fsDir, 'lower');
  const log = join(dir, 'log');
  const init = hc(['init', lower, '--passphrase-fd', '0', '--kdf-time', '0.05'], `${PASS}\n`);
  if (init.code !== 0) throw new Error(init.stderr);
  const m = hc(['mount', lower, mnt, '--passphrase-fd', '0', '--log-file', log], `${PASS}\n`);
  if (m.code !== 0) throw new Error(m.stderr);
  return {
    fsDir,
    lower,
    mnt,
    log,
    used() {
      const s = fs.statfsSync(fsDir);
      return (s.blocks - s.bfree) * s.bsize;
    },
    cleanup() {
      try {
        execFileSync('fusermount', ['-u', '-z', mnt], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
      try {
        execFileSync('umount', [fsDir], { stdio: 'ignore' });
      } catch {
        try {
          execFileSync('umount', ['-l', fsDir], { stdio: 'ignore' });
        } catch {
          /* gone */
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Bytes at `pos` read through the mount. */
function readAt(path: string, pos: number, len: number): Buffer {
  const fd = fs.openSync(path, 'r');
  try {
    const b = Buffer.alloc(len);
    return b.subarray(0, fs.readSync(fd, b, 0, len, pos));
  } finally {
    fs.closeSync(fd);
  }
}

function writeAt(path: string, pos: number, data: Buffer): void {
  const fd = fs.openSync(path, fs.existsSync(path) ? 'r+' : 'w');
  try {
    fs.writeSync(fd, data, 0, data.length, pos);
  } finally {
    fs.closeSync(fd);
  }
}

/** lseek(SEEK_DATA/SEEK_HOLE) answers from python3: one line per query, the offset or the errno name. */
function seeks(path: string, queries: Array<['DATA' | 'HOLE', number]>): string[] {
  const py = `
import os, sys, errno
fd = os.open(sys.argv[1], os.O_RDONLY)
for q in sys.argv[2:]:
    w, off = q.split(':')
    try:
        print(os.lseek(fd, int(off), os.SEEK_DATA if w == 'DATA' else os.SEEK_HOLE))
    except OSError as e:
        print(errno.errorcode[e.errno])
`;
  const r = spawnSync('python3', ['-c', py, path, ...queries.map(([w, o]) => `${w}:${o}`)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim().split('\n');
}

function errnoOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
  return undefined;
}

describe.skipIf(skipUnless('root', 'fuse', 'loop', 'sparse files on the mount (XFS lower)'))('a 1 PiB file on an XFS lower', () => {
  let v: LoopVolume;
  beforeAll(() => {
    v = loopVolume('xfs', 300);
  });
  afterAll(() => v?.cleanup());

  it('truncate -s 1P returns within a second, the lower grows by less than 1 MiB, the hole reads as zeros', () => {
    const f = join(v.mnt, 'huge');
    fs.writeFileSync(f, 'start');
    const before = v.used();
    const t0 = Date.now();
    execFileSync('truncate', ['-s', '1P', f]);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(v.used() - before).toBeLessThan(1 << 20);
    expect(fs.statSync(f).size).toBe(PiB);
    expect(readAt(f, 0, 10).toString('latin1')).toBe('start\0\0\0\0\0');
    for (const pos of [4096, GiB, PiB / 2 + 12345, PiB - 1 - 70000, PiB - 4096]) {
      const got = readAt(f, pos, 70000);
      expect(got.length).toBe(Math.min(70000, PiB - pos));
      expect(got.equals(Buffer.alloc(got.length)), `zeros at ${pos}`).toBe(true);
    }
    expect(readAt(f, PiB, 10).length).toBe(0);
    // data written in the middle of the hole, and past the end (a new hole)
    writeAt(f, PiB / 4, Buffer.from('middle'));
    writeAt(f, PiB + 3 * GiB, Buffer.from('end'));
    expect(fs.statSync(f).size).toBe(PiB + 3 * GiB + 3);
    expect(readAt(f, PiB / 4 - 2, 10).toString('latin1')).toBe('\0\0middle\0\0');
    expect(readAt(f, PiB + 3 * GiB - 1, 10).toString('latin1')).toBe('\0end');
    expect(v.used() - before).toBeLessThan(1 << 20);
  });

  it('SEEK_DATA and SEEK_HOLE find the data in a 1 PiB file', () => {
    const f = join(v.mnt, 'seek');
    writeAt(f, 0, Buffer.alloc(10, 1));
    writeAt(f, GiB + 100, Buffer.alloc(5000, 2)); // blocks GiB/4096 and the next
    fs.truncateSync(f, PiB);
    expect(
      seeks(f, [
        ['DATA', 0],
        ['HOLE', 0],
        ['DATA', 4096],
        ['HOLE', GiB],
        ['DATA', GiB + 8192],
        ['HOLE', PiB - 10],
        ['DATA', PiB - 10],
        ['DATA', PiB],
        ['HOLE', PiB],
      ]),
    ).toEqual(['0', '4096', String(GiB), String(GiB + 8192), String(PiB - 4096), String(PiB), String(PiB - 10), 'ENXIO', 'ENXIO']);
  });

  it("EFBIG past 4 PiB (the format's largest size); the file stays as it was", () => {
    const f = join(v.mnt, 'big');
    fs.writeFileSync(f, 'x');
    expect(errnoOf(() => fs.truncateSync(f, 2 ** 52 + 1))).toBe('EFBIG');
    expect(errnoOf(() => writeAt(f, 2 ** 52, Buffer.from('y')))).toBe('EFBIG');
    fs.truncateSync(f, 2 ** 52);
    expect(fs.statSync(f).size).toBe(2 ** 52);
    expect(readAt(f, 2 ** 52 - 3, 10).equals(Buffer.alloc(3))).toBe(true);
  });
});

describe.skipIf(skipUnless('root', 'fuse', 'loop', 'sparse files on the mount (ext4 lower)'))('sparse files on a 64 MiB ext4 lower', () => {
  let v: LoopVolume;
  beforeAll(() => {
    v = loopVolume('ext4', 64);
  });
  afterAll(() => v?.cleanup());

  it('cp --sparse=always of a 10 GiB sparse file keeps it sparse', () => {
    const src = join(v.mnt, 'src.img');
    const pieces: Array<[number, Buffer]> = [
      [0, randomBytes(3000)],
      [GiB + 4096, randomBytes(70000)],
      [5 * GiB + 7, randomBytes(10)],
      [10 * GiB - 5000, randomBytes(5000)],
    ];
    fs.writeFileSync(src, '');
    fs.truncateSync(src, 10 * GiB);
    for (const [at, d] of pieces) writeAt(src, at, d);
    const before = v.used();
    execFileSync('cp', ['--sparse=always', src, join(v.mnt, 'copy.img')], { timeout: 120_000 });
    expect(fs.statSync(join(v.mnt, 'copy.img')).size).toBe(10 * GiB);
    expect(v.used() - before).toBeLessThan(4 << 20);
    for (const [at, d] of pieces) {
      const copy = join(v.mnt, 'copy.img');
      expect(readAt(copy, at, d.length).equals(d)).toBe(true);
      expect(readAt(copy, at + d.length, 100).every((x) => x === 0)).toBe(true);
      if (at >= 100) expect(readAt(copy, at - 100, 100).equals(Buffer.alloc(100))).toBe(true);
    }
    // the copy's holes are where the source's are (cp asked SEEK_DATA/SEEK_HOLE of the mount)
    const q: Array<['DATA' | 'HOLE', number]> = [
      ['DATA', 0],
      ['HOLE', 0],
      ['DATA', 8192],
      ['HOLE', GiB + 4096],
      ['DATA', 2 * GiB],
    ];
    expect(seeks(join(v.mnt, 'copy.img'), q)).toEqual(seeks(src, q));
  });

  it('truncate -s 1P answers EFBIG from an ext4 lower at once, without writing anything', () => {
    const f = join(v.mnt, 'onepeta');
    fs.writeFileSync(f, 'keep me');
    const before = v.used();
    const t0 = Date.now();
    expect(errnoOf(() => fs.truncateSync(f, PiB))).toBe('EFBIG');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(v.used() - before).toBeLessThan(1 << 20);
    expect(fs.readFileSync(f, 'utf8')).toBe('keep me');
  });

  it('fallocate: the default mode grows and reserves, KEEP_SIZE reserves only, PUNCH_HOLE frees', () => {
    const f = join(v.mnt, 'falloc');
    const data = randomBytes(3 << 20);
    fs.writeFileSync(f, data);
    let used = v.used();
    // default mode past the end: the size grows, the space is reserved, the new part reads as zeros
    execFileSync('fallocate', ['-o', String(3 << 20), '-l', String(8 << 20), f]);
    expect(fs.statSync(f).size).toBe(11 << 20);
    expect(v.used() - used).toBeGreaterThan(7 << 20);
    expect(readAt(f, (3 << 20) - 10, 1 << 20).equals(Buffer.concat([data.subarray(-10), Buffer.alloc((1 << 20) - 10)]))).toBe(true);
    // KEEP_SIZE past the end: space, no size
    used = v.used();
    execFileSync('fallocate', ['-n', '-o', String(11 << 20), '-l', String(4 << 20), f]);
    expect(fs.statSync(f).size).toBe(11 << 20);
    expect(v.used() - used).toBeGreaterThan(3 << 20);
    // PUNCH_HOLE|KEEP_SIZE over part of the data: zeros there, the rest intact, space freed
    used = v.used();
    execFileSync('fallocate', ['-p', '-o', '1000', '-l', String(2 << 20), f]);
    expect(fs.statSync(f).size).toBe(11 << 20);
    const now = fs.readFileSync(f);
    expect(now.subarray(0, 1000).equals(data.subarray(0, 1000))).toBe(true);
    expect(now.subarray(1000, 1000 + (2 << 20)).equals(Buffer.alloc(2 << 20))).toBe(true);
    expect(now.subarray(1000 + (2 << 20), 3 << 20).equals(data.subarray(1000 + (2 << 20)))).toBe(true);
    expect(used - v.used()).toBeGreaterThan(1 << 20);
    expect(seeks(f, [['HOLE', 0]])).toEqual(['4096']);
    // more than the disk holds: ENOSPC, and the file is as it was
    const r = spawnSync('fallocate', ['-l', String(200 << 20), f], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/No space left/);
    expect(fs.statSync(f).size).toBe(11 << 20);
    // modes the format does not have
    const z = spawnSync('fallocate', ['-z', '-o', '0', '-l', '4096', f], { encoding: 'utf8' });
    expect(z.status).not.toBe(0);
    expect(z.stderr).toMatch(/not supported/);
  });

  it('fsck finds every sparse file authentic', () => {
    execFileSync('umount', [v.mnt]);
    const r = hc(['fsck', v.lower, '--passphrase-fd', '0'], `${PASS}\n`);
    expect(r.stdout).toMatch(/all authentic/);
    expect(r.code).toBe(0);
    expect(hc(['mount', v.lower, v.mnt, '--passphrase-fd', '0', '--log-file', v.log], `${PASS}\n`).code).toBe(0);
  });
});
