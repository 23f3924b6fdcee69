// Model-based random test: the same random operations applied to the mount
// and to a plain directory must leave both trees identical (names, types,
// sizes, bytes, link counts) and give the same errors, op by op. Hard links
// (their link counts through every name) and paths near PATH_MAX (chains of
// 127-byte names, each lower path far longer) are among the operations, and so
// are sparse ones: writes far past the end, truncates far up, fallocate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, fallocateSync } from '../../src/os/lower-fs-calls.js';
import { absentReason, skipUnless } from '../helpers/requirements.js';
import { makeVolume, type TestVolume } from './volume-helper.js';

const r2off = (off: number, far: number) => (off % 2 === 0 ? off : far);

function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(join(root, rel)).sort()) {
      if (name.startsWith('.fuse_hidden')) continue;
      const r = rel ? `${rel}/${name}` : name;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(join(root, r));
      } catch (err) {
        // a rename moved a deep chain deeper than PATH_MAX: the same on both sides (same root lengths)
        if ((err as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw err;
        out[r] = 'too long';
        continue;
      }
      if (st.isDirectory()) {
        out[r] = 'dir';
        walk(r);
      } else if (st.isSymbolicLink()) out[r] = `link:${fs.readlinkSync(join(root, r))}`;
      else
        out[r] = `file:${st.nlink}:${st.size}:${createHash('sha256')
          .update(fs.readFileSync(join(root, r)))
          .digest('hex')}`;
    }
  };
  walk('');
  return out;
}

const outcome = (fn: () => unknown): string => {
  try {
    const r = fn();
    return Buffer.isBuffer(r) ? `ok:${r.toString('base64')}` : `ok:${JSON.stringify(r ?? null)}`;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'ERR';
  }
};

describe.skipIf(skipUnless('fuse', 'engine model test'))('random operations on the mount and on a plain directory', () => {
  let v: TestVolume;
  let plain: string;
  beforeAll(() => {
    // the lower directory on a small ext4 where root can make one: a sparse
    // operation that wrote its holes would end in ENOSPC, not in a full disk
    v = makeVolume((absentReason('root') ?? absentReason('loop')) ? {} : { loopMiB: 256 });
    v.mount();
    // as long a path as the mount point's, so that PATH_MAX cuts both trees at the same depth
    const base = mkdtempSync('/tmp/hc-model-');
    plain = join(base, 'p'.repeat(Math.max(1, v.mnt.length - base.length - 1)));
    fs.mkdirSync(plain);
  });
  afterAll(() => {
    try {
      v.umount();
    } finally {
      v.cleanup();
      spawnSync('rm', ['-rf', dirname(plain)]);
    }
  });

  it('agree after 1500 operations', () => {
    const r = rng(20261125);
    const names = ['a', 'b', 'c', 'dir1', 'dir2', 'x'.repeat(200), 'é'];
    // 24 more levels of 127-byte names fit under PATH_MAX below both roots
    // (each at most 30 bytes) whatever the 1-3 random names above them
    expect(plain.length).toBe(v.mnt.length);
    expect(plain.length).toBeLessThanOrEqual(30);
    const deep = Array.from({ length: 24 }, (_, i) => String.fromCharCode(97 + i).repeat(127)).join('/');
    const path = () => {
      // now and then a path deep below a top name: its chain exists once a "deep" op made it
      if (r(5) === 0) return `${names[r(names.length)]}/${deep.slice(0, 128 * (1 + r(24)) - 1)}/${names[r(3)]}`;
      const depth = r(3);
      const parts: string[] = [];
      for (let i = 0; i <= depth; i++) parts.push(names[r(names.length)]!);
      return parts.join('/');
    };
    let links = 0;
    let deepOk = 0;
    const fds: { m: number; p: number }[] = [];
    const sparseOk = new Map<number, number>(); // kind → operations that succeeded
    const ops: Array<(root: string, i: number, args: unknown[]) => unknown> = [];
    for (let i = 0; i < 1500; i++) {
      const kind = r(19);
      const top = names[r(names.length)]!;
      const a = path();
      const b = path();
      const off = r(3) === 0 ? r(200000) : r(9000);
      const len = r(4) === 0 ? r(70000) : r(5000);
      const size = r(3) === 0 ? r(100000) : r(10000);
      // sparse: far past the end (up to 24 MiB), so that holes of many blocks appear
      const far = r(24 << 20);
      const fmode = [0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE][r(3)]!;
      const seed = r(256);
      const data = Buffer.alloc(len, seed);
      for (let k = 0; k < len; k += 97) data[k] = (k * 31 + seed) & 0xff;
      const apply = (root: string): string => {
        const p = join(root, a);
        const q = join(root, b);
        switch (kind) {
          case 0:
          case 1:
            return outcome(() => fs.writeFileSync(p, data));
          case 2:
          case 3:
            return outcome(() => {
              const fd = fs.openSync(p, 'r+');
              try {
                fs.writeSync(fd, data, 0, len, off);
              } finally {
                fs.closeSync(fd);
              }
            });
          case 4:
            return outcome(() => fs.appendFileSync(p, data.subarray(0, 777)));
          case 5:
            return outcome(() => fs.truncateSync(p, size));
          case 6:
            return outcome(() => {
              const fd = fs.openSync(p, 'r');
              try {
                const buf = Buffer.alloc(len);
                const n = fs.readSync(fd, buf, 0, len, off);
                return buf.subarray(0, n);
              } finally {
                fs.closeSync(fd);
              }
            });
          case 7:
            return outcome(() => fs.mkdirSync(p));
          case 8:
            return outcome(() => fs.rmdirSync(p));
          case 9:
            return outcome(() => fs.unlinkSync(p));
          case 10:
            return outcome(() => fs.renameSync(p, q));
          case 11:
          case 14:
            return outcome(() => fs.linkSync(p, q));
          // (a symlink target is encrypted whole and grows: one near PATH_MAX does not fit, as in gocryptfs)
          case 12:
            return outcome(() => fs.symlinkSync(b.length < 1000 ? b : 'far', p));
          case 13:
            return outcome(() => {
              fs.mkdirSync(join(root, top, deep), { recursive: true });
            });
          case 15:
            return outcome(() => {
              const fd = fs.openSync(p, 'r+');
              try {
                fs.writeSync(fd, data, 0, Math.min(len, 3000), far);
              } finally {
                fs.closeSync(fd);
              }
            });
          case 16:
            return outcome(() => fs.truncateSync(p, far));
          case 17:
            return outcome(() => {
              const fd = fs.openSync(p, 'r+');
              try {
                fallocateSync(fd, fmode, r2off(off, far), len + 1, p);
              } finally {
                fs.closeSync(fd);
              }
            });
          default:
            return outcome(() =>
              fs
                .readdirSync(p)
                .filter((n) => !n.startsWith('.fuse_hidden'))
                .sort(),
            );
        }
      };
      const gotPlain = apply(plain);
      const gotMount = apply(v.mnt);
      expect(gotMount, `op ${i} kind ${kind} ${a} ${b}`).toBe(gotPlain);
      if (kind >= 15 && kind <= 17 && gotMount.startsWith('ok:')) sparseOk.set(kind, (sparseOk.get(kind) ?? 0) + 1);
      if (gotPlain.startsWith('ok')) {
        if (kind === 11 || kind === 14) links++;
        if (kind !== 13 && a.length + v.mnt.length > 2048) deepOk++;
      }
      if (i % 250 === 249) expect(snapshot(v.mnt)).toEqual(snapshot(plain));
    }
    void fds;
    void ops;
    // the run did make hard links and work deep down (not only fail there)
    expect(links, 'hard links made').toBeGreaterThan(5);
    expect(deepOk, 'operations done deep down').toBeGreaterThan(5);
    // the sparse kinds really ran: writes far past the end, truncates far up, fallocate
    for (const k of [15, 16, 17]) expect(sparseOk.get(k) ?? 0, `kind ${k}`).toBeGreaterThan(5);
    expect(snapshot(v.mnt)).toEqual(snapshot(plain));
  }, 240_000); // ~40 s alone; several times that on a loaded 2-core machine
});
