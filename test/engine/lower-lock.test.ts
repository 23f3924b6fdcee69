// One daemon per lower directory, also when its mount is out of the mount
// table: a mount lazily detached (`umount -l`, as a logout does when a process
// is still inside) keeps its daemon serving that process, and a second
// `homecrypt mount` of the same lower directory is refused (exit 8) by the
// lock the first daemon holds, until the last process inside lets go.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { skipUnless } from '../helpers/requirements.js';
import { hasExited, waitForExit } from '../helpers/processes.js';
import { hc, makeVolume, PASS, until, type TestVolume } from './volume-helper.js';
import { RefusedError } from '../../src/errors.js';
import { startMountDaemon } from '../../src/engine/mount-daemon.js';
import { keystorePathOf, readVolumeConfig } from '../../src/engine/volume.js';
import { unwrapKeyStore } from '../../src/keys/key-store.js';
import { takeLowerLock } from '../../src/engine/lower-lock.js';

const mounted = (mnt: string): boolean => fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `);

describe.skipIf(skipUnless('root', 'fuse', 'lower directory lock tests'))('a lower directory served by a lazily detached mount', () => {
  let v: TestVolume;
  let other: string;
  let holder: ChildProcess | null = null;
  beforeAll(() => {
    // writes go through the engine: the lower directory on a small filesystem of its own
    v = makeVolume({ loopMiB: 16 });
    other = join(v.dir, 'other');
    fs.mkdirSync(other);
  });
  afterAll(() => {
    holder?.kill('SIGKILL');
    for (const m of [other, v.mnt]) {
      try {
        execFileSync('fusermount', ['-u', '-z', m], { stdio: 'ignore' });
      } catch {
        /* not mounted */
      }
    }
    v.cleanup();
  });

  it('refuses a second mount (exit 8, naming the daemon) until the last process inside the detached mount has exited', async () => {
    v.mount();
    fs.writeFileSync(join(v.mnt, 'kept.txt'), 'written before the logout');
    const daemon = Number(/\(pid (\d+)\)\n(?![\s\S]*\(pid \d+\))/.exec(v.log())?.[1]);
    expect(daemon).toBeGreaterThan(1);
    // a process left inside, as after a logout: its working directory and an open file
    holder = spawn('sh', ['-c', 'exec 3<kept.txt; exec sleep 600'], { cwd: v.mnt, stdio: 'ignore' });
    await until('the holder to start', () => fs.existsSync(`/proc/${holder!.pid}/fd/3`));
    execFileSync('umount', ['-l', v.mnt]);
    expect(mounted(v.mnt)).toBe(false);
    // the daemon still serves the holder through the detached mount
    expect(fs.readFileSync(`/proc/${holder.pid}/fd/3`, 'utf8')).toBe('written before the logout');
    expect(hasExited(daemon)).toBe(false);

    const r = hc(['mount', v.lower, other, '--passphrase-fd', '0', '--log-file', join(v.dir, 'other.log')], `${PASS}\n`);
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toContain(`${v.lower} is being served by another homecrypt daemon (pid ${daemon})`);
    expect(r.stderr).toContain('a mount lazily detached at logout keeps serving until the last process inside it exits');
    expect(mounted(other)).toBe(false);
    // fsck waits a moment for a daemon that might be ending, then warns of this one, which is not
    const f = hc(['fsck', v.lower, '--passphrase-fd', '0'], `${PASS}\n`);
    expect(f.code, f.stderr).toBe(0);
    expect(f.stderr).toContain(`warning: a homecrypt daemon (pid ${daemon}) is serving ${v.lower}`);

    // the holder exits, the detached mount's connection ends, and so does its daemon
    holder.kill('SIGKILL');
    holder = null;
    await waitForExit(daemon, 'the first daemon');
    // its lower files closed and its lock let go in order, once the detached mount's connection ended
    expect(v.log()).toMatch(
      new RegExp(
        `the connection of the detached mount ${v.mnt} has ended\\n.* homecrypt: every lower file is written and closed; exiting \\(pid ${daemon}\\)\\n`,
      ),
    );
    const again = hc(['mount', v.lower, other, '--passphrase-fd', '0', '--log-file', join(v.dir, 'other.log')], `${PASS}\n`);
    expect(again.code, again.stderr).toBe(0);
    expect(fs.readFileSync(join(other, 'kept.txt'), 'utf8')).toBe('written before the logout');
    // unmounted, then mounted again at once: the daemon that served lets go as its mount goes
    expect(hc(['umount', other]).code).toBe(0);
    const third = hc(['mount', v.lower, other, '--passphrase-fd', '0', '--log-file', join(v.dir, 'other.log')], `${PASS}\n`);
    expect(third.code, third.stderr).toBe(0);
    expect(hc(['umount', other]).code).toBe(0);
  });

  it('a daemon started while another serves refuses before mounting, and its refusal reaches `homecrypt mount` typed over the ready pipe', async () => {
    v.mount();
    const first = Number(/\(pid (\d+)\)\n(?![\s\S]*\(pid \d+\))/.exec(v.log())?.[1]);
    try {
      // the daemon itself, without the check `homecrypt mount` makes before it starts one
      const config = readVolumeConfig(v.lower);
      const { mountKey } = await unwrapKeyStore(keystorePathOf(v.lower, config)!, Buffer.from(PASS));
      const logFile = join(v.dir, 'second-daemon.log');
      const err = await startMountDaemon(v.lower, other, [mountKey], { logFile }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RefusedError);
      expect((err as Error).message).toContain(`mount failed: ${v.lower} is being served by another homecrypt daemon (pid ${first})`);
      expect(mounted(other)).toBe(false);
    } finally {
      v.umount();
    }
  });

  it('fsck of a lower directory a daemon serves warns, and still checks it', async () => {
    v.mount();
    let daemon: number | undefined;
    try {
      const r = hc(['fsck', v.lower, '--passphrase-fd', '0'], `${PASS}\n`);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/all authentic/);
      expect(r.stderr).toMatch(/warning: a homecrypt daemon \(pid \d+\) is serving/);
      daemon = Number(/\(pid (\d+)\) is serving/.exec(r.stderr)?.[1]);
    } finally {
      v.umount();
    }
    // the daemon lets go of its lock as it exits, just after the unmount returns: fsck at once
    // waits for that instead of warning
    expect(daemon).toBeGreaterThan(1);
    const quiet = hc(['fsck', v.lower, '--passphrase-fd', '0'], `${PASS}\n`);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).not.toMatch(/warning/);
    await waitForExit(daemon!, 'the daemon');
  });
});

describe('takeLowerLock', () => {
  it('goes on without the lock where none can be taken, saying so in one line', async () => {
    const lines: string[] = [];
    const lock = await takeLowerLock('/nonexistent/homecrypt-lower', (l) => lines.push(l), 0);
    lock.release();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/cannot be locked \(open: ENOENT\); going on without the lock/);
  });

  it('refuses a second taker of the same directory, by inode, while the first holds it', async () => {
    const dir = fs.mkdtempSync('/tmp/hc-lower-lock-');
    const link = `${dir}-link`;
    fs.symlinkSync(dir, link);
    try {
      const first = await takeLowerLock(dir, () => undefined, 0);
      await expect(takeLowerLock(link, () => undefined, 100)).rejects.toThrow(
        new RegExp(`${link} is being served by another homecrypt daemon \\(pid ${process.pid}\\)`),
      );
      first.release();
      (await takeLowerLock(link, () => undefined, 0)).release();
    } finally {
      fs.rmSync(link);
      fs.rmdirSync(dir);
    }
  });
});
