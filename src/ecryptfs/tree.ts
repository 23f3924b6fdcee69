// Walks an eCryptfs lower tree through a volume without mounting it: reads a
// whole tree back as plaintext entries, or writes a plaintext tree into a lower
// directory exactly as the kernel would lay it out. Used by migrate, export and
// the interop tests. Names are bytes: paths are kept as strings in the form of
// format/name-bytes.ts and every call gets their bytes (`at`), so a name that
// is not UTF-8 (an old Latin-1 one) is listed, read and written byte-exact
// (Node would list it with U+FFFD, a name that is not there).
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { bytesOfName, nameFromBytes } from '../format/name-bytes.js';
import type { EcryptfsVolume } from './ecryptfs-volume.js';

/** The bytes of a path, for Node's fs calls (which would write a lone surrogate as U+FFFD). */
const at = bytesOfName;

/** The names in `dir`, each in the form of format/name-bytes.ts. */
function namesIn(dir: string): string[] {
  return readdirSync(at(dir), { encoding: 'buffer' }).map(nameFromBytes);
}

/** The target of symlink `path`, in the form of format/name-bytes.ts. */
function targetOf(path: string): string {
  return nameFromBytes(readlinkSync(at(path), { encoding: 'buffer' }));
}

export type TreeEntry =
  | { type: 'd'; path: string; mode: number }
  | { type: 'f'; path: string; mode: number; lowerPath: string; size: number }
  | { type: 'l'; path: string; target: string };

/** Every entry under the volume's root, parents before children, sorted by name. */
export function* walkLower(vol: EcryptfsVolume, upperDir = '', lowerDir = vol.lowerDir): Generator<TreeEntry> {
  const entries: { upper: string; lower: string }[] = [];
  for (const lower of namesIn(lowerDir)) {
    const upper = vol.upperName(lower, lowerDir);
    if (upper !== null) entries.push({ upper, lower });
  }
  entries.sort((a, b) => Buffer.compare(at(a.upper), at(b.upper)));
  for (const { upper, lower } of entries) {
    const lp = join(lowerDir, lower);
    const up = upperDir ? `${upperDir}/${upper}` : upper;
    const st = lstatSync(at(lp));
    if (st.isSymbolicLink()) {
      yield { type: 'l', path: up, target: vol.upperSymlinkTarget(targetOf(lp), lp) };
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
  for (const name of namesIn(plainDir).sort((a, b) => Buffer.compare(at(a), at(b)))) {
    const src = join(plainDir, name);
    const up = upperDir ? `${upperDir}/${name}` : name;
    const lp = vol.lowerPath(up);
    const st = lstatSync(at(src));
    if (st.isSymbolicLink()) {
      symlinkSync(at(vol.lowerSymlinkTarget(targetOf(src))), at(lp));
    } else if (st.isDirectory()) {
      mkdirSync(at(lp), { mode: st.mode & 0o7777 });
      writePlainTree(vol, src, up);
      chmodSync(at(lp), st.mode & 0o7777);
    } else if (st.isFile()) {
      const f = vol.createFile(lp, st.mode & 0o7777);
      try {
        f.write(0, readFileSync(at(src)));
      } finally {
        f.close();
      }
    }
  }
}
