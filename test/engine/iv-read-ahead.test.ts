// The IV files of the subdirectories a listing meets are read ahead on the
// pool (src/engine/iv-read-ahead.ts): each one opened once, never through a
// symlink nor out of the listed directory, and the listing's answer and the
// IV's authentication unchanged; and only where the tree is not in the page
// cache already.
import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { openVolume, writeNewVolumeConfig } from '../../src/engine/volume.js';
import { EncryptedFilesystem } from '../../src/engine/filesystem.js';
import { IvReadAhead } from '../../src/engine/iv-read-ahead.js';
import { swapFiles } from '../helpers/lower-tamper.js';

const dir = fs.mkdtempSync('/tmp/hc-iv-ahead-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const KEY = Buffer.alloc(32, 7);

async function settled(r: IvReadAhead): Promise<void> {
  for (let i = 0; i < 500 && !r.idle; i++) await new Promise((res) => setTimeout(res, 10));
  expect(r.idle).toBe(true);
}

function engine(name: string, opts: { ivReadAhead?: boolean } = {}) {
  const lower = join(dir, name);
  fs.mkdirSync(lower, { mode: 0o700 });
  writeNewVolumeConfig(lower, KEY, { keystore: null, version: 2 });
  const open = () => new EncryptedFilesystem({ lowerRoot: lower, format: openVolume(lower, [KEY]).format, log: () => undefined, ...opts });
  return { lower, open };
}

/**
 * Takes the IV files below `lower` out of the page cache (written back, then
 * POSIX_FADV_DONTNEED: these files only, not a machine-wide drop), as after
 * a reboot or a cache drop. The kernel skips a page someone holds at that
 * moment (a `sync` of another test walking the dirty pages): each file is
 * evicted again until fincore(1) (mincore: it reads nothing, where a probing
 * read would start readahead and bring the page back) finds none of it left.
 */
function evictIvs(lower: string): void {
  const files = (fs.readdirSync(lower, { recursive: true }) as string[]).filter((f) => f.endsWith('homecrypt.diriv')).map((f) => join(lower, f));
  const script = [
    'import os,subprocess,sys,time',
    'for p in sys.argv[1:]:',
    '  fd=os.open(p,os.O_RDONLY); os.fsync(fd)',
    '  for i in range(50):',
    '    os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)',
    "    if subprocess.run(['fincore','--bytes','--noheadings','--output','RES',p],capture_output=True,text=True).stdout.strip()=='0': break",
    '    time.sleep(0.01)',
    '  else: sys.exit(p+" stays in the page cache")',
    '  os.close(fd)',
  ].join('\n');
  execFileSync('python3', ['-c', script, ...files]);
}

/** Descriptors this process holds open. */
const fds = () => fs.readdirSync('/proc/self/fd').length;

describe('directory IV files read ahead', () => {
  it("a listing reads ahead each subdirectory's IV file once, and closes what it opened", async () => {
    const { lower, open } = engine('listing');
    const made = open();
    for (const d of ['a', 'b', 'c']) made.mkdir(`/${d}`, 0o755);
    made.release('/f', made.create('/f', 0o600));
    made.closeAll();
    evictIvs(lower);
    const e = open(); // a fresh engine: no IV known yet
    expect(
      e
        .readdir('/')
        .map((x) => x.name)
        .sort(),
    ).toEqual(['.', '..', 'a', 'b', 'c', 'f']);
    await settled(e.ivAhead!);
    expect(e.ivAhead!.warmed).toBe(3); // the three directories, not the file
    expect(e.ivAhead!.refused).toBe(0);
    e.readdir('/a');
    await settled(e.ivAhead!);
    expect(e.ivAhead!.warmed).toBe(3); // a has no subdirectory; its own IV is now known, nothing more read ahead
    e.readdir('/');
    await settled(e.ivAhead!);
    expect(e.ivAhead!.warmed).toBe(5); // b and c again (their IVs are still not known), not a
    e.closeAll();
  });

  it('never opens through a symlink, nor out of the listed directory', async () => {
    const { lower } = engine('links');
    const elsewhere = join(dir, 'elsewhere');
    fs.mkdirSync(join(elsewhere, 'd'), { recursive: true });
    fs.writeFileSync(join(elsewhere, 'd', 'homecrypt.diriv'), Buffer.alloc(32));
    fs.mkdirSync(join(lower, 'real'));
    fs.writeFileSync(join(lower, 'real', 'homecrypt.diriv'), Buffer.alloc(32));
    fs.symlinkSync(join(elsewhere, 'd'), join(lower, 'link'));
    fs.mkdirSync(join(lower, 'nested'));
    fs.symlinkSync(join(elsewhere, 'd', 'homecrypt.diriv'), join(lower, 'nested', 'homecrypt.diriv'));
    const r = new IvReadAhead('homecrypt.diriv');
    const before = fds();
    const d = fs.openSync(lower, 'r');
    r.listed(d, '', ['real', 'link', 'nested', '..', '../elsewhere/d']);
    fs.closeSync(d); // the read-ahead works on a descriptor of its own
    await settled(r);
    expect(r.warmed).toBe(1);
    expect(r.refused).toBe(4);
    expect(fds()).toBe(before); // its own descriptor of the directory, and the one it opened, closed
  });

  it('changes no answer: a swapped IV file is still caught at the first use of its directory', async () => {
    const { lower, open } = engine('swap');
    const made = open();
    made.mkdir('/x', 0o755);
    made.mkdir('/y', 0o755);
    made.release('/x/1', made.create('/x/1', 0o600));
    made.release('/y/2', made.create('/y/2', 0o600));
    const lx = join(lower, made.lower('/x').name);
    const ly = join(lower, made.lower('/y').name);
    made.closeAll();
    swapFiles(join(lx, 'homecrypt.diriv'), join(ly, 'homecrypt.diriv'), join(lower, 'iv.tmp'));
    evictIvs(lower);
    const e = open();
    e.readdir('/');
    await settled(e.ivAhead!);
    expect(e.ivAhead!.warmed).toBe(2);
    expect(() => e.readdir('/x')).toThrow(expect.objectContaining({ errno: 5 }));
    expect(() => e.getattr('/y/2')).toThrow(expect.objectContaining({ errno: 2 }));
    e.closeAll();
  });

  it('reads nothing ahead where the IV files are in the page cache, and goes on below what it read ahead', async () => {
    const { lower, open } = engine('cached');
    const made = open();
    for (const d of ['/a', '/b', '/a/x', '/a/y', '/a/x/deep']) made.mkdir(d, 0o755);
    made.closeAll();
    // all just written: a fresh engine finds every IV file in the page cache
    const warm = open();
    warm.readdir('/');
    warm.readdir('/a');
    warm.readdir('/a/x');
    await settled(warm.ivAhead!);
    expect(warm.ivAhead!.warmed).toBe(0);
    warm.closeAll();
    // none cached: the root's IV comes from the disk, so a and b are read ahead;
    // a's came from a read-ahead (now cached), so x and y are read ahead too
    evictIvs(lower);
    const cold = open();
    cold.readdir('/');
    await settled(cold.ivAhead!);
    expect(cold.ivAhead!.warmed).toBe(2);
    cold.readdir('/a');
    await settled(cold.ivAhead!);
    expect(cold.ivAhead!.warmed).toBe(4);
    cold.readdir('/a/x');
    await settled(cold.ivAhead!);
    expect(cold.ivAhead!.warmed).toBe(5); // deep, below x (read ahead)
    cold.closeAll();
  });

  it('can be turned off', () => {
    expect(engine('on').open().ivAhead).not.toBeNull();
    expect(engine('off', { ivReadAhead: false }).open().ivAhead).toBeNull();
  });
});
