import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countSessionClosed, countSessionOpened, readSessionCount } from '../../src/session/session-counter.js';

const dir = mkdtempSync(join(tmpdir(), 'homecrypt-counter-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('session counter', () => {
  it('counts up while mounted, down to zero, never below', () => {
    expect(countSessionOpened('u1', false, dir)).toBe(1);
    expect(countSessionOpened('u1', true, dir)).toBe(2);
    expect(countSessionClosed('u1', dir)).toBe(1);
    expect(countSessionClosed('u1', dir)).toBe(0);
    expect(countSessionClosed('u1', dir)).toBe(0);
    expect(readSessionCount('u1', dir)).toBe(0);
  });

  it('a count left while nothing is mounted (crash, reboot) restarts at this session', () => {
    countSessionOpened('u2', true, dir);
    countSessionOpened('u2', true, dir);
    expect(countSessionOpened('u2', false, dir)).toBe(1);
  });

  it('a garbled counter file reads as no session instead of wedging logins', () => {
    writeFileSync(join(dir, 'u3'), 'garbage\n');
    expect(readSessionCount('u3', dir)).toBe(0);
  });

  it('is race-safe under the per-user lock: 12 processes opening at once count 12', async () => {
    const lockDir = join(dir, 'locks');
    const script = `
      const { withUserLock } = await import(${JSON.stringify(new URL('../../dist/os/users-lock.js', import.meta.url).href)});
      const { readSessionCount, writeSessionCount } = await import(${JSON.stringify(new URL('../../dist/session/session-counter.js', import.meta.url).href)});
      await withUserLock('racer', async () => {
        // read, yield (as a hook doing I/O would), write: lost updates unless serialised
        const n = readSessionCount('racer', ${JSON.stringify(dir)});
        await new Promise((r) => setTimeout(r, 10));
        writeSessionCount('racer', n + 1, ${JSON.stringify(dir)});
      }, ${JSON.stringify(lockDir)});
    `;
    const runs = Array.from(
      { length: 12 },
      () =>
        new Promise<number>((resolve) => {
          const c = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
          c.on('exit', (code) => resolve(code ?? -1));
        }),
    );
    expect(await Promise.all(runs)).toEqual(Array(12).fill(0));
    expect(readSessionCount('racer', dir)).toBe(12);
  });
});
