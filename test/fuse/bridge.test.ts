// The FUSE bridge's contract (src/fuse/bridge.ts) on a real mount, served by a
// separate process (a process must not do blocking I/O on its own mount).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { skipUnless } from '../helpers/requirements.js';
import { lgetxattrSync, llistxattrSync, lsetxattrSync } from '../../src/os/lower-fs-calls.js';

const errCode = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
  return undefined;
};

describe.skipIf(skipUnless('fuse', 'FUSE bridge tests'))('the fuse-native bridge', () => {
  let dir: string;
  let mnt: string;
  let child: ChildProcess;
  const stats = () => JSON.parse(fs.readFileSync(join(mnt, '.stats'), 'utf8'));

  beforeAll(async () => {
    dir = fs.mkdtempSync('/tmp/hc-bridge-test-');
    fs.mkdirSync(join(dir, 'lower'));
    mnt = join(dir, 'mnt');
    fs.mkdirSync(mnt);
    child = spawn(process.execPath, [new URL('./passthrough-fixture.mjs', import.meta.url).pathname, join(dir, 'lower'), mnt], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((res, rej) => {
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) res();
      });
      child.on('exit', (c) => rej(new Error(`fixture exited ${c}`)));
    });
  });
  afterAll(async () => {
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      /* busy */
    }
  });

  it('mounts with the requested type, source and options', () => {
    const line = fs
      .readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .find((l) => l.includes(` ${mnt} `))!;
    expect(line).toContain('fuse.bridgetest');
    expect(line).toContain(`bridge-test:${join(dir, 'lower')}`);
    expect(line).toContain('default_permissions');
  });

  it('passes big writes (128 KiB per request), through an async operation', () => {
    fs.writeFileSync(join(mnt, 'big'), Buffer.alloc(1 << 20, 1));
    expect(fs.readFileSync(join(mnt, 'big')).length).toBe(1 << 20);
    expect(stats().maxWrite).toBe(131072);
  });

  it('delivers the real mtime to utimens (fuse-native alone passes atime twice)', () => {
    fs.writeFileSync(join(mnt, 't'), 'x');
    fs.utimesSync(join(mnt, 't'), 1_000_000_000.5, 1_200_000_000.25);
    expect(stats().utimens.at(-1)).toEqual([1_000_000_000_500, 1_200_000_000_250]);
    const st = fs.statSync(join(dir, 'lower', 't'));
    expect(st.mtimeMs).toBe(1_200_000_000_250);
  });

  it('maps errors: errno-carrying errors pass through, others become EIO', () => {
    expect(errCode(() => fs.statSync(join(mnt, 'nothing')))).toBe('ENOENT');
    expect(errCode(() => fs.statSync(join(mnt, 'denied')))).toBe('EACCES');
    expect(errCode(() => fs.statSync(join(mnt, 'boom')))).toBe('EIO');
    expect(stats().unexpected).toBeGreaterThan(0);
    expect(fs.statSync(join(mnt, 'slow')).isDirectory()).toBe(true);
  });

  it('answers xattr size queries and lists', () => {
    fs.writeFileSync(join(mnt, 'x'), '');
    lsetxattrSync(join(mnt, 'x'), 'user.k', Buffer.from('value'), 0);
    expect(lgetxattrSync(join(mnt, 'x'), 'user.k').toString()).toBe('value');
    expect(llistxattrSync(join(mnt, 'x'))).toEqual(['user.k']);
    expect(errCode(() => lgetxattrSync(join(mnt, 'x'), 'user.none'))).toBe('ENODATA');
  });

  it('stats an open file by its handle after a rename', () => {
    fs.writeFileSync(join(mnt, 'h'), 'hello');
    const fd = fs.openSync(join(mnt, 'h'), 'r');
    fs.renameSync(join(mnt, 'h'), join(mnt, 'h2'));
    expect(fs.fstatSync(fd).size).toBe(5);
    fs.closeSync(fd);
  });
});
