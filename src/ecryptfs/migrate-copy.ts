// The copy step of `ecryptfs migrate` (a Private directory or a home): every
// entry of the eCryptfs copy decrypted and written into the homecrypt lower
// directory through the engine's operations (no mount: nothing to enter),
// then read back and compared by SHA-256 before it counts as done. Both
// directories are the user's, so this runs *as the user* (the user worker's
// `ecryptfsCopy` request): a name the user swaps for a symlink mid-copy only
// redirects work they could have done themselves, and everything it creates
// is theirs without a chown. Names are bytes (format/name-bytes.ts): one that
// is not UTF-8 is walked, decrypted and written through the engine as its very
// bytes, so the homecrypt volume holds the same names.
import { createHash } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { HomecryptError } from '../errors.js';
import { bytesOfName } from '../format/name-bytes.js';
import { openVolume } from '../engine/volume.js';
import { EncryptedFilesystem } from '../engine/filesystem.js';
import { FuseError } from '../fuse/index.js';
import { walkLower } from './tree.js';
import type { EcryptfsVolume } from './ecryptfs-volume.js';

const CHUNK = 1 << 20;

export interface CopyProgress {
  entries: number;
  bytes: number;
}

export interface CopyOptions {
  say?: (line: string) => void;
  onProgress?: (done: CopyProgress, total: CopyProgress) => void;
  /** Test hook: throw after this many entries were copied (simulates a crash). */
  failAfterEntries?: number;
}

/** Copies (or, resuming, completes) `ec` into the homecrypt lower `lower`; the mount key is wiped. */
export function copyAll(ec: EcryptfsVolume, lower: string, o: CopyOptions, key: { mountKey: Buffer }): { entries: number; bytes: number } {
  const vol = openVolume(lower, [key.mountKey]);
  key.mountKey.fill(0);
  const fs = new EncryptedFilesystem({ lowerRoot: vol.lowerRoot, format: vol.format, log: (l) => o.say?.(l) });
  const all = [...walkLower(ec)];
  const sizeOf = (lowerPath: string) => {
    const f = ec.openFile(lowerPath, false);
    try {
      return f.size;
    } finally {
      f.close();
    }
  };
  const total = { entries: all.length, bytes: all.reduce((n, e) => n + (e.type === 'f' ? sizeOf(e.lowerPath) : 0), 0) };
  const done = { entries: 0, bytes: 0 };
  const exists = (p: string) => {
    try {
      fs.getattr(p);
      return true;
    } catch (e) {
      if (e instanceof FuseError || (e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  };
  for (const e of all) {
    const p = `/${e.path}`;
    if (e.type === 'd') {
      if (!exists(p)) fs.mkdir(p, e.mode);
    } else if (e.type === 'l') {
      if (exists(p)) {
        if (fs.readlink(p) !== e.target) {
          fs.unlink(p);
          fs.symlink(e.target, p);
        }
      } else fs.symlink(e.target, p);
    } else {
      const src = ec.openFile(e.lowerPath, false);
      try {
        const size = src.size;
        const hash = createHash('sha256');
        for (let off = 0; off < size; off += CHUNK) hash.update(src.read(off, CHUNK));
        const want = hash.digest('hex');
        if (!(exists(p) && holds(fs, p, want))) {
          if (exists(p)) fs.unlink(p);
          const fh = fs.create(p, e.mode);
          try {
            for (let off = 0; off < size; off += CHUNK) {
              const chunk = src.read(off, CHUNK);
              fs.write(p, fh, chunk, off);
            }
          } finally {
            fs.release(p, fh);
          }
          const st = lstatSync(bytesOfName(e.lowerPath));
          fs.utimens(p, st.atimeMs, st.mtimeMs);
          const got = fileHash(fs, p);
          if (got !== want) throw new HomecryptError(`${e.path}: verification failed after copying (the eCryptfs copy is untouched)`);
        }
        done.bytes += size;
      } finally {
        src.close();
      }
    }
    done.entries++;
    o.onProgress?.(done, total);
    if (o.failAfterEntries !== undefined && done.entries >= o.failAfterEntries) throw new HomecryptError('simulated interruption (test hook)');
  }
  fs.closeAll();
  return done;
}

/**
 * Whether `p` already holds the content hashed `want`. A file an interrupted
 * copy left half-written (Ctrl-C, a crash) fails authentication (EIO): it does
 * not, and is copied again.
 */
function holds(fs: EncryptedFilesystem, p: string, want: string): boolean {
  try {
    return fileHash(fs, p) === want;
  } catch (e) {
    if (e instanceof FuseError) return false;
    throw e;
  }
}

function fileHash(fs: EncryptedFilesystem, p: string): string {
  const fh = fs.open(p, 0);
  try {
    const h = createHash('sha256');
    const buf = Buffer.alloc(CHUNK);
    for (let off = 0; ; off += CHUNK) {
      const n = fs.read(p, fh, buf, off);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
      if (n < CHUNK) break;
    }
    return h.digest('hex');
  } finally {
    fs.release(p, fh);
  }
}
