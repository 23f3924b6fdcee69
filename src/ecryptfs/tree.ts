// Walks an eCryptfs lower tree through a volume without mounting it: reads a
// whole tree back as plaintext entries, or writes a plaintext tree into a lower
// directory exactly as the kernel would lay it out. Used by migrate, export and
// the interop tests.
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { EcryptfsVolume } from './ecryptfs-volume.js';

export type TreeEntry =
  | { type: 'd'; path: string; mode: number }
  | { type: 'f'; path: string; mode: number; lowerPath: string; size: number }
  | { type: 'l'; path: string; target: string };

/** Every entry under the volume's root, parents before children, sorted by name. */
export function* walkLower(vol: EcryptfsVolume, upperDir = '', lowerDir = vol.lowerDir): Generator<TreeEntry> {
  const entries: { upper: string; lower: string }[] = [];
  for (const lower of readdirSync(lowerDir)) {
    const upper = vol.upperName(lower, lowerDir);
    if (upper !== null) entries.push({ upper, lower });
  }
  entries.sort((a, b) => (a.upper < b.upper ? -1 : a.upper > b.upper ? 1 : 0));
  for (const { upper, lower } of entries) {
    const lp = join(lowerDir, lower);
    const up = upperDir ? `${upperDir}/${upper}` : upper;
    const st = lstatSync(lp);
    if (st.isSymbolicLink()) {
      yield { type: 'l', path: up, target: vol.upperSymlinkTarget(readlinkSync(lp), lp) };
    } else if (st.isDirectory()) {
      yield { type: 'd', path: up, mode: st.mode & 0o7777 };
      yield* walkLower(vol, up, lp);
    } else if (st.isFile()) {
      yield { type: 'f', path: up, mode: st.mode & 0o7777, lowerPath: lp, size: st.size };
    }
  }
}

/** Copies a plaintext directory tree into the volume (files, dirs, symlinks). */
export function writePlainTree(vol: EcryptfsVolume, plainDir: string, upperDir = ''): void {
  for (const name of readdirSync(plainDir).sort()) {
    const src = join(plainDir, name);
    const up = upperDir ? `${upperDir}/${name}` : name;
    const lp = vol.lowerPath(up);
    const st = lstatSync(src);
    if (st.isSymbolicLink()) {
      symlinkSync(vol.lowerSymlinkTarget(readlinkSync(src)), lp);
    } else if (st.isDirectory()) {
      mkdirSync(lp, { mode: st.mode & 0o7777 });
      writePlainTree(vol, src, up);
      chmodSync(lp, st.mode & 0o7777);
    } else if (st.isFile()) {
      const f = vol.createFile(lp, st.mode & 0o7777);
      try {
        f.write(0, readFileSync(src));
      } finally {
        f.close();
      }
    }
  }
}
