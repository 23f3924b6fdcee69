// The OS adapters' parsers and lookups that need no root: /proc/self/mountinfo
// lines, passwd lines and user names, the processes of a uid (zombies left out).
import { describe, expect, it } from 'vitest';
import { fuseMountOwner, isDeadConnection, parseMountinfo } from '../../src/os/mounts.js';
import { parsePasswdLine, isValidUserName } from '../../src/os/users.js';
import { OUTPUT_KEPT_BYTES, exited, processesOf, runCommand } from '../../src/os/processes.js';
import { UsageError } from '../../src/errors.js';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

describe('OS adapters', () => {
  it('parses mountinfo, unescaping blanks in mount points', () => {
    const e = parseMountinfo('36 35 0:40 / /home/a\\040b rw,nosuid - fuse.homecrypt homecrypt rw,user_id=1000\n');
    expect(e).toEqual([{ mountPoint: '/home/a b', fsType: 'fuse.homecrypt', source: 'homecrypt', superOptions: 'rw,user_id=1000' }]);
    expect(fuseMountOwner(e[0]!)).toBe(1000);
    expect(fuseMountOwner({ ...e[0]!, superOptions: 'rw,xuser_id=5' })).toBe(null);
  });

  it("tells a dead FUSE connection's errors (ENOTCONN, and ECONNABORTED while it closes) from others", () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    expect(isDeadConnection(err('ENOTCONN'))).toBe(true);
    expect(isDeadConnection(err('ECONNABORTED'))).toBe(true);
    for (const other of ['EACCES', 'ENOENT', 'EIO']) expect(isDeadConnection(err(other))).toBe(false);
    expect(isDeadConnection(null)).toBe(false);
    expect(isDeadConnection('ENOTCONN')).toBe(false);
  });

  it('parses passwd lines and refuses malformed ones', () => {
    expect(parsePasswdLine('alice:x:1000:1000:Alice:/home/alice:/bin/bash', 'alice')).toMatchObject({ uid: 1000, home: '/home/alice' });
    expect(() => parsePasswdLine('alice:x:abc:1000::/home/alice:/bin/sh', 'alice')).toThrow(UsageError);
    expect(isValidUserName('../etc')).toBe(false);
    expect(isValidUserName('bob.smith')).toBe(true);
  });

  it("keeps only the tail of a child's endless output (a user's worker could fill root's memory), its last line whole", async () => {
    // 64 MiB of lines, then the result line
    const r = await runCommand([
      'sh',
      '-c',
      'head -c 67108864 /dev/zero | tr "\\0" "x" | fold -w 1023; echo "the end"; head -c 33554432 /dev/zero | tr "\\0" "y" >&2',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeLessThanOrEqual(OUTPUT_KEPT_BYTES);
    expect(r.stdout.length).toBeGreaterThan(OUTPUT_KEPT_BYTES / 2);
    expect(r.stdout.endsWith('xthe end\n')).toBe(true); // (fold leaves the last line of x open)
    expect(r.stderr.length).toBeLessThanOrEqual(OUTPUT_KEPT_BYTES);
  });

  it('finds the processes of a uid', () => {
    expect(processesOf(process.getuid!()).some((p) => p.pid === process.pid)).toBe(true);
  });

  it('counts a process whose leader thread has ended while its other threads run on (state Z, but running)', () => {
    const status = (state: string, threads: number) => `Name:\tx\nState:\t${state}\nThreads:\t${threads}\n`;
    expect(exited(status('Z (zombie)', 1))).toBe(true);
    expect(exited(status('X (dead)', 1))).toBe(true);
    expect(exited(status('Z (zombie)', 2))).toBe(false);
    expect(exited(status('S (sleeping)', 1))).toBe(false);
    expect(exited('Name:\tx\nState:\tZ (zombie)\n')).toBe(true);
    // the real thing: a C program whose main thread calls pthread_exit while a second thread sleeps
    const dir = mkdtempSync(join(tmpdir(), 'hc-zombie-leader-'));
    try {
      writeFileSync(
        join(dir, 'z.c'),
        '#include <pthread.h>\n#include <unistd.h>\nstatic void *t(void *a) { (void)a; sleep(30); return 0; }\n' +
          'int main(void) { pthread_t th; pthread_create(&th, 0, t, 0); pthread_exit(0); }\n',
      );
      execFileSync('cc', ['-o', join(dir, 'z'), join(dir, 'z.c'), '-lpthread']);
      const child = spawn(join(dir, 'z'), [], { stdio: 'ignore' });
      try {
        const pid = child.pid!;
        let st = '';
        for (let i = 0; i < 200; i++) {
          st = readFileSync(`/proc/${pid}/status`, 'utf8');
          if (/^State:\s+Z/m.test(st)) break;
          execFileSync('sleep', ['0.01']);
        }
        expect(st).toMatch(/^State:\s+Z/m);
        expect(processesOf(process.getuid!()).map((p) => p.pid)).toContain(pid);
      } finally {
        child.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves out a process that has exited and waits to be reaped (a zombie holds nothing, and is reaped when its parent, or init, gets to it)', async () => {
    // the child exits once its parent has become `sleep 30`, which never reaps it
    const parent = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const zombie = Number(await new Promise<string>((res) => parent.stdout.once('data', (d: Buffer) => res(d.toString()))));
      const state = () => {
        try {
          const stat = readFileSync(`/proc/${zombie}/stat`, 'utf8');
          return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        } catch {
          return 'gone';
        }
      };
      for (let i = 0; i < 200 && state() !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
      expect(state()).toBe('Z');
      const mine = processesOf(process.getuid!()).map((p) => p.pid);
      expect(mine).toContain(parent.pid);
      expect(mine).not.toContain(zombie);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
