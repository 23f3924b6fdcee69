import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { moveTree, spaceNeeded, surveyTree } from '../../src/session/migrate-tree.js';
import { checkFreeSpace } from '../../src/session/setup.js';
import { RefusedError } from '../../src/errors.js';

let dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'homecrypt-move-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function sampleTree(root: string): void {
  mkdirSync(join(root, 'docs/deep'), { recursive: true });
  writeFileSync(join(root, '.bashrc'), 'alias ll="ls -l"\n');
  writeFileSync(join(root, 'docs/a.txt'), 'A'.repeat(10_000));
  writeFileSync(join(root, 'docs/deep/b.bin'), Buffer.alloc(70_000, 7));
  writeFileSync(join(root, 'empty'), '');
  chmodSync(join(root, 'docs/a.txt'), 0o640);
  symlinkSync('docs/a.txt', join(root, 'link'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
}

describe('moving a home tree file by file', () => {
  it('surveys sizes, then moves everything with modes, links and fifos, leaving the source empty', () => {
    const src = tmp();
    const dst = tmp();
    sampleTree(src);
    const s = surveyTree(src);
    expect(s).toMatchObject({ files: 6, bytes: 10_000 + 70_000 + 17, largest: 70_000, problems: [] });
    const seen: number[] = [];
    const done = moveTree(src, dst, (p) => seen.push(p.files));
    expect(done.files).toBe(6);
    expect(seen.length).toBe(6);
    expect(readdirSync(src)).toEqual([]);
    expect(readFileSync(join(dst, 'docs/deep/b.bin')).equals(Buffer.alloc(70_000, 7))).toBe(true);
    expect(lstatSync(join(dst, 'docs/a.txt')).mode & 0o777).toBe(0o640);
    expect(readlinkSync(join(dst, 'link'))).toBe('docs/a.txt');
    expect(lstatSync(join(dst, 'fifo')).isFIFO()).toBe(true);
  });

  it('resumes: a half-copied destination file is written again, already moved files are not touched', () => {
    const src = tmp();
    const dst = tmp();
    sampleTree(src);
    mkdirSync(join(dst, 'docs'));
    writeFileSync(join(dst, 'docs/a.txt'), 'partial'); // interrupted copy
    writeFileSync(join(dst, 'moved-before'), 'kept'); // moved by the interrupted run
    moveTree(src, dst);
    expect(readFileSync(join(dst, 'docs/a.txt'), 'utf8')).toBe('A'.repeat(10_000));
    expect(readFileSync(join(dst, 'moved-before'), 'utf8')).toBe('kept');
    expect(readdirSync(src)).toEqual([]);
  });

  it('moves names that are not UTF-8 byte-exact (files, directories, symlinks and their targets, fifos)', () => {
    const src = tmp();
    const dst = tmp();
    const at = (root: string, ...names: Buffer[]) => Buffer.concat([Buffer.from(root), ...names.flatMap((n) => [Buffer.from('/'), n])]);
    const [ff, lone, mixed] = [Buffer.of(0xff), Buffer.of(0xc3), Buffer.from([0x61, 0xc3, 0xa9, 0xe9])];
    mkdirSync(at(src, ff));
    writeFileSync(at(src, ff, lone), 'inside');
    writeFileSync(at(src, mixed), 'top');
    symlinkSync(at('.', ff, lone), at(src, Buffer.of(0x80)));
    execFileSync('python3', ['-c', 'import os, sys; os.mkfifo(bytes.fromhex(sys.argv[1]))', at(src, Buffer.of(0xfe)).toString('hex')]);
    expect(surveyTree(src)).toMatchObject({ files: 4, bytes: 9, problems: [] });
    expect(moveTree(src, dst).files).toBe(4);
    const names = (p: Buffer) => (readdirSync(p, { encoding: 'buffer' }) as Buffer[]).map((n) => n.toString('hex')).sort();
    expect(names(Buffer.from(dst))).toEqual([ff, mixed, Buffer.of(0x80), Buffer.of(0xfe)].map((n) => n.toString('hex')).sort());
    expect(names(at(dst, ff))).toEqual([lone.toString('hex')]);
    expect(readFileSync(at(dst, ff, lone), 'utf8')).toBe('inside');
    expect(readFileSync(at(dst, mixed), 'utf8')).toBe('top');
    expect((readlinkSync(at(dst, Buffer.of(0x80)), { encoding: 'buffer' }) as Buffer).equals(at('.', ff, lone))).toBe(true);
    expect(lstatSync(at(dst, Buffer.of(0xfe))).isFIFO()).toBe(true);
    expect(readdirSync(src)).toEqual([]);
  });

  it('space: needs the largest file plus per-file overhead; refuses saying how much', () => {
    const need = spaceNeeded({ files: 100, bytes: 50 * 1024 * 1024, largest: 20 * 1024 * 1024, problems: [] });
    expect(need).toBeGreaterThan(20 * 1024 * 1024);
    expect(need).toBeLessThan(50 * 1024 * 1024);
    expect(() => checkFreeSpace(need, need, '/home/.homecrypt')).not.toThrow();
    let err: unknown;
    try {
      checkFreeSpace(need, 1024 * 1024, '/home/.homecrypt');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as Error).message).toMatch(/needs \d+\.\d MiB free, there is 1\.0 MiB/);
  });

  it('survey lists what the user cannot move (devices)', () => {
    const src = tmp();
    if (process.getuid?.() !== 0) return;
    execFileSync('mknod', [join(src, 'null'), 'c', '1', '3']);
    expect(surveyTree(src).problems.join()).toMatch(/device files/);
  });
});
