// The mount daemon's log (/run/homecrypt/log/USER.log) gets a few lines at
// every login and was never cut: /run is RAM. Opening it keeps its last 64 KiB.
// What the login log says of a failed mount is its error line and hint (lastError).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MOUNT_LOG_KEEP, lastError, openMountLog } from '../../src/session/engine-ops.js';

describe('openMountLog', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mount-log-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('cuts a long log to its last 64 KiB, then appends after them', () => {
    const file = join(dir, 'u.log');
    const old = Buffer.alloc(3 * MOUNT_LOG_KEEP + 123);
    for (let i = 0; i < old.length; i++) old[i] = 0x41 + (i % 26);
    writeFileSync(file, old);
    const fd = openMountLog(file);
    writeSync(fd, 'new line\n');
    closeSync(fd);
    expect(readFileSync(file)).toEqual(Buffer.concat([old.subarray(old.length - MOUNT_LOG_KEEP), Buffer.from('new line\n')]));
  });

  it('leaves a short log as it is, and makes a missing one (0600)', () => {
    const file = join(dir, 'u.log');
    writeFileSync(file, 'earlier\n');
    closeSync(openMountLog(file));
    expect(readFileSync(file, 'utf8')).toBe('earlier\n');
    const fresh = join(dir, 'v.log');
    const fd = openMountLog(fresh);
    writeSync(fd, 'x\n');
    closeSync(fd);
    expect(readFileSync(fresh, 'utf8')).toBe('x\n');
  });

  it('follows no symlink', () => {
    const target = join(dir, 'target');
    writeFileSync(target, 'untouched');
    symlinkSync(target, join(dir, 'u.log'));
    expect(() => openMountLog(join(dir, 'u.log'))).toThrow(/ELOOP/);
    expect(readFileSync(target, 'utf8')).toBe('untouched');
  });
});

describe('lastError', () => {
  it("gives a failed mount's error line with the hint printed after it, so the login's log says what failed", () => {
    const out = 'earlier line\nhomecrypt: /l is being served by another homecrypt daemon (pid 7): why\nhint: mount it again later\n';
    expect(lastError(out)).toBe('/l is being served by another homecrypt daemon (pid 7): why (hint: mount it again later)');
  });

  it('gives the last line alone when no hint follows it', () => {
    expect(lastError('a\nhomecrypt: mount point /m is not empty\n')).toBe('mount point /m is not empty');
  });
});
