// Faults and bad input: tampering of every kind gives EIO and a log line
// naming the lower file; fsck reports it; a SIGKILLed daemon loses nothing
// already written and its stale mount is cleaned up; a full or read-only
// lower filesystem gives clean errors and keeps what was written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { skipUnless } from '../helpers/requirements.js';
import { waitForExit } from '../helpers/processes.js';
import { hc, makeVolume, PASS, type TestVolume } from './volume-helper.js';
import { LAYOUT_V2 } from '../../src/format/block-offsets.js';
import { FILE_HEADER_BYTES } from '../../src/format/file-header.js';

// volumes made by init are format 2: blocks start after the write record slot
const lowerOffsetOfBlock = (b: number): number => LAYOUT_V2.lowerOffsetOfBlock(b);

const errCode = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
  return undefined;
};

/** The lower files, newest last (names are encrypted, so order tells which is which). */
function lowerRegularFiles(dir: string): string[] {
  const out: { p: string; t: number }[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && !e.name.startsWith('homecrypt.') && !e.name.endsWith('~name'))
        out.push({ p, t: fs.statSync(p).birthtimeMs || fs.statSync(p).ctimeMs });
    }
  };
  walk(dir);
  return out.sort((a, b) => a.t - b.t).map((x) => x.p);
}

describe.skipIf(skipUnless('fuse', 'engine fault tests'))('faults and bad input', () => {
  let v: TestVolume;
  beforeAll(() => {
    v = makeVolume();
    v.mount();
  });
  afterAll(() => {
    try {
      v.umount();
    } catch {
      /* already */
    } finally {
      v.cleanup();
    }
  });

  /** Writes a fresh file through the mount and returns its lower path. */
  function fresh(name: string, bytes: Buffer): string {
    const before = new Set(lowerRegularFiles(v.lower));
    fs.writeFileSync(join(v.mnt, name), bytes);
    // the last write reaches the lower file just after its reply
    // (engine/after-reply.ts); an fsync through the mount orders it first
    const fd = fs.openSync(join(v.mnt, name), 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    const added = lowerRegularFiles(v.lower).filter((p) => !before.has(p));
    expect(added).toHaveLength(1);
    return added[0]!;
  }

  it('a clean volume passes fsck', () => {
    fs.writeFileSync(join(v.mnt, 'ok.txt'), 'fine');
    const r = hc(['fsck', v.lower, '--passphrase-fd', '0'], `${PASS}\n`);
    expect(r.stdout).toMatch(/all authentic/);
    expect(r.code).toBe(0);
  });

  it('flipped bits, swapped blocks, truncation, moved blocks and headers: EIO and a log line', () => {
    const cases: Array<[string, (lower: string, other: string) => void]> = [
      [
        'bitflip',
        (l) => {
          const b = fs.readFileSync(l);
          b[lowerOffsetOfBlock(1) + 40]! ^= 4;
          fs.writeFileSync(l, b);
        },
      ],
      [
        'swap',
        (l) => {
          const b = fs.readFileSync(l);
          const x = Buffer.from(b.subarray(lowerOffsetOfBlock(0), lowerOffsetOfBlock(1)));
          b.copy(b, lowerOffsetOfBlock(0), lowerOffsetOfBlock(1), lowerOffsetOfBlock(2));
          x.copy(b, lowerOffsetOfBlock(1));
          fs.writeFileSync(l, b);
        },
      ],
      ['truncate-at-block', (l) => fs.truncateSync(l, lowerOffsetOfBlock(2))],
      ['truncate-inside', (l) => fs.truncateSync(l, fs.statSync(l).size - 5)],
      [
        'cross-file-block',
        (l, o) => {
          const b = fs.readFileSync(l);
          fs.readFileSync(o).copy(b, lowerOffsetOfBlock(1), lowerOffsetOfBlock(1), lowerOffsetOfBlock(2));
          fs.writeFileSync(l, b);
        },
      ],
      [
        'header-swap',
        (l, o) => {
          const b = fs.readFileSync(l);
          fs.readFileSync(o).copy(b, 0, 0, FILE_HEADER_BYTES);
          fs.writeFileSync(l, b);
        },
      ],
    ];
    const other = fresh('other.bin', randomBytes(5 * 4096));
    for (const [name, tamper] of cases) {
      const lower = fresh(`${name}.bin`, randomBytes(3 * 4096 + 500));
      tamper(lower, other);
      expect(
        errCode(() => fs.readFileSync(join(v.mnt, `${name}.bin`))),
        name,
      ).toBe('EIO');
      expect(v.log(), name).toContain(lower);
    }
    const r = hc(['fsck', v.lower, '--passphrase-fd', '0'], `${PASS}\n`);
    expect(r.code).toBe(1);
    for (const [name] of cases) expect(r.stdout).toContain(`/${name}.bin`);
    expect(r.stdout).not.toContain('/other.bin');
    expect(r.stdout).toMatch(/6 problem/);
    for (const [name] of cases) fs.unlinkSync(join(v.mnt, `${name}.bin`));
  });

  it('a tampered or foreign lower name is hidden, logged and reported', () => {
    fs.writeFileSync(join(v.mnt, 'named'), 'x');
    const lowerName = fs.readdirSync(v.lower).find((n) => {
      try {
        return fs.readFileSync(join(v.mnt, 'named')) && n.length > 20 && lowerRegularFiles(v.lower).includes(join(v.lower, n));
      } catch {
        return false;
      }
    });
    expect(lowerName).toBeDefined();
    fs.writeFileSync(join(v.lower, 'foreign.txt'), 'dropped in from outside');
    const names = fs.readdirSync(v.mnt);
    expect(names).not.toContain('foreign.txt');
    expect(v.log()).toContain(join(v.lower, 'foreign.txt'));
    const r = hc(['fsck', v.lower, '--passphrase-fd', '0'], `${PASS}\n`);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('foreign.txt');
    fs.unlinkSync(join(v.lower, 'foreign.txt'));
  });

  it('a symlink with a tampered target reads as EIO', () => {
    const before = new Set(fs.readdirSync(v.lower));
    fs.symlinkSync('/some/where', join(v.mnt, 'lnk'));
    const lowerLink = fs.readdirSync(v.lower).find((n) => !before.has(n))!;
    const t = fs.readlinkSync(join(v.lower, lowerLink));
    fs.unlinkSync(join(v.lower, lowerLink));
    fs.symlinkSync(`${t.slice(0, 4)}${t[4] === 'A' ? 'B' : 'A'}${t.slice(5)}`, join(v.lower, lowerLink));
    expect(errCode(() => fs.readlinkSync(join(v.mnt, 'lnk')))).toBe('EIO');
    fs.unlinkSync(join(v.mnt, 'lnk'));
  });

  it("a file swapped for a symlink in the lower directory: chmod through the mount is EIO and never changes the link's target", () => {
    // A root daemon (--allow-other) would otherwise chmod any file the planted
    // link names, with the permission the kernel checked on the cached entry.
    const outside = fs.mkdtempSync(join(v.lower, '..', 'outside-'));
    try {
      const target = join(outside, 'secret');
      fs.writeFileSync(target, 'root only');
      fs.chmodSync(target, 0o600);
      const lower = fresh('chmod-victim', Buffer.from('x'));
      expect(fs.statSync(join(v.mnt, 'chmod-victim')).mode & 0o777).toBe(0o644); // the kernel now holds its attributes
      fs.unlinkSync(lower);
      fs.symlinkSync(target, lower);
      expect(errCode(() => fs.chmodSync(join(v.mnt, 'chmod-victim'), 0o666))).toBe('EIO');
      expect(fs.statSync(target).mode & 0o7777).toBe(0o600);
      expect(v.log()).toMatch(/EIO: chmod: .*a symlink in the lower directory/);
      fs.unlinkSync(lower);
      // the kernel still holds the deleted file's node (its inode number):
      // new files, which the lower filesystem may give that number, work
      for (let i = 0; i < 4; i++) {
        const p = join(v.mnt, `after-chmod-${i}`);
        fs.writeFileSync(p, 'a');
        fs.appendFileSync(p, 'b');
        expect(fs.readFileSync(p, 'utf8')).toBe('ab');
        fs.unlinkSync(p);
      }
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('kill -9 of the daemon mid-write: files stay readable, the stale mount is cleaned, mount works again', async () => {
    const stable = randomBytes(300_000);
    fs.writeFileSync(join(v.mnt, 'stable.bin'), stable);
    // a writer streaming into several files
    const writer = spawn('sh', ['-c', `i=0; while :; do i=$((i+1)); head -c 200000 /dev/urandom >> "${v.mnt}/stream-$((i % 3))" || exit 0; done`], {
      stdio: 'ignore',
    });
    await new Promise((r) => setTimeout(r, 1500));
    const pid = Number(/\(pid (\d+)\)\n(?![\s\S]*\(pid \d+\))/.exec(v.log())?.[1]);
    expect(pid).toBeGreaterThan(1);
    process.kill(pid, 'SIGKILL');
    await new Promise((r) => writer.on('exit', r));
    // The writer can end before the connection is torn down: its request on
    // the daemon's clone of /dev/fuse is aborted when that descriptor closes,
    // and a request made before the last one closes gets ECONNABORTED. Once
    // the daemon has exited every descriptor is closed.
    await waitForExit(pid, 'the killed daemon');
    expect(errCode(() => fs.readdirSync(v.mnt))).toBe('ENOTCONN');
    v.umount(); // cleans the stale mount
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${v.mnt} `);
    v.mount();
    expect(fs.readFileSync(join(v.mnt, 'stable.bin')).equals(stable)).toBe(true);
    for (const n of ['stream-0', 'stream-1', 'stream-2']) {
      const p = join(v.mnt, n);
      if (!fs.existsSync(p)) continue;
      const data = fs.readFileSync(p); // no EIO: every byte that reached the lower file is whole
      expect(data.length).toBe(fs.statSync(p).size);
      fs.unlinkSync(p);
    }
  });

  it('a second mount at a busy mount point is refused; stale mounts are cleaned by mount too', () => {
    const r = hc(['mount', v.lower, v.mnt, '--passphrase-fd', '0'], `${PASS}\n`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/already mounted/);
  });

  it('the same lower directory at a second mount point is refused (two daemons would overwrite each other), also through a symlink', () => {
    const other = fs.mkdtempSync('/tmp/hc-second-mnt-');
    const link = `${other}-lower-link`;
    fs.symlinkSync(v.lower, link);
    try {
      for (const lower of [v.lower, link]) {
        const r = hc(['mount', lower, other, '--passphrase-fd', '0'], `${PASS}\n`);
        expect(r.code, r.stderr).toBe(8);
        expect(r.stderr).toContain(`is already mounted at ${v.mnt}`);
        expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${other} `);
      }
    } finally {
      fs.rmSync(link);
      fs.rmdirSync(other);
    }
  });
});

describe.skipIf(skipUnless('root', 'fuse', 'engine full-disk tests'))('a full or read-only lower filesystem', () => {
  let dir: string;
  let mnt: string;
  let lower: string;
  beforeAll(() => {
    dir = fs.mkdtempSync('/tmp/hc-full-');
    fs.mkdirSync(join(dir, 'fs'));
    mnt = join(dir, 'mnt');
    fs.mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'hc-test-tmpfs', join(dir, 'fs')]);
    lower = join(dir, 'fs', 'lower');
    const r = hc(['init', lower, '--passphrase-fd', '0', '--kdf-time', '0.05'], `${PASS}\n`);
    expect(r.code).toBe(0);
    expect(hc(['mount', lower, mnt, '--passphrase-fd', '0', '--log-file', join(dir, 'log')], `${PASS}\n`).code).toBe(0);
  });
  afterAll(() => {
    try {
      execFileSync('fusermount', ['-u', '-z', mnt], { stdio: 'ignore' });
    } catch {
      /* gone */
    }
    try {
      execFileSync('umount', ['-l', join(dir, 'fs')], { stdio: 'ignore' });
    } catch {
      /* gone */
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('ENOSPC on a full disk, and what was written stays whole', () => {
    const keep = randomBytes(1_000_000);
    fs.writeFileSync(join(mnt, 'keep'), keep);
    const fd = fs.openSync(join(mnt, 'fill'), 'w');
    const chunk = randomBytes(100_000);
    let written = 0;
    const parts: Buffer[] = [];
    let code: string | undefined;
    try {
      for (let i = 0; i < 100; i++) {
        const n = fs.writeSync(fd, chunk);
        parts.push(chunk.subarray(0, n)); // a short write is allowed
        written += n;
      }
    } catch (err) {
      code = (err as NodeJS.ErrnoException).code;
    }
    fs.closeSync(fd);
    expect(code).toBe('ENOSPC');
    expect(fs.readFileSync(join(mnt, 'keep')).equals(keep)).toBe(true);
    const fill = fs.readFileSync(join(mnt, 'fill')); // no EIO: the failed write was rolled back
    expect(fill.length).toBe(written);
    expect(fill.equals(Buffer.concat(parts))).toBe(true);
  });

  it('a read-only lower filesystem: reads work, writes get EROFS', () => {
    fs.unlinkSync(join(mnt, 'fill'));
    execFileSync('mount', ['-o', 'remount,ro', join(dir, 'fs')]);
    try {
      expect(fs.readFileSync(join(mnt, 'keep')).length).toBe(1_000_000);
      expect(errCode(() => fs.writeFileSync(join(mnt, 'new'), 'x'))).toBe('EROFS');
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', join(dir, 'fs')]);
    }
  });
});
