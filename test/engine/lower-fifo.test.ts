// A volume mounted by root with --allow-other and shared the usual way
// (chmod 1777 on the mount root, which is the lower root's mode too) lets
// every local user write into the lower directory. One of them replaces the
// lower file of their own file with a fifo while the kernel still holds the
// file's attributes: the next open reaches the daemon as a regular file, and
// a blocking open of a fifo would stop the daemon (one thread) for good, and
// with it the mount for every user. The daemon opens lower files without
// blocking and refuses what is not a regular file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { asUser, makeVolume, type TestVolume } from './volume-helper.js';

const NOBODY = 65534;

/** Kills the daemon serving `lower` (a hung one does not go with fusermount). */
function killDaemon(lower: string): void {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
      if (args.includes('mount') && args.includes(lower)) process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

describe.skipIf(skipUnless('root', 'fuse', 'a lower fifo behind a cached regular file'))(
  'a lower file swapped for a fifo (allow_other, lower reachable)',
  () => {
    let v: TestVolume;

    beforeAll(() => {
      v = makeVolume({ allowOther: true });
      v.mount();
      chmodSync(v.mnt, 0o1777);
    });

    afterAll(() => {
      killDaemon(v.lower);
      v.cleanup();
    });

    it('the open fails at once and the mount goes on serving', () => {
      // the shared mount root made the lower root writable for everyone, as the user sees
      expect(statSync(v.lower).mode & 0o7777).toBe(0o1777);
      expect(asUser(NOBODY, NOBODY, 'echo mine > f && cat f', v.mnt).stdout).toBe('mine\n');
      const lowerName = readdirSync(v.lower).find((n) => !n.startsWith('homecrypt.'))!;
      // one shell: the file's attributes are still in the kernel's cache (1 s) when it is opened again
      const r = asUser(
        NOBODY,
        NOBODY,
        `cat f >/dev/null && rm ${join(v.lower, lowerName)} && mkfifo ${join(v.lower, lowerName)} && timeout -s KILL 10 cat f; echo "rc=$?"`,
        v.mnt,
      );
      // EIO or EINVAL, never a hang (timeout's 124) or the fifo's contents
      expect(r.stdout.trim()).toBe('rc=1');
      // the daemon still answers, for root and for the user
      const ls = spawnSync('timeout', ['10', 'ls', v.mnt], { encoding: 'utf8' });
      expect(ls.status).toBe(0);
      expect(asUser(NOBODY, NOBODY, 'echo again > g && timeout 10 cat g', v.mnt).stdout).toBe('again\n');
    }, 120_000);

    it("a directory's IV file (format 2) swapped for a fifo or a directory: EIO at once, said, and the mount goes on", () => {
      expect(asUser(NOBODY, NOBODY, 'mkdir p q && echo x > p/in && echo y > q/in', v.mnt).code).toBe(0);
      // a fresh daemon: neither IV is cached yet
      v.umount();
      v.mount();
      const dirs = readdirSync(v.lower)
        .filter((e) => !e.startsWith('homecrypt.') && statSync(join(v.lower, e)).isDirectory())
        .map((e) => join(v.lower, e));
      expect(dirs).toHaveLength(2);
      unlinkSync(join(dirs[0]!, 'homecrypt.diriv'));
      spawnSync('mkfifo', [join(dirs[0]!, 'homecrypt.diriv')]);
      unlinkSync(join(dirs[1]!, 'homecrypt.diriv'));
      mkdirSync(join(dirs[1]!, 'homecrypt.diriv'));
      for (const d of ['p', 'q']) {
        const r = spawnSync('timeout', ['-s', 'KILL', '10', 'ls', join(v.mnt, d)], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(2); // ls: EIO, never a hang (137)
        expect(r.stderr).toContain('Input/output error');
      }
      expect(v.log().match(/homecrypt\.diriv: is not a regular file/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
      expect(spawnSync('timeout', ['10', 'ls', v.mnt], { encoding: 'utf8' }).status).toBe(0);
    }, 120_000);
  },
);
