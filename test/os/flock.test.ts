// flock(2) through libc, and who holds one: /proc/locks names the locker's pid
// by device (major:minor in hex) and inode, which a refusal quotes
// (engine/lower-lock.ts).
import { describe, expect, it } from 'vitest';
import { closeSync, constants, fstatSync, mkdtempSync, openSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flockHolder, flockHolderIn, tryLockExclusive, unlock } from '../../src/os/flock.js';

describe('flockHolderIn', () => {
  const text = [
    '1: POSIX  ADVISORY  WRITE 77 fe:00:260072 0 EOF',
    '2: FLOCK  ADVISORY  WRITE 4242 fe:00:260072 0 EOF',
    '2: -> FLOCK  ADVISORY  WRITE 5151 fe:00:260072 0 EOF',
    '3: FLOCK  ADVISORY  WRITE 99 103:02:12 0 EOF',
    '',
  ].join('\n');

  it('finds the flock of the device and inode, not a POSIX lock nor a waiter', () => {
    expect(flockHolderIn(text, (0xfe << 8) | 0, 260072)).toBe(4242);
  });

  it("splits the device as glibc's major() and minor() do", () => {
    // major 259 (0x103), minor 2
    expect(flockHolderIn(text, (0x103 << 8) | 2, 12)).toBe(99);
    expect(flockHolderIn(text, (0x103 << 8) | 2, 13)).toBeNull();
  });
});

describe('flockHolder', () => {
  it('names this process while it holds the lock of a directory, and nobody after', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hc-flock-'));
    const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      const st = fstatSync(fd);
      expect(tryLockExclusive(fd, dir)).toBe(true);
      expect(flockHolder(st)).toBe(process.pid);
      unlock(fd);
      expect(flockHolder(st)).toBeNull();
    } finally {
      closeSync(fd);
      rmdirSync(dir);
    }
  });
});
