// pjdfstest (github.com/pjd/pjdfstest) on an --allow-other mount, run as root
// from inside the mount, for the files that check what a caller other than the
// daemon may do and what it then owns (docs/POSIX.md has the whole suite's
// results, next to gocryptfs's). pjdfstest is not in Debian and CI reaches
// only npm and Debian, so it is built by hand at PJDFSTEST_DIR; without it
// this test is skipped with that reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PJDFSTEST_DIR, skipUnless } from '../helpers/requirements.js';
import { execFile } from 'node:child_process';
import { makeVolume, type TestVolume } from './volume-helper.js';

// a few minutes here; each of these failed before callers got their own entries
const FILES = [
  'chmod/05.t', 'chmod/07.t', 'chmod/12.t', 'chown/05.t', 'ftruncate/05.t', 'truncate/05.t', 'link/06.t', 'link/07.t',
  'mkdir/00.t', 'mknod/00.t', 'open/00.t', 'open/06.t', 'open/07.t', 'rmdir/11.t',
];

describe.skipIf(skipUnless('fuse', 'root', 'pjdfstest', 'pjdfstest on an --allow-other mount'))('pjdfstest', () => {
  let v: TestVolume;
  let work: string;
  beforeAll(() => {
    v = makeVolume({ allowOther: true });
    v.mount();
    work = join(v.mnt, 'w');
    mkdirSync(work);
    chmodSync(work, 0o777);
  });
  afterAll(() => {
    try { v.umount(); } finally { v.cleanup(); }
  });

  it('passes the permission and ownership files as ext4 does', async () => {
    // (volume-helper's run stops a command at 2 minutes: too short for these on a loaded machine)
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((res) => {
      execFile('prove', FILES.map((f) => `${PJDFSTEST_DIR}/tests/${f}`), { cwd: work, timeout: 540_000, maxBuffer: 16 << 20 },
        (err, stdout, stderr) => res({ code: err ? 1 : 0, stdout: String(stdout), stderr: String(stderr) }));
    });
    const failed = r.stdout.split('\n').filter((l) => /Failed|Wstat/.test(l) || /\.t \.+\s*$/.test(l));
    expect(failed.join('\n') + r.stderr.slice(-2000)).not.toMatch(/Failed|Wstat/);
    expect(r.stdout).toContain('All tests successful');
    expect(r.code).toBe(0);
  }, 600_000);
});
