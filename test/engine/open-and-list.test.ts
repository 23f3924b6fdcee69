// What an open and a listing read of the lower directory since session 6
// (docs/BENCHMARKS.md, "Session 6: looking, listing and opening"): an open
// (and since session 24 a create) hands its own fstat to the bridge (openWithAttr, createWithAttr) and reads the header and
// the write record slot's magic in one pread; a listing reads the cached
// descriptor of its lower directory (rewound for the next listing), which is
// opened O_PATH where the daemon may only search it; a reader's release
// closes its lower descriptor on the JS thread.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { openVolume, writeNewVolumeConfig } from '../../src/engine/volume.js';
import { EncryptedFilesystem } from '../../src/engine/filesystem.js';
import { closesWithoutWaiting } from '../../src/engine/lower-flush.js';
import { homecryptFormat } from '../../src/engine/homecrypt-format.js';
import { MountKeys } from '../../src/engine/mount-keys.js';
import { skipUnless } from '../helpers/requirements.js';
import { MemIO } from './mem-io.js';
import { BIN } from './volume-helper.js';
import { serve } from '../fuse/kernel/bridge-serve-helper.js';
import { swapFiles } from '../helpers/lower-tamper.js';

const V = JSON.parse(fs.readFileSync(new URL('../vectors/files/vectors-v2.json', import.meta.url), 'utf8'));
const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const MOUNT_KEY = hex(V.mountKey);
const dir = fs.mkdtempSync('/tmp/hc-open-list-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A MemIO that counts its reads. */
class CountingIO extends MemIO {
  reads = 0;
  override pread(offset: number, length: number): Buffer {
    this.reads++;
    return super.pread(offset, length);
  }
  override preadInto(target: Buffer, offset: number): number {
    this.reads++;
    return super.preadInto(target, offset);
  }
}

const v2 = () => homecryptFormat(new MountKeys(MOUNT_KEY, V.keyId), { plaintextNames: false, version: 2 }).files;

describe('openAtRest (format 2)', () => {
  it('opens a file at rest in one read of the header and the slot, and reads it as open() does', () => {
    const io = new CountingIO(hex(V.lowerFile));
    const c = v2().openAtRest!(io);
    expect(io.reads).toBe(1);
    expect(c).not.toBeNull();
    expect(c!.read(io, 0, 1 << 16).toString('hex')).toBe(V.plaintext);
  });

  it('leaves a file with a record in its slot to recovery (null), and fails a damaged header as open() does', () => {
    expect(v2().openAtRest!(new MemIO(hex(V.tornAppend.lowerFile)))).toBeNull();
    const bad = hex(V.lowerFile);
    bad[40]! ^= 1; // the wrap nonce
    expect(() => v2().openAtRest!(new MemIO(bad))).toThrow(/authentication/);
    expect(() => v2().openAtRest!(new MemIO(hex(V.lowerFile).subarray(0, 50)))).toThrow(/truncated/);
  });

  it('a format-1 file is opened from its header alone (its bytes after the header are block 0)', () => {
    const f1 = homecryptFormat(new MountKeys(MOUNT_KEY, V.keyId), { plaintextNames: false, version: 1 }).files;
    const made = f1.create();
    const io = new CountingIO(made.bytes);
    // a block nonce that starts like a record's magic must not matter in format 1
    Buffer.from('HCW2').copy(io.data, 92);
    expect(f1.openAtRest!(io)).not.toBeNull();
    expect(io.reads).toBe(1);
  });
});

function engine(name: string, key: Buffer = MOUNT_KEY, closeWritersInline?: boolean) {
  const lower = join(dir, name);
  fs.mkdirSync(lower, { mode: 0o700 });
  writeNewVolumeConfig(lower, key, { keystore: null, version: 2 });
  const vol = openVolume(lower, [key]);
  return { fs: new EncryptedFilesystem({ lowerRoot: vol.lowerRoot, format: vol.format, log: () => undefined, closeWritersInline }), lower };
}

const strip = ({ atimeMs: _a, ...st }: { atimeMs: number }) => st;

describe('open with its attributes', () => {
  it('gives what fgetattr of the new handle gives', () => {
    const { fs: e } = engine('attr');
    const w = e.create('/f', 0o640);
    e.write('/f', w, Buffer.alloc(5000, 7), 0);
    e.release('/f', w);
    const { fh, attr } = e.openWithAttr('/f', 0);
    expect(attr.size).toBe(5000);
    expect(strip(attr)).toEqual(strip(e.fgetattr('/f', fh)));
    e.release('/f', fh);
    e.closeAll();
  });

  it('create gives what fgetattr of the new handle gives, and its size cell is the header written', () => {
    const { fs: e, lower } = engine('create-attr');
    const { fh, attr } = e.createWithAttr('/g', 0o640);
    expect(attr.size).toBe(0);
    expect(attr.mode & 0o7777).toBe(0o640);
    // the lower file already holds its header when the attributes are taken
    const lowerFile = join(lower, e.lower('/g').name);
    expect(fs.statSync(lowerFile).size).toBeGreaterThan(0);
    expect(strip(attr)).toEqual(strip(e.fgetattr('/g', fh)));
    // the cell starts at the header's size: a write and a read through it come out whole
    e.write('/g', fh, Buffer.alloc(5000, 3), 0);
    const buf = Buffer.alloc(8192);
    expect(e.read('/g', fh, buf, 0)).toBe(5000);
    expect(buf.subarray(0, 5000).equals(Buffer.alloc(5000, 3))).toBe(true);
    e.release('/g', fh);
    expect(e.getattr('/g').size).toBe(5000);
    e.closeAll();
  });

  it('after a recovery, gives the recovered file (not the torn one it found)', () => {
    const { fs: e, lower } = engine('recovered');
    const w = e.create('/f', 0o600);
    e.release('/f', w);
    const lowerFile = join(lower, e.lower('/f').name);
    // the vector's half-done append, under this volume's key (the content is not bound to its name),
    // with a torn tail past the size its record puts back
    fs.writeFileSync(lowerFile, Buffer.concat([hex(V.tornAppend.lowerFile), Buffer.alloc(100, 1)]));
    const torn = fs.statSync(lowerFile).size;
    const { fh, attr } = e.openWithAttr('/f', 0);
    expect(fs.statSync(lowerFile).size).toBe(torn - 100);
    expect(attr.size).toBe(V.plaintext.length / 2);
    const buf = Buffer.alloc(1 << 16);
    expect(buf.subarray(0, e.read('/f', fh, buf, 0)).toString('hex')).toBe(V.plaintext);
    e.release('/f', fh);
    e.closeAll();
  });
});

/** How many of this process's descriptors are open on `file`. */
function descriptorsOf(file: string): number {
  return fs.readdirSync('/proc/self/fd').filter((d) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${d}`) === file;
    } catch {
      return false; // the listing's own descriptor, gone
    }
  }).length;
}

describe('release', () => {
  it("closes a reader's lower descriptor before it returns, and a writer's on a pool thread (a lower filesystem whose close may wait)", async () => {
    const { fs: e, lower } = engine('release', MOUNT_KEY, false);
    e.release('/f', e.create('/f', 0o600));
    const lowerFile = join(lower, e.lower('/f').name);
    const open = () => descriptorsOf(lowerFile);
    /** The engine's pool of closes and fsyncs has nothing running or queued. */
    const poolIdle = () => (e as unknown as { flushes: { idle: boolean } }).flushes.idle;
    const settled = async () => {
      for (let i = 0; i < 200 && (open() > 0 || !poolIdle()); i++) await new Promise((r) => setTimeout(r, 10));
      return open();
    };
    expect(await settled()).toBe(0); // the create's descriptor goes on the pool
    const r = e.open('/f', 0);
    expect(open()).toBe(1);
    e.release('/f', r);
    expect(open()).toBe(0);
    const w = e.open('/f', 2);
    e.release('/f', w);
    // queued on the pool (a writer's close may flush on NFS or wait on a lower
    // lock); the descriptor itself may already be closed by a pool thread
    expect(poolIdle()).toBe(false);
    expect(await settled()).toBe(0);
    e.closeAll();
  });

  it("closes a writer's lower descriptor before it returns too where the lower filesystem's close waits on nothing", () => {
    expect(closesWithoutWaiting(dir)).toBe(['ext2/ext3', 'ext4', 'xfs', 'btrfs', 'tmpfs', 'f2fs'].includes(lowerFsType(dir)));
    const { fs: e, lower } = engine('release-inline', MOUNT_KEY, true);
    const w = e.create('/f', 0o600);
    e.write('/f', w, Buffer.alloc(100, 1), 0);
    const lowerFile = join(lower, e.lower('/f').name);
    const open = () => descriptorsOf(lowerFile);
    expect(open()).toBe(1);
    e.release('/f', w);
    expect(open()).toBe(0);
    expect((e as unknown as { flushes: { idle: boolean } }).flushes.idle).toBe(true);
    const w2 = e.open('/f', 2);
    e.release('/f', w2);
    expect(open()).toBe(0);
    e.closeAll();
  });
});

/** The lower filesystem's type as stat -f names it. */
function lowerFsType(path: string): string {
  return execFileSync('stat', ['-f', '-c', '%T', path], { encoding: 'utf8' }).trim();
}

describe('listing through the cached directory descriptor', () => {
  it('lists from the start every time, and sees what was made and removed since', () => {
    const { fs: e } = engine('list');
    e.mkdir('/d', 0o755);
    for (const n of ['a', 'b', 'c']) e.release(`/d/${n}`, e.create(`/d/${n}`, 0o600));
    const names = () =>
      e
        .readdir('/d')
        .map((x) => x.name)
        .sort();
    expect(names()).toEqual(['.', '..', 'a', 'b', 'c']);
    expect(names()).toEqual(['.', '..', 'a', 'b', 'c']); // rewound, not at its end
    e.unlink('/d/b');
    e.release('/d/z', e.create('/d/z', 0o600));
    expect(names()).toEqual(['.', '..', 'a', 'c', 'z']);
    expect(
      e
        .readdir('/')
        .map((x) => x.name)
        .sort(),
    ).toEqual(['.', '..', 'd']);
    e.closeAll();
  });

  it('a directory IV file swapped behind the engine before its first listing is still caught', () => {
    const { fs: e, lower } = engine('swap');
    e.mkdir('/x', 0o755);
    e.mkdir('/y', 0o755);
    e.release('/x/1', e.create('/x/1', 0o600));
    e.release('/y/2', e.create('/y/2', 0o600));
    const lx = join(lower, e.lower('/x').name);
    const ly = join(lower, e.lower('/y').name);
    e.closeAll();
    swapFiles(join(lx, 'homecrypt.diriv'), join(ly, 'homecrypt.diriv'), join(lower, 'iv.tmp'));
    const again = new EncryptedFilesystem({ lowerRoot: lower, format: openVolume(lower, [MOUNT_KEY]).format, log: () => undefined });
    expect(() => again.readdir('/x')).toThrow(expect.objectContaining({ errno: 5 }));
    expect(() => again.getattr('/y/2')).toThrow(expect.objectContaining({ errno: 2 }));
    again.closeAll();
  });
});

describe.skipIf(skipUnless('root', 'fuse', 'a user mount over a search-only lower directory'))('a lower directory the daemon may only search', () => {
  const uid = 65534; // nobody
  const user = (args: string[], input = '') =>
    spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', ...args], {
      input,
      encoding: 'utf8',
      timeout: 60_000,
      cwd: '/',
      env: { PATH: process.env.PATH, HOME: '/nonexistent' },
    });

  it('still looks names up in it and opens its files (the descriptor falls back to O_PATH)', () => {
    fs.chmodSync(dir, 0o711); // mkdtemp's 0700: the user must reach their folder
    const top = join(dir, 'user');
    fs.mkdirSync(top);
    fs.chownSync(top, uid, uid);
    const lower = join(top, 'lower');
    const mnt = join(top, 'mnt');
    fs.mkdirSync(mnt);
    fs.chownSync(mnt, uid, uid);
    const log = join(top, 'log');
    const pass = 'open-and-list pass\n';
    expect(user([BIN, 'init', lower, '--passphrase-fd', '0', '--kdf-time', '0.05'], pass).status).toBe(0);
    const mount = () => expect(user([BIN, 'mount', lower, mnt, '--passphrase-fd', '0', '--log-file', log], pass).status).toBe(0);
    const umount = () => expect(user([BIN, 'umount', mnt]).status).toBe(0);
    mount();
    try {
      expect(user(['sh', '-c', `mkdir ${mnt}/d && echo inside > ${mnt}/d/f && chmod 300 ${mnt}/d`]).status).toBe(0);
    } finally {
      umount();
    }
    mount(); // a fresh daemon: no descriptor of d cached yet
    try {
      const r = user(['sh', '-c', `cat ${mnt}/d/f; ls ${mnt}/d`]);
      expect(r.stdout).toBe('inside\n');
      expect(r.stderr).toMatch(/Permission denied/); // the listing: the kernel refuses it, as before
    } finally {
      umount();
      try {
        execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
      } catch {
        /* unmounted */
      }
    }
  });
});

describe.skipIf(skipUnless('root', 'fuse', 'the requests of an ls -l'))('what `ls -l` asks of the mount', () => {
  /** Serves `lower` (made on first use) with the daemon's 60 s timeouts, runs `work`, unmounts; the requests answered, by opcode. */
  async function counted(lower: string, mnt: string, work: () => void): Promise<Record<string, number>> {
    const s = await serve('homecrypt', lower, mnt, { HOMECRYPT_BRIDGE_STATS: '1', HOMECRYPT_BRIDGE_TIMEOUT: '60' });
    try {
      work();
    } finally {
      execFileSync('umount', [mnt]);
    }
    expect(await s.exited).toBe(0);
    return JSON.parse(s.stderr().trim().split('\n').pop()!) as Record<string, number>;
  }

  it('one GETXATTR per entry (its ACL, once per inode), not one more for security.selinux each time', async () => {
    const top = fs.mkdtempSync(join(dir, 'ls-'));
    const lower = join(top, 'lower');
    const mnt = join(top, 'mnt');
    fs.mkdirSync(mnt);
    const N = 40;
    try {
      await counted(lower, mnt, () => {
        fs.mkdirSync(join(mnt, 'd'));
        for (let i = 0; i < N; i++) fs.writeFileSync(join(mnt, 'd', `f${i}`), `${i}`);
      });
      let out = '';
      const asked = await counted(lower, mnt, () => {
        out = execFileSync('ls', ['-l', join(mnt, 'd')], { encoding: 'utf8' });
      });
      expect(out.trim().split('\n')).toHaveLength(N + 1); // "total", then one line each
      // each file's ACL once (the kernel keeps it), the directory's two; before, a
      // security.selinux for every entry as well (answered ENODATA, so ls kept asking)
      expect(asked.getxattr).toBeGreaterThanOrEqual(N);
      expect(asked.getxattr).toBeLessThanOrEqual(N + 4);
      expect(asked.lookup ?? 0).toBeLessThanOrEqual(2); // the names and attributes came with READDIRPLUS
    } finally {
      spawnSync('umount', ['-l', mnt], { stdio: 'ignore' });
    }
  });
});
