// The lower fsyncs and closes that run on the pool (lower-flush.ts), and
// `settled`, which a daemon's shutdown waits on before it lets go of the lower
// directory's lock and exits: it resolves only once every one started or
// queued before it has finished, the queued ones too.
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { LowerFlushes } from '../../src/engine/lower-flush.js';

describe('LowerFlushes.settled', () => {
  let dir = '';
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  it('resolves at once when nothing runs', async () => {
    await new LowerFlushes().settled();
  });

  it('waits for every fsync and close started or queued before it, beyond the two that run at once', async () => {
    dir = fs.mkdtempSync('/tmp/hc-lower-flush-');
    const flushes = new LowerFlushes();
    const finished: string[] = [];
    const fds = [0, 1, 2, 3, 4].map((i) => {
      const fd = fs.openSync(join(dir, `f${i}`), 'w');
      fs.writeSync(fd, Buffer.alloc(64 << 10, i));
      return fd;
    });
    for (const [i, fd] of fds.entries()) void flushes.fsync(fd, i % 2 === 0).then(() => finished.push(`fsync ${i}`));
    for (const [i, fd] of fds.entries()) flushes.close(fd, () => finished.push(`close ${i} failed`));
    expect(flushes.idle).toBe(false);
    await flushes.settled();
    expect(finished.sort()).toEqual(['fsync 0', 'fsync 1', 'fsync 2', 'fsync 3', 'fsync 4']);
    // each close is done: its descriptor is no longer ours
    expect(fds.filter((fd) => fs.existsSync(`/proc/self/fd/${fd}`))).toEqual([]);
    expect(flushes.idle).toBe(true);
  });
});
