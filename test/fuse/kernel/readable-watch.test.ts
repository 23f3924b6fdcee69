// The event loop's own watch of a descriptor (watchReadable, kernel-mount.ts),
// which the bridge uses to wait for the next request between bursts: on a
// fifo standing in for /dev/fuse's clone, it calls back only once there is
// something to read, again while something is left, and never after close.
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { watchReadable, type ReadableWatch } from '../../../src/fuse/kernel/kernel-mount.js';

const turn = () => new Promise<void>((r) => setTimeout(r, 30));

describe('watchReadable', () => {
  let dir = '';
  let fd = -1;
  let watch: ReadableWatch | null = null;
  afterEach(() => {
    watch?.close();
    if (fd >= 0) fs.closeSync(fd);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    watch = null;
    fd = -1;
  });
  const fifo = () => {
    dir = fs.mkdtempSync('/tmp/hc-watch-');
    const p = join(dir, 'f');
    execFileSync('mkfifo', [p]);
    // read-write so that it never reports a hang-up, non-blocking like the clone
    fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    return fd;
  };

  it('this koffi gives the event loop a watch (no pool thread waits)', () => {
    watch = watchReadable(fifo(), () => undefined);
    expect(watch).not.toBeNull();
  });

  it('calls back once there is something to read, until it is read, and not after close', async () => {
    const f = fifo();
    let calls = 0;
    let read = '';
    let drain = false;
    watch = watchReadable(f, () => {
      calls++;
      if (!drain) return;
      const b = Buffer.alloc(64);
      read += b.subarray(0, fs.readSync(f, b)).toString();
    });
    await turn();
    expect(calls).toBe(0);
    fs.writeSync(f, 'one');
    await turn();
    // level-triggered: unread bytes keep it calling
    expect(calls).toBeGreaterThan(1);
    drain = true;
    await turn();
    expect(read).toBe('one');
    const after = calls;
    await turn();
    expect(calls).toBe(after);
    watch!.close();
    watch = null;
    fs.writeSync(f, 'two');
    await turn();
    expect(calls).toBe(after);
  });
});
