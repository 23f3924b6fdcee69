// Small files read whole from directories others may write to
// (src/os/small-file.ts): a regular file up to its bound, and nothing else —
// a fifo neither blocks nor is read, a device or a huge file is refused
// before a byte of it is read, a symlink is refused unless asked to follow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { readSmallFileAt } from '../../src/os/small-file.js';
import { AT_FDCWD } from '../../src/os/lower-fs-calls.js';
import { thrown } from '../helpers/thrown.js';
import { CorruptFileError } from '../../src/errors.js';

describe('readSmallFileAt', () => {
  let dir: string;
  let dirFd: number;
  beforeAll(() => {
    dir = fs.mkdtempSync('/tmp/hc-small-file-');
    dirFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  });
  afterAll(() => {
    fs.closeSync(dirFd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads a regular file whole, up to and including its bound, by name in a directory or by path', () => {
    fs.writeFileSync(join(dir, 'ok'), 'x'.repeat(100));
    expect(readSmallFileAt(dirFd, 'ok', 100, 'ok').toString()).toBe('x'.repeat(100));
    expect(readSmallFileAt(AT_FDCWD, join(dir, 'ok'), 100, 'ok').length).toBe(100);
    fs.writeFileSync(join(dir, 'empty'), '');
    expect(readSmallFileAt(dirFd, 'empty', 100, 'empty').length).toBe(0);
  });

  it('refuses a file over its bound, and a huge sparse one at once, without reading it', () => {
    fs.writeFileSync(join(dir, 'big'), 'x'.repeat(101));
    const e = thrown(() => readSmallFileAt(dirFd, 'big', 100, 'the big one'));
    expect(e).toBeInstanceOf(CorruptFileError);
    expect(e.message).toMatch(/^the big one: holds 101 bytes, more than the 100 it may$/);
    const fd = fs.openSync(join(dir, 'huge'), 'w');
    fs.ftruncateSync(fd, 2 ** 40); // a terabyte of hole
    fs.closeSync(fd);
    const t0 = performance.now();
    expect(thrown(() => readSmallFileAt(dirFd, 'huge', 65536, 'huge'))).toBeInstanceOf(CorruptFileError);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('refuses a fifo without blocking, even one a writer holds open with data', () => {
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    const e = thrown(() => readSmallFileAt(dirFd, 'fifo', 100, 'fifo'));
    expect(e).toBeInstanceOf(CorruptFileError);
    expect(e.message).toMatch(/not a regular file/);
    const w = fs.openSync(join(dir, 'fifo'), fs.constants.O_RDWR); // a writer with bytes in the pipe
    fs.writeSync(w, 'data');
    expect(thrown(() => readSmallFileAt(dirFd, 'fifo', 100, 'fifo'))).toBeInstanceOf(CorruptFileError);
    fs.closeSync(w);
  });

  it('refuses a symlink (ELOOP) unless asked to follow, and a device behind one', () => {
    fs.symlinkSync(join(dir, 'ok'), join(dir, 'to-ok'));
    fs.symlinkSync('/dev/zero', join(dir, 'to-zero'));
    expect((thrown(() => readSmallFileAt(dirFd, 'to-ok', 100, 'to-ok')) as NodeJS.ErrnoException).code).toBe('ELOOP');
    expect(readSmallFileAt(dirFd, 'to-ok', 100, 'to-ok', { follow: true }).length).toBe(100);
    const e = thrown(() => readSmallFileAt(dirFd, 'to-zero', 100, 'to-zero', { follow: true }));
    expect(e).toBeInstanceOf(CorruptFileError);
    expect(e.message).toMatch(/not a regular file/);
  });

  it('with an owner, refuses a file of another uid before reading it', () => {
    fs.chownSync(join(dir, 'ok'), 4321, 4321);
    const e = thrown(() => readSmallFileAt(dirFd, 'ok', 100, 'ok', { owner: 1234 }));
    expect(e).toBeInstanceOf(CorruptFileError);
    expect(e.message).toMatch(/belongs to uid 4321, not 1234/);
    expect(readSmallFileAt(dirFd, 'ok', 100, 'ok', { owner: 4321 }).length).toBe(100);
  });

  it("passes the open's own errors on as they are (ENOENT)", () => {
    expect((thrown(() => readSmallFileAt(dirFd, 'missing', 100, 'missing')) as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});
