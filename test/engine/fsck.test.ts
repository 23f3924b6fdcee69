// `homecrypt fsck` on trees the walk must survive (src/engine/fsck.ts): one
// deeper than PATH_MAX, which the mount serves, is checked whole; a made-up
// chain deeper than the walk's bound is reported, not followed; a long name's
// sidecar that is a fifo, a device or a huge file is a problem, read at most
// a few bytes, and the mount skips it as fast.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { skipUnless } from '../helpers/requirements.js';
import { hc, makeVolume, PASS, type TestVolume } from './volume-helper.js';
import { FSCK_MAX_DEPTH } from '../../src/engine/fsck.js';

const fsck = (lower: string) => {
  const t0 = performance.now();
  const r = hc(['fsck', lower, '--passphrase-fd', '0'], `${PASS}\n`);
  return { ...r, ms: performance.now() - t0 };
};

describe.skipIf(skipUnless('fuse', 'fsck walk tests'))('fsck on deep trees and hostile sidecars', () => {
  let v: TestVolume;
  beforeAll(() => {
    v = makeVolume({ loopMiB: 64 });
    v.mount();
  });
  afterAll(() => {
    try {
      v.umount();
    } catch {
      /* already */
    }
    try {
      execFileSync('umount', [join(v.dir, 'fs')], { stdio: 'ignore' });
    } catch {
      /* no loop */
    }
    v.cleanup();
  });

  it('checks a tree deeper than PATH_MAX made through the mount, whole', () => {
    // 120 levels of 40-character names: 4,920 bytes of plaintext path, more of lower path
    const name = 'd'.repeat(40);
    // (bash: its cd goes on by relative steps past PATH_MAX, where dash's stops)
    execFileSync('bash', ['-c', `cd '${v.mnt}' && for i in $(seq 120); do mkdir ${name} && cd ${name} || exit 1; done && echo leaf > f`]);
    v.umount();
    const r = fsck(v.lower);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/all authentic/);
    expect(r.stdout).toMatch(/\b12[01] director/);
    v.mount();
    execFileSync('rm', ['-rf', join(v.mnt, name)]); // (fts: Node's rmSync takes whole paths)
  });

  it(`reports a made-up chain of directories deeper than ${FSCK_MAX_DEPTH} instead of following it`, () => {
    // each level a real sealed name holding a copy of its parent's IV file: every level authenticates
    const before = new Set(fs.readdirSync(v.lower));
    fs.mkdirSync(join(v.mnt, 'chain'));
    v.umount();
    const top = fs.readdirSync(v.lower).find((n) => !before.has(n))!;
    const dirIv = fs.readFileSync(join(v.lower, 'homecrypt.diriv'));
    const script = `
      const fs = require('fs');
      process.chdir(${JSON.stringify(join(v.lower, top))});
      for (let i = 0; i < ${FSCK_MAX_DEPTH + 5}; i++) {
        fs.mkdirSync(${JSON.stringify(top)});
        process.chdir(${JSON.stringify(top)});
        fs.writeFileSync('homecrypt.diriv', Buffer.from(${JSON.stringify(dirIv.toString('hex'))}, 'hex'));
      }`;
    // the root's IV under the top directory too: its names then read as the root's
    fs.writeFileSync(join(v.lower, top, 'homecrypt.diriv'), dirIv);
    execFileSync('node', ['-e', script]);
    const r = fsck(v.lower);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`nested deeper than ${FSCK_MAX_DEPTH}: not checked below here`));
    expect(r.stdout).not.toMatch(/call stack/);
    execFileSync('rm', ['-rf', join(v.lower, top)]);
    v.mount();
  });

  it('a long-name sidecar that is a fifo, /dev/zero behind a link or a huge file: reported by fsck at once, skipped by the mount', () => {
    const long = 'L'.repeat(200); // its lower name is an entry and a sidecar
    fs.writeFileSync(join(v.mnt, long), 'x');
    // (a neighbour that reads: with no entry authenticating, a listing is EIO, as for a swapped IV)
    fs.writeFileSync(join(v.mnt, 'neighbour'), 'y');
    v.umount();
    const sidecar = fs.readdirSync(v.lower).find((n) => n.endsWith('~name'))!;
    expect(sidecar).toBeDefined();
    const p = join(v.lower, sidecar);
    const kept = fs.readFileSync(p);
    for (const make of [
      () => execFileSync('mkfifo', [p]),
      () => fs.symlinkSync('/dev/zero', p),
      () => fs.truncateSync((fs.writeFileSync(p, ''), p), 2 ** 40),
    ]) {
      fs.rmSync(p, { force: true });
      make();
      const r = fsck(v.lower);
      expect(r.ms).toBeLessThan(20_000);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/has no sidecar/);
      v.mount();
      const t0 = performance.now();
      expect(fs.readdirSync(v.mnt)).toEqual(['neighbour']);
      expect(performance.now() - t0).toBeLessThan(5_000);
      v.umount();
    }
    fs.rmSync(p, { force: true });
    fs.writeFileSync(p, kept);
    v.mount();
    expect(fs.readFileSync(join(v.mnt, long), 'utf8')).toBe('x');
    fs.unlinkSync(join(v.mnt, long));
    fs.unlinkSync(join(v.mnt, 'neighbour'));
  });
});
