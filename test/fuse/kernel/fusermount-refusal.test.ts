// fusermount3's refusals as typed errors (src/fuse/kernel/fusermount-refusal.ts):
// its own words (libfuse 3.14's util/fusermount.c, each line starting with its
// name), named once in the message, with the exit status their type maps to.
import { describe, expect, it } from 'vitest';
import { fusermountRefusal, umount2Refusal, unmountRefusal } from '../../../src/fuse/kernel/fusermount-refusal.js';
import { MountBusyError } from '../../../src/errors.js';
import { exitCodeFor } from '../../../src/cli/exit-codes.js';

const MNT = '/home/alice/mnt';

describe("fusermount3's refusals", () => {
  it.each([
    ["fusermount3: option allow_other only allowed if 'user_allow_other' is set in /etc/fuse.conf", 11, /user_allow_other in \/etc\/fuse\.conf/],
    [`fusermount3: mountpoint ${MNT} not owned by user`, 11, /directory of your own/],
    [`fusermount3: user has no write access to mountpoint ${MNT}`, 11, /directory of your own/],
    ['fusermount3: failed to open /dev/fuse: Permission denied', 11, /\/dev\/fuse/],
    ["fusermount3: fuse device not found, try 'modprobe fuse' first", 7, /modprobe fuse/],
    ['fusermount3: too many FUSE filesystems mounted; mount_max=N can be set in /etc/fuse.conf', 8, /mount_max/],
    ['fusermount3: mounting over filesystem type 0x9fa0 is forbidden', 8, /local filesystem/],
    [`fusermount3: bad mount point ${MNT}: No such file or directory`, 2, /existing empty directory/],
    ['fusermount3: mount failed: Invalid argument', 1, /\/dev\/fuse usable/],
  ])('%s → exit %i, with what to do', (stderr, exit, hint) => {
    const err = fusermountRefusal(MNT, `${stderr}\n`, 1);
    expect(err.message).toBe(`FUSE mount at ${MNT} failed: ${stderr}`); // "fusermount3: " once
    expect(exitCodeFor(err)).toBe(exit);
    expect(err.hint).toMatch(hint);
  });

  it('names fusermount3 once on every line it wrote, and its exit status when it wrote nothing', () => {
    const two = fusermountRefusal(
      MNT,
      "fusermount3: note: 'large_read' mount option is deprecated for 6.1 kernels\nfusermount3: mount failed: Invalid argument\n",
      1,
    );
    expect(two.message).toBe(
      `FUSE mount at ${MNT} failed: fusermount3: note: 'large_read' mount option is deprecated for 6.1 kernels; mount failed: Invalid argument`,
    );
    expect(fusermountRefusal(MNT, '', 1).message).toBe(`FUSE mount at ${MNT} failed: fusermount3: exit status 1`);
  });

  it.each([
    [`fusermount3: failed to unmount ${MNT}: Device or resource busy`, 8, /fuser -vm '\/home\/alice\/mnt'/],
    [`fusermount3: entry for ${MNT} not found in /etc/mtab`, 2, /only the user who mounted it, or root/],
    [`fusermount3: ${MNT} not mounted`, 2, /findmnt/],
    [`fusermount3: failed to unmount ${MNT}: Invalid argument`, 2, /findmnt/],
    [`fusermount3: failed to unmount ${MNT}: No such file or directory`, 2, /findmnt/],
    [`fusermount3: failed to unmount ${MNT}: Operation not permitted`, 11, /only the user who mounted/],
    ['fusermount3: failed to chdir to /home/alice: Permission denied', 11, /only the user who mounted/],
    ['fusermount3: mountpoint moved (/home/alice -> /home/bob)', 8, /renamed/],
    ['fusermount3: failed to allocate memory', 1, /findmnt/],
  ])('unmounting: %s → exit %i, with what to do', (stderr, exit, hint) => {
    const err = unmountRefusal(MNT, `${stderr}\n`, 'fusermount3');
    expect(err.message).toBe(`cannot unmount ${MNT}: ${stderr}`); // "fusermount3: " once
    expect(exitCodeFor(err)).toBe(exit);
    expect(err.hint).toMatch(hint);
  });

  it("root's umount2 reads and maps as fusermount3's words; busy is the busy mount's refusal", () => {
    const busy = umount2Refusal(MNT, 'EBUSY');
    expect(busy).toBeInstanceOf(MountBusyError);
    expect(busy.message).toBe(`cannot unmount ${MNT}: umount2: Device or resource busy`);
    expect(exitCodeFor(umount2Refusal(MNT, 'EINVAL'))).toBe(2);
    expect(exitCodeFor(umount2Refusal(MNT, 'EPERM'))).toBe(11);
    expect(umount2Refusal(MNT, 'EIO').message).toBe(`cannot unmount ${MNT}: umount2: EIO`);
  });
});
