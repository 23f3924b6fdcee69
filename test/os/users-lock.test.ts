// The login hook's hold on the user's lock (src/os/users-lock.ts) is bounded:
// a waiter gives up after its wait, and a hook whose PAM process is gone is
// killed with it (src/os/parent-death.ts), so the kernel frees the lock.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withUserLock } from '../../src/os/users-lock.js';

const dir = mkdtempSync(join(tmpdir(), 'homecrypt-hooklock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const lockFile = (name: string) => join(dir, `${name}.lock`);
const lockFree = (name: string) => spawnSync('flock', ['-n', '-E', '99', lockFile(name), 'true']).status === 0;
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('bounded hold on the user lock', () => {
  it('a hook waiting on a busy lock gives up after its wait, with a clear message, and gets it once free', async () => {
    await withUserLock('busy', async () => undefined, dir); // creates the file
    // one process holds it (the shell becomes sleep): killing it frees the lock
    const holder = spawn('sh', ['-c', `exec 9>>'${lockFile('busy')}'; flock -x 9; exec sleep 5`], { stdio: 'ignore' });
    try {
      await sleep(300);
      const t0 = Date.now();
      await expect(withUserLock('busy', async () => 'ran', dir, 400)).rejects.toThrow(
        /another homecrypt hook of busy has held busy\.lock for over 0.4 s; going on without it/,
      );
      expect(Date.now() - t0).toBeGreaterThanOrEqual(380);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      holder.kill('SIGKILL');
    }
    await sleep(200);
    expect(await withUserLock('busy', async () => 'ran', dir, 2000)).toBe('ran');
  });

  it('a hook holding the lock dies with the process that ran it (as when PAM gives up), and the lock is free', async () => {
    // parent (the "PAM process") → child: dieWithParent, take the lock, hold it for a minute
    const child = `
      const { dieWithParent } = await import(${JSON.stringify(new URL('../../dist/os/parent-death.js', import.meta.url).href)});
      const { withUserLock } = await import(${JSON.stringify(new URL('../../dist/os/users-lock.js', import.meta.url).href)});
      if (!dieWithParent()) process.exit(3);
      await withUserLock('held', async () => { process.stdout.write('locked ' + process.pid + '\\n'); await new Promise((r) => setTimeout(r, 60000)); }, ${JSON.stringify(dir)});
    `;
    const parent = `
      const { spawn } = await import('node:child_process');
      const c = spawn(process.execPath, ['--input-type=module', '-e', ${JSON.stringify(child)}], { stdio: ['ignore', 'inherit', 'inherit'] });
      setInterval(() => {}, 1000);
    `;
    const p = spawn(process.execPath, ['--input-type=module', '-e', parent], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve, reject) => {
      let out = '';
      p.stdout!.on('data', (d: Buffer) => {
        out += d;
        const m = /locked (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      setTimeout(() => reject(new Error('the child never took the lock')), 20_000);
    });
    expect(lockFree('held')).toBe(false);
    p.kill('SIGKILL');
    const end = Date.now() + 5000;
    while (alive(pid) && Date.now() < end) await sleep(50);
    expect(alive(pid)).toBe(false);
    expect(lockFree('held')).toBe(true);
  });
});
