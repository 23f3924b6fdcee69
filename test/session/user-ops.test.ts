import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runUserRequest } from '../../src/session/user-ops.js';

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

describe('emptyDir (the user folder of a setup being undone)', () => {
  it('removes entries whose names are not UTF-8, at the top and below', () => {
    const root = mkdtempSync(join(tmpdir(), 'homecrypt-userops-'));
    dirs.push(root);
    const latin1 = Buffer.from('caf\xe9', 'latin1'); // "café" in Latin-1: not UTF-8
    const top = Buffer.concat([Buffer.from(`${root}/`), latin1]);
    writeFileSync(top, 'x');
    mkdirSync(join(root, 'lower'));
    writeFileSync(Buffer.concat([Buffer.from(`${root}/lower/`), latin1]), 'y');
    writeFileSync(join(root, 'homecrypt.keys'), 'k');
    expect(readdirSync(root, { encoding: 'buffer' })).toHaveLength(3);
    runUserRequest({ op: 'emptyDir', path: root }, Buffer.alloc(0), () => {});
    expect(readdirSync(root, { encoding: 'buffer' })).toEqual([]);
  });

  it('is done when the folder is already gone', () => {
    expect(runUserRequest({ op: 'emptyDir', path: join(tmpdir(), 'homecrypt-userops-absent-x') }, Buffer.alloc(0), () => {})).toBe(null);
  });
});

describe('unlink (a leftover file of an interrupted setup --private)', () => {
  it('removes a file, is done when it is gone, and never removes a directory', () => {
    const root = mkdtempSync(join(tmpdir(), 'homecrypt-userops-'));
    dirs.push(root);
    writeFileSync(join(root, 'homecrypt.keys'), 'k');
    runUserRequest({ op: 'unlink', path: join(root, 'homecrypt.keys') }, Buffer.alloc(0), () => {});
    expect(readdirSync(root)).toEqual([]);
    expect(runUserRequest({ op: 'unlink', path: join(root, 'homecrypt.keys') }, Buffer.alloc(0), () => {})).toBe(null);
    mkdirSync(join(root, 'homecrypt.keys'));
    writeFileSync(join(root, 'homecrypt.keys', 'inside'), 'x');
    expect(() => runUserRequest({ op: 'unlink', path: join(root, 'homecrypt.keys') }, Buffer.alloc(0), () => {})).toThrow(/EISDIR/);
    expect(readdirSync(join(root, 'homecrypt.keys'))).toEqual(['inside']);
  });
});
