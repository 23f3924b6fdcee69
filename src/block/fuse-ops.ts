// The userspace engine's filesystem: one directory holding one file,
// `volume`, whose bytes are the decrypted data segment. losetup attaches that
// file; the filesystem inside (ext4) is the kernel's business.
import { constants } from 'node:os';
import { FuseError, type FuseOps, type FuseStat } from '../fuse/index.js';
import type { VolumeFile } from './volume-file.js';

export const VOLUME_FILE_NAME = 'volume';
const E = constants.errno;

export function volumeFuseOps(vf: VolumeFile, onFlushError: (err: unknown) => void): FuseOps {
  const now = Date.now();
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const base = { uid, gid, atimeMs: now, mtimeMs: now, ctimeMs: now };
  const root: FuseStat = { ...base, mode: 0o40700, size: 4096, nlink: 2, ino: 1 };
  const file: FuseStat = { ...base, mode: 0o100600, size: vf.size, nlink: 1, ino: 2, blksize: vf.sectorSize };
  const isVolume = (p: string) => p === `/${VOLUME_FILE_NAME}`;
  const stat = (p: string): FuseStat => {
    if (p === '/') return root;
    if (isVolume(p)) return file;
    throw new FuseError(E.ENOENT);
  };
  return {
    getattr: stat,
    fgetattr: stat,
    readdir: (p) => {
      if (p !== '/') throw new FuseError(E.ENOTDIR);
      return [VOLUME_FILE_NAME];
    },
    open: (p) => {
      stat(p);
      return 1;
    },
    read: (_p, _fh, buf, offset) => vf.read(offset, buf),
    write: (_p, _fh, buf, offset) => {
      if (offset >= vf.size) throw new FuseError(E.ENOSPC);
      return vf.write(offset, buf);
    },
    fsync: () => {
      vf.flush();
    },
    flush: () => {
      try {
        vf.flush();
      } catch (err) {
        onFlushError(err);
        throw err;
      }
    },
    release: () => undefined,
    // with the writeback cache the kernel keeps the file's times and sends
    // them back (SETATTR mtime/ctime) when it writes dirty pages: keep them
    utimens: (p, atimeMs, mtimeMs) => {
      const st = stat(p);
      if (atimeMs !== null) st.atimeMs = atimeMs;
      if (mtimeMs !== null) st.mtimeMs = mtimeMs;
    },
    // the volume's size is fixed by the device; loop and mkfs never resize it
    truncate: (p, size) => {
      stat(p);
      if (size !== vf.size) throw new FuseError(E.EPERM);
    },
    ftruncate: (p, _fh, size) => {
      if (size !== vf.size) throw new FuseError(E.EPERM);
    },
    statfs: () => ({
      bsize: 4096,
      frsize: 4096,
      blocks: Math.ceil(vf.size / 4096),
      bfree: 0,
      bavail: 0,
      files: 2,
      ffree: 0,
      favail: 0,
      namemax: 255,
    }),
  };
}
