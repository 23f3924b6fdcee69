// Writes that finish after their reply (src/engine/after-reply.ts and
// FdLowerIO.writeAfterReply): the space is reserved first (so a full disk
// fails the write itself), a queued write runs before anything else touches
// the file, and a write that fails anyway is logged and returned by the
// file's next operation, once.
import { afterEach, describe, expect, it } from 'vitest';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AfterReply } from '../../src/engine/after-reply.js';
import { FdLowerIO } from '../../src/engine/fd-lower-io.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function lowerFile(): { io: FdLowerIO; path: string; fd: number; after: AfterReply; log: string[] } {
  const d = mkdtempSync(join(tmpdir(), 'hc-after-reply-'));
  dirs.push(d);
  const path = join(d, 'f');
  const fd = openSync(path, 'w+');
  const after = new AfterReply();
  const log: string[] = [];
  return { io: new FdLowerIO(fd, path, after, (l) => log.push(l)), path, fd, after, log };
}

describe('writes finished after their reply', () => {
  it('reserve the space, run after the reply, and before any other access to the file', () => {
    const { io, path, fd, after } = lowerFile();
    const data = Buffer.alloc(128 * 1024, 'sealed bytes');
    expect(io.writeAfterReply(0, 10, () => io.pwrite(data, 0))).toBe(false); // small writes stay inline
    expect(io.writeAfterReply(0, data.length, () => io.pwrite(data, 0))).toBe(true);
    expect(fstatSync(fd).blocks).toBeGreaterThan(0); // allocated before the reply
    expect(readFileSync(path).length).toBe(0); // not written yet
    expect(io.size()).toBe(data.length); // any access runs it first
    expect(readFileSync(path).equals(data)).toBe(true);
    // a second queued write runs the first before it queues
    const order: number[] = [];
    io.writeAfterReply(0, 1 << 16, () => order.push(1));
    io.writeAfterReply(0, 1 << 16, () => order.push(2));
    expect(order).toEqual([1]);
    after.run();
    expect(order).toEqual([1, 2]);
    after.run();
    expect(order).toEqual([1, 2]);
    closeSync(fd);
  });

  it('a write that fails after its reply is logged and returned once by the next operation', () => {
    const { io, fd, after, log } = lowerFile();
    const boom = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO', errno: -5 });
    expect(
      io.writeAfterReply(0, 1 << 16, () => {
        throw boom;
      }),
    ).toBe(true);
    after.run();
    expect(log.join('\n')).toMatch(/a write failed after it was acknowledged: EIO/);
    expect(() => io.size()).toThrow(boom);
    expect(io.size()).toBe(0);
    closeSync(fd);
  });

  it('without an after-reply hook, or where fallocate fails, the caller writes inline', () => {
    const { path, fd } = lowerFile();
    const plain = new FdLowerIO(fd, path);
    expect(plain.writeAfterReply(0, 1 << 16, () => undefined)).toBe(false);
    const ro = openSync(path, 'r');
    const after = new AfterReply();
    // fallocate on a read-only descriptor: EBADF, thrown as the write's own error
    expect(() => new FdLowerIO(ro, path, after).writeAfterReply(0, 1 << 16, () => undefined)).toThrow(/EBADF|errno 9/);
    closeSync(ro);
    closeSync(fd);
  });
});
