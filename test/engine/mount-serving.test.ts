// Which listed mount already serves a lower directory (mount-daemon.ts,
// mountServing): only homecrypt mounts made by the caller or root count, so
// another user naming a FUSE mount of theirs after someone's lower directory
// cannot keep that person's mount (or login) from happening.
import { describe, expect, it } from 'vitest';
import { mountServing } from '../../src/engine/mount-daemon.js';
import type { MountEntry } from '../../src/os/mounts.js';

const LOWER = '/home/.homecrypt/alice/lower';
const ALICE = 1001;
const MALLORY = 1002;
const inodes: Record<string, { dev: number; ino: number }> = {
  [LOWER]: { dev: 8, ino: 42 },
  '/home/alice/.other': { dev: 8, ino: 43 },
};
const stat = (p: string) => inodes[p] ?? null;
const entry = (mountPoint: string, source: string, uid: number, fsType = 'fuse.homecrypt'): MountEntry => ({
  mountPoint,
  fsType,
  source,
  superOptions: `rw,user_id=${uid},group_id=${uid},default_permissions`,
});

describe('mountServing', () => {
  it("finds the caller's own mount of the lower directory, and root's", () => {
    expect(mountServing([entry('/home/alice', `homecrypt:${LOWER}`, ALICE)], inodes[LOWER]!, ALICE, stat)?.mountPoint).toBe('/home/alice');
    expect(mountServing([entry('/mnt/x', `homecrypt:${LOWER}`, 0)], inodes[LOWER]!, ALICE, stat)?.mountPoint).toBe('/mnt/x');
  });

  it("ignores another user's mount that names the lower directory, and mounts of other types or other lowers", () => {
    const mounts = [
      entry('/home/mallory/m', `homecrypt:${LOWER}`, MALLORY),
      entry('/home/alice/y', `homecrypt:${LOWER}`, ALICE, 'fuse.sshfs'),
      entry('/home/alice/z', 'homecrypt:/home/alice/.other', ALICE),
      entry('/home/alice/w', `other:${LOWER}`, ALICE),
      entry('/home/alice/gone', 'homecrypt:/nowhere', ALICE),
    ];
    expect(mountServing(mounts, inodes[LOWER]!, ALICE, stat)).toBeNull();
  });
});
