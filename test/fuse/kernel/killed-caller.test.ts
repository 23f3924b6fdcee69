// FUSE_INTERRUPT: a process killed while it waits for a slow operation of the
// mount goes away at once, and the daemon keeps answering everyone else. The
// slow operation is real: the engine's lower directory is itself a FUSE mount
// (bench/bridge-serve.mjs passthrough, on a small loop-mounted ext4) whose
// fsync waits while a file of ours exists, as a slow device flushing would.
// Before interrupts were handled, the engine blocked in fsync(2) on its JS
// thread: every other request of the mount waited too, and the killed process
// stayed in the kernel until the stall ended (so did the unmount).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { skipUnless } from '../../helpers/requirements.js';
import { serve, type Served } from './bridge-serve-helper.js';
import { BIN } from '../../helpers/ecryptfs.js';
import { waitForExit } from '../../helpers/processes.js';
import { until } from '../../helpers/wait.js';

const within = <T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> => Promise.race([p, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms))]);

describe.skipIf(skipUnless('root', 'fuse', 'loop', 'FUSE interrupts'))('a process killed in a slow operation', () => {
  let dir: string;
  let fsDir: string;
  let mid: string;
  let mnt: string;
  let stall: string;
  let lowerFs: Served;
  let engine: Served;

  beforeAll(async () => {
    dir = fs.mkdtempSync('/tmp/hc-interrupt-');
    const img = join(dir, 'img');
    fsDir = join(dir, 'fs');
    mid = join(dir, 'mid');
    mnt = join(dir, 'mnt');
    stall = join(dir, 'stall');
    for (const d of [fsDir, mid, mnt]) fs.mkdirSync(d);
    fs.closeSync(fs.openSync(img, 'w'));
    fs.truncateSync(img, 32 << 20);
    execFileSync('mkfs.ext4', ['-q', '-F', img]);
    execFileSync('mount', ['-o', 'loop', img, fsDir]);
    fs.mkdirSync(join(fsDir, 'lower'));
    lowerFs = await serve('passthrough', join(fsDir, 'lower'), mid, { HOMECRYPT_TEST_STALL: stall });
    engine = await serve('homecrypt', join(mid, 'vol'), mnt);
  });

  afterAll(async () => {
    fs.rmSync(stall, { force: true });
    for (const [s, m] of [
      [engine, mnt],
      [lowerFs, mid],
    ] as const) {
      if (s && s.child.exitCode === null) {
        s.child.kill('SIGTERM');
        await within(s.exited, 5000);
      }
      spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    }
    spawnSync('umount', ['-l', join(dir, 'mnt2')], { stdio: 'ignore' }); // the second test's stale mount, if it failed midway
    if (spawnSync('umount', [fsDir], { stdio: 'ignore' }).status !== 0) spawnSync('umount', ['-l', fsDir], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gets its answer at once; the mount keeps serving and unmounts cleanly', async () => {
    const file = join(mnt, 'data');
    fs.writeFileSync(file, Buffer.alloc(256 * 1024, 7));
    fs.writeFileSync(stall, '');
    // fsync(2) through the mount: the engine's fsync of its lower file waits on the stalled lower mount
    const caller = spawn('python3', ['-c', 'import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY); os.fsync(fd)', file], { stdio: 'ignore' });
    const gone = new Promise<number | null>((res) => caller.on('exit', (c) => res(c)));
    // the bounds below are generous (a loaded machine takes seconds to start a
    // python): what they tell apart is "answered while the stall lasts" from
    // "stuck until the stall ends", and the stall lasts until this test ends it
    await until('the lower fsync to stall', () => fs.existsSync(`${stall}.hit`), 60_000);
    caller.kill('SIGKILL');
    try {
      // the killed process is reaped at once (before: stuck in the kernel until the stall ended)
      expect(await within(gone, 20_000)).not.toBe('timeout');
      // other requests are answered meanwhile, the lower fsync still stalled
      // (in a child: a request the daemon never answers must not hang this test)
      const t0 = Date.now();
      const ls = spawnSync('sh', ['-c', `stat -c %s "${file}" && ls "${mnt}" && head -c 5 "${file}" | od -An -tu1`], {
        encoding: 'utf8',
        timeout: 20_000,
        killSignal: 'SIGKILL',
      });
      expect(ls.status, ls.stderr).toBe(0);
      expect(ls.stdout).toMatch(/^262144\ndata\n\s+7\s+7\s+7\s+7\s+7\n$/);
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect(fs.existsSync(stall)).toBe(true);
    } finally {
      fs.rmSync(stall, { force: true });
    }
    // the abandoned fsync finishes once the lower mount answers, and the mount then unmounts as usual (not lazily)
    const um = spawnSync('umount', [mnt], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
    expect(um.status, um.stderr).toBe(0);
    expect(await within(engine.exited, 30_000)).toBe(0);
  });
  it('an fsync still running when the connection is aborted writes no answer after its end; the daemon closes its lower files and exits', async () => {
    // the real daemon (`homecrypt mount`), whose end waits for that fsync: bridge-serve exits at once
    const vol = join(mid, 'vol2');
    const mnt2 = join(dir, 'mnt2');
    const log = join(dir, 'mnt2.log');
    fs.mkdirSync(mnt2);
    const hc = (args: string[]) => spawnSync(BIN, args, { input: 'abort-test-pass\n', encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
    expect(hc(['init', vol, '--passphrase-fd', '0', '--kdf-time', '0.05']).status).toBe(0);
    const m = hc(['mount', vol, mnt2, '--passphrase-fd', '0', '--log-file', log]);
    expect(m.status, m.stderr).toBe(0);
    const daemon = Number(/\(pid (\d+)\)/.exec(fs.readFileSync(log, 'utf8'))?.[1]);
    expect(daemon).toBeGreaterThan(1);
    const file = join(mnt2, 'data');
    fs.writeFileSync(file, 'synced later\n');
    fs.rmSync(`${stall}.hit`, { force: true });
    fs.writeFileSync(stall, '');
    try {
      const caller = spawn('python3', ['-c', 'import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY); os.fsync(fd)', file], { stdio: 'ignore' });
      const gone = new Promise<number | null>((res) => caller.on('exit', (c) => res(c)));
      await until('the lower fsync to stall', () => fs.existsSync(`${stall}.hit`), 60_000);
      // MNT_FORCE aborts the FUSE connection (fuse_umount_begin); the mount itself stays, busy
      spawnSync('umount', ['-f', mnt2], { stdio: 'ignore', timeout: 30_000, killSignal: 'SIGKILL' });
      expect(await within(gone, 20_000)).not.toBe(0);
      await until('the daemon to log the aborted connection', () => fs.readFileSync(log, 'utf8').includes('was aborted'), 20_000);
    } finally {
      // the lower fsync finishes now, after the end of the connection its request came on
      fs.rmSync(stall, { force: true });
    }
    await waitForExit(daemon, 'the daemon', 30_000);
    const said = fs.readFileSync(log, 'utf8');
    expect(said).toContain(`every lower file is written and closed; exiting (pid ${daemon})`);
    // before: its answer went to the closed /dev/fuse descriptor (EBADF), a number another file may hold by then
    expect(said).not.toMatch(/unexpected error/);
    expect(hc(['umount', mnt2]).status).toBe(0);
  });
});
