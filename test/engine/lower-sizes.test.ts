// The engine keeps the lower size of each open file itself (src/engine/lower-sizes.ts)
// instead of an fstat per READ and WRITE: every handle of one inode (two opens,
// a hard link, a truncate by path) sees the size the others' writes made, a
// write finished after its reply included, and a failed change makes the next
// access ask the kernel again; and, with the size, the final block the format
// last wrote (an append re-seals it without reading it back). Driven through
// the engine's operations directly.
import { afterAll, describe, expect, it } from 'vitest';
import { closeSync, fstatSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openVolume, writeNewVolumeConfig } from '../../src/engine/volume.js';
import { EncryptedFilesystem } from '../../src/engine/filesystem.js';
import { AfterReply } from '../../src/engine/after-reply.js';
import { FdLowerIO } from '../../src/engine/fd-lower-io.js';
import { LowerSizes } from '../../src/engine/lower-sizes.js';

const KEY = Buffer.alloc(32, 0x5a);
const dir = mkdtempSync('/tmp/hc-lower-sizes-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function engine(lower: string) {
  mkdirSync(lower, { mode: 0o700 });
  writeNewVolumeConfig(lower, KEY, { keystore: null });
  const vol = openVolume(lower, [KEY]);
  const afterReply = new AfterReply();
  const fs = new EncryptedFilesystem({ lowerRoot: vol.lowerRoot, format: vol.format, log: () => undefined, afterReply });
  return { fs, afterReply };
}

function readAll(fs: EncryptedFilesystem, p: string, fh: number, max = 1 << 20): Buffer {
  const buf = Buffer.alloc(max);
  return buf.subarray(0, fs.read(p, fh, buf, 0));
}

describe('the lower size of open files, kept by the engine', () => {
  it('every handle of a file sees what the others wrote and cut, hard links and truncate by path included', () => {
    const lower = join(dir, 'a');
    const { fs, afterReply } = engine(lower);
    const w = fs.create('/f', 0o600);
    const r = fs.open('/f', 0);
    fs.link('/f', '/g');
    const viaLink = fs.open('/g', 2);
    expect(fs.sizes.open).toBe(1); // one inode, one cell
    const one = randomBytes(10_000);
    fs.write('/f', w, one, 0);
    expect(readAll(fs, '/f', r).equals(one)).toBe(true);
    expect(readAll(fs, '/g', viaLink).equals(one)).toBe(true);
    // a large write may land after its reply: the other handle's read runs it first
    const big = randomBytes(256 * 1024);
    fs.write('/g', viaLink, big, one.length);
    expect(readAll(fs, '/f', r).equals(Buffer.concat([one, big]))).toBe(true);
    afterReply.run();
    fs.ftruncate('/f', w, 4000);
    expect(readAll(fs, '/g', viaLink).equals(one.subarray(0, 4000))).toBe(true);
    fs.truncate('/g', 5); // by path: a handle of its own, the same cell
    expect(readAll(fs, '/f', r).equals(one.subarray(0, 5))).toBe(true);
    expect(fs.fgetattr('/f', w).size).toBe(5);
    fs.truncate('/g', 9000); // grows with zeros
    expect(readAll(fs, '/f', r).equals(Buffer.concat([one.subarray(0, 5), Buffer.alloc(8995)]))).toBe(true);
    fs.release('/f', w);
    fs.release('/f', r);
    expect(fs.sizes.open).toBe(1);
    fs.release('/g', viaLink);
    expect(fs.sizes.open).toBe(0); // the cell goes with the inode's last handle
    fs.closeAll();
  });

  it('a new open takes the lower size as it is: a file cut behind the mount fails, through every handle', () => {
    const lower = join(dir, 'b');
    const { fs } = engine(lower);
    const w = fs.create('/f', 0o600);
    fs.write('/f', w, randomBytes(9000), 0);
    fs.release('/f', w); // (a writer's open handle would have its write record roll the cut back)
    const fh = fs.open('/f', 0);
    expect(readAll(fs, '/f', fh).length).toBe(9000);
    const lowerFile = join(lower, fs.lower('/f').name);
    truncateSync(lowerFile, statSync(lowerFile).size - 100);
    const again = fs.open('/f', 0);
    expect(() => readAll(fs, '/f', again)).toThrow(expect.objectContaining({ errno: 5 })); // EIO
    expect(() => readAll(fs, '/f', fh)).toThrow(expect.objectContaining({ errno: 5 }));
    fs.release('/f', again);
    fs.release('/f', fh);
    expect(fs.sizes.open).toBe(0);
    fs.closeAll();
  });
});

/** Counts the lower reads of every FdLowerIO (appends that re-seal a kept final block read nothing). */
function countReads(): { reads: number; restore: () => void } {
  const proto = FdLowerIO.prototype;
  const orig = proto.preadInto;
  const c = {
    reads: 0,
    restore: () => {
      proto.preadInto = orig;
    },
  };
  proto.preadInto = function (this: FdLowerIO, target: Buffer, offset: number): number {
    c.reads++;
    return orig.call(this, target, offset);
  };
  return c;
}

describe('the final block kept for the next append', () => {
  it('an append after a partial final block reads nothing back, and the file comes out whole', () => {
    const lower = join(dir, 'tail');
    const { fs } = engine(lower);
    const w = fs.create('/f', 0o600);
    const parts = [randomBytes(10_240), randomBytes(10_240), randomBytes(4_500), randomBytes(3)];
    const count = countReads();
    try {
      let at = 0;
      for (const p of parts) {
        fs.write('/f', w, p, at);
        at += p.length;
      }
      expect(count.reads).toBe(0);
    } finally {
      count.restore();
    }
    fs.release('/f', w);
    const r = fs.open('/f', 0);
    expect(readAll(fs, '/f', r).equals(Buffer.concat(parts))).toBe(true);
    fs.release('/f', r);
    fs.closeAll();
  });

  it('is forgotten by a cut, a write past it by another handle, and a new open; each then reads the block again', () => {
    const lower = join(dir, 'tail2');
    const { fs } = engine(lower);
    const w = fs.create('/f', 0o600);
    const data = randomBytes(5000);
    fs.write('/f', w, data.subarray(0, 4500), 0);
    const steps: Array<[string, () => void]> = [
      ['a cut', () => fs.ftruncate('/f', w, 4400)],
      ['a new open', () => fs.release('/f', fs.open('/f', 0))],
    ];
    let size = 4500;
    for (const [what, forget] of steps) {
      forget();
      if (what === 'a cut') size = 4400;
      const count = countReads();
      try {
        fs.write('/f', w, data.subarray(size, size + 10), size);
        expect(count.reads, what).toBe(1);
        fs.write('/f', w, data.subarray(size + 10, size + 20), size + 10);
        expect(count.reads, `${what}, then kept again`).toBe(1);
      } finally {
        count.restore();
      }
      size += 20;
    }
    const other = fs.open('/f', 2);
    fs.write('/f', other, data.subarray(size, size + 7), size); // the other handle's append: the same cell
    size += 7;
    fs.write('/f', w, data.subarray(size, size + 9), size);
    size += 9;
    fs.release('/f', other);
    const r = fs.open('/f', 0);
    const want = Buffer.concat([data.subarray(0, 4400), data.subarray(4400, size)]);
    expect(readAll(fs, '/f', r).equals(want)).toBe(true);
    fs.release('/f', r);
    fs.release('/f', w);
    fs.closeAll();
  });

  it("FdLowerIO keeps the tail only while it is the file's end, and any write reaching it forgets it", () => {
    const path = join(dir, 'raw-tail');
    writeFileSync(path, Buffer.alloc(100, 1));
    const sizes = new LowerSizes();
    const fd = openSync(path, 'r+');
    const st = fstatSync(fd);
    const cell = sizes.take(st.dev, st.ino, st.size)!;
    const io = new FdLowerIO(fd, path, undefined, undefined, cell);
    const into = Buffer.alloc(40);
    expect(io.cachedTail(60, into)).toBe(false); // nothing kept yet
    io.keepTail(60, Buffer.alloc(40, 2)); // (not what the file holds: the cache is what the format says it wrote)
    expect(io.cachedTail(60, into)).toBe(true);
    expect(into.equals(Buffer.alloc(40, 2))).toBe(true);
    expect(io.cachedTail(50, Buffer.alloc(50))).toBe(false); // another range
    io.pwrite(Buffer.alloc(10, 3), 0); // before it: kept
    expect(io.cachedTail(60, into)).toBe(true);
    io.pwrite(Buffer.alloc(1, 3), 99); // into it: forgotten
    expect(io.cachedTail(60, into)).toBe(false);
    io.keepTail(60, Buffer.alloc(30, 2)); // not the file's end: not kept
    expect(io.cachedTail(60, Buffer.alloc(30))).toBe(false);
    io.keepTail(60, Buffer.alloc(40, 2));
    io.punch(0, 10);
    expect(io.cachedTail(60, into)).toBe(false);
    io.keepTail(60, Buffer.alloc(40, 2));
    expect(sizes.take(st.dev, st.ino, 100)).toBe(cell); // another open
    expect(io.cachedTail(60, into)).toBe(false);
    sizes.drop(cell);
    sizes.drop(cell);
    closeSync(fd);
  });
});

describe('FdLowerIO with a size cell', () => {
  it('follows its own writes and cuts, and asks fstat again after a change that failed', () => {
    const path = join(dir, 'raw');
    writeFileSync(path, Buffer.alloc(100));
    const sizes = new LowerSizes();
    const fd = openSync(path, 'r+');
    const st = fstatSync(fd);
    const cell = sizes.take(st.dev, st.ino, st.size)!;
    const io = new FdLowerIO(fd, path, undefined, undefined, cell);
    io.pwrite(Buffer.alloc(50, 1), 80);
    expect(io.size()).toBe(130);
    io.pwrite(Buffer.alloc(10, 1), 0); // inside: no change
    expect(cell.size).toBe(130);
    io.ftruncate(20);
    expect(io.size()).toBe(20);
    // a second handle of the same inode shares the cell
    const ro = openSync(path, 'r');
    const st2 = fstatSync(ro);
    expect(sizes.take(st2.dev, st2.ino, st2.size)).toBe(cell);
    const roIo = new FdLowerIO(ro, path, undefined, undefined, cell);
    io.pwrite(Buffer.alloc(5), 40);
    expect(roIo.size()).toBe(45);
    // ftruncate through a read-only descriptor fails: the size is asked again next time
    expect(() => roIo.ftruncate(0)).toThrow();
    expect(cell.size).toBe(-1);
    expect(roIo.size()).toBe(45);
    expect(cell.size).toBe(45);
    sizes.drop(cell);
    expect(sizes.open).toBe(1);
    sizes.drop(cell);
    expect(sizes.open).toBe(0);
    closeSync(ro);
    closeSync(fd);
  });

  it('keeps cells apart by device and inode, and ignores a drop of a cell it no longer holds or never gave', () => {
    const sizes = new LowerSizes();
    const a = sizes.take(1, 7, 10)!;
    const b = sizes.take(2, 7, 20)!; // same inode number, another device
    const c = sizes.take(1, 8, 30)!;
    expect(new Set([a, b, c]).size).toBe(3);
    expect([a.size, b.size, c.size]).toEqual([10, 20, 30]);
    expect(sizes.take(1, 7, 11)).toBe(a); // a second handle: the same cell, its size refreshed
    expect(a.size).toBe(11);
    expect(sizes.open).toBe(3);
    sizes.drop(a);
    sizes.drop(a);
    expect(sizes.open).toBe(2);
    sizes.drop(a); // already gone: nothing happens
    sizes.drop(new LowerSizes().take(2, 7, 0)); // another table's cell for the same inode
    sizes.drop({ size: 20 }); // not a cell at all
    expect(sizes.open).toBe(2);
    const again = sizes.take(1, 7, 5)!;
    expect(again).not.toBe(a); // a new cell once the old one went
    sizes.drop(b);
    sizes.drop(c);
    sizes.drop(again);
    expect(sizes.open).toBe(0);
  });

  it('shares no cell for an inode number a JS number cannot hold exactly', () => {
    const sizes = new LowerSizes();
    expect(sizes.take(1, 2 ** 53 + 2, 10)).toBeNull();
    expect(sizes.take(1, 0, 10)).toBeNull();
    expect(sizes.open).toBe(0);
  });
});
