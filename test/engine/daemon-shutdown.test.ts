// A mount daemon's end once its mount is unmounted from outside (`homecrypt
// umount`, `fusermount -u`, as a logout does): it learns it from its FUSE
// connection at once, not at a later look at the mount table, then closes the
// engine (every write it acknowledged in the lower files, the flushes still
// running finished, every lower descriptor closed), lets go of the lower
// directory's lock, says so, and exits. What was written just before the
// unmount is all there after the next mount.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { makeVolume, until, type TestVolume } from './volume-helper.js';
import { lowerServer } from '../../src/engine/lower-lock.js';
import { processesOf } from '../../src/os/processes.js';
import { waitForExit } from '../helpers/processes.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe.skipIf(skipUnless('root', 'fuse', 'mount daemon shutdown tests'))('a mount daemon whose mount is unmounted', () => {
  let v: TestVolume;
  beforeAll(() => {
    // writes go through the engine: the lower directory on a small filesystem of its own
    v = makeVolume({ loopMiB: 64 });
  });
  afterAll(() => v.cleanup());

  it.each([
    ['homecrypt umount', () => v.umount()],
    ['fusermount -u', () => execFileSync('fusermount', ['-u', v.mnt])],
  ])(
    'after %s: ends with its connection, closes every lower file, lets go of the lock, then exits; what was written just before is all there',
    async (how, unmount) => {
      const logStart = v.log().length;
      v.mount();
      const daemon = Number(/\(pid (\d+)\)\n/.exec(v.log().slice(logStart))?.[1]);
      expect(daemon).toBeGreaterThan(1);
      // written right before the unmount, nothing synced: a large file, small ones, a rewrite inside one
      const tag = how.split(' ')[0]!;
      const files = new Map<string, Buffer>([
        [`${tag}-large`, randomBytes(6 << 20)],
        [`${tag}-small`, Buffer.from(`written just before ${how}\n`)],
      ]);
      for (let i = 0; i < 20; i++) files.set(`${tag}-many-${i}`, randomBytes(1000 + i * 517));
      for (const [name, data] of files) fs.writeFileSync(join(v.mnt, name), data);
      const patch = randomBytes(10_000);
      const fd = fs.openSync(join(v.mnt, `${tag}-large`), 'r+');
      fs.writeSync(fd, patch, 0, patch.length, 3_000_000);
      fs.closeSync(fd);
      patch.copy(files.get(`${tag}-large`)!, 3_000_000);

      unmount();
      await until('the daemon to say it is exiting', () => v.log().slice(logStart).includes(`exiting (pid ${daemon})`));
      const log = v.log().slice(logStart);
      // the connection's end told it, not a poll of the mount table; the engine closed before the last line
      expect(log).toMatch(
        new RegExp(
          `${v.mnt} was unmounted \\(its FUSE connection ended\\)\\n.* homecrypt: every lower file is written and closed; exiting \\(pid ${daemon}\\)\\n$`,
        ),
      );
      // by the time it says so, its lock is free (a new mount is not made to wait)
      expect(await lowerServer(v.lower, 0)).toBeNull();
      await waitForExit(daemon, 'the daemon');
      // what `homecrypt setup --undo` asks: no process of the user is left (a zombie is not one)
      expect(processesOf(0).map((p) => p.pid)).not.toContain(daemon);

      v.mount();
      try {
        for (const [name, data] of files) expect(sha(fs.readFileSync(join(v.mnt, name))), name).toBe(sha(data));
      } finally {
        v.umount();
      }
    },
  );

  it('whose connection is aborted (the mount left stale in the table): ends too, instead of polling the table until someone unmounts it', async () => {
    const logStart = v.log().length;
    v.mount();
    const daemon = Number(/\(pid (\d+)\)\n/.exec(v.log().slice(logStart))?.[1]);
    fs.writeFileSync(join(v.mnt, 'before-abort'), 'kept');
    try {
      const conn = fs.statSync(v.mnt).dev;
      // fusectl in a mount namespace of its own: nothing of the machine's mounts changes
      execFileSync('unshare', [
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        `mount -t fusectl none /sys/fs/fuse/connections && echo 1 > /sys/fs/fuse/connections/${conn}/abort`,
      ]);
      await until('the daemon to say it is exiting', () => v.log().slice(logStart).includes(`exiting (pid ${daemon})`));
      expect(v.log().slice(logStart)).toContain(`the FUSE connection of ${v.mnt} was aborted; its stale mount is left for homecrypt umount`);
      await waitForExit(daemon, 'the daemon');
    } finally {
      v.umount(); // the stale mount
    }
    v.mount();
    try {
      expect(fs.readFileSync(join(v.mnt, 'before-abort'), 'utf8')).toBe('kept');
    } finally {
      v.umount();
    }
  });
});
