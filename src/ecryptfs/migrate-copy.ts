// The copy both eCryptfs migrations run (migrate.ts for a Private directory,
// migrate-home.ts for an encrypted home): every entry decrypted from the
// eCryptfs copy and written through the engine's operations on the lower
// directory (no mount: root cannot enter a user's FUSE mount), then read back
// and compared by SHA-256 before it counts as done.
import { createHash } from 'node:crypto';
import { lchownSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { HomecryptError } from '../errors.js';
import type { UserAccount } from '../os/users.js';
import { openVolume } from '../engine/volume.js';
import { EncryptedFilesystem } from '../engine/filesystem.js';
import { FuseError } from '../fuse/index.js';
import { walkLower } from './tree.js';
import type { EcryptfsVolume } from './volume.js';
import type { MigrateOptions } from './migrate-options.js';

const CHUNK = 1 << 20;

export function copyAll(ec: EcryptfsVolume, user: UserAccount, lower: string, _keyStore: string, o: MigrateOptions,
  key: { mountKey: Buffer }): { entries: number; bytes: number } {
  const vol = openVolume(lower, [key.mountKey]);
  key.mountKey.fill(0);
  const fs = new EncryptedFilesystem({ lowerRoot: vol.lowerRoot, format: vol.format, log: (l) => o.say?.(l) });
  const all = [...walkLower(ec)];
  const sizeOf = (lowerPath: string) => {
    const f = ec.openFile(lowerPath, false);
    try { return f.size; } finally { f.close(); }
  };
  const total = { entries: all.length, bytes: all.reduce((n, e) => n + (e.type === 'f' ? sizeOf(e.lowerPath) : 0), 0) };
  const done = { entries: 0, bytes: 0 };
  const exists = (p: string) => {
    try { fs.getattr(p); return true; } catch (e) { if (e instanceof FuseError || (e as NodeJS.ErrnoException).code === 'ENOENT') return false; throw e; }
  };
  // through the engine: relative to lower directory descriptors (a lower path may exceed PATH_MAX)
  const own = (p: string) => fs.chown(p, user.uid, user.gid);
  for (const e of all) {
    const p = `/${e.path}`;
    if (e.type === 'd') {
      if (!exists(p)) fs.mkdir(p, e.mode);
      own(p);
    } else if (e.type === 'l') {
      if (exists(p)) {
        if (fs.readlink(p) !== e.target) { fs.unlink(p); fs.symlink(e.target, p); }
      } else fs.symlink(e.target, p);
      own(p);
    } else {
      const src = ec.openFile(e.lowerPath, false);
      try {
        const size = src.size;
        const hash = createHash('sha256');
        for (let off = 0; off < size; off += CHUNK) hash.update(src.read(off, CHUNK));
        const want = hash.digest('hex');
        if (!(exists(p) && fileHash(fs, p) === want)) {
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
          own(p);
          const st = lstatSync(e.lowerPath);
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
  chownTree(vol.lowerRoot, user);
  return done;
}

/** Everything the engine wrote as root (entries, sidecars) becomes the user's. */
function chownTree(dir: string, user: UserAccount): void {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    lchownSync(p, user.uid, user.gid);
    if (lstatSync(p).isDirectory()) chownTree(p, user);
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

