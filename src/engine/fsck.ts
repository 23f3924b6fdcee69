// `homecrypt fsck`: walks a lower directory and authenticates everything in it
// — every name, sidecar, symlink target, file header and content block — and
// reports each failure, changing nothing. Paths are kept as strings in the
// form of format/name-bytes.ts and each call gets their bytes (`at`), so a
// name that is not UTF-8 (a plaintext-names volume) is walked, not mangled.
import { closeSync, constants as fsc, lstatSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { DirContext } from './volume-format.js';
import { ReadOnlyLowerIO } from './fd-lower-io.js';
import type { OpenVolume } from './volume.js';
import { readStateFile } from './dir-state.js';
import { bytesOfName, nameFromBytes } from '../format/name-bytes.js';

/** The bytes of a lower path, for Node's fs calls (which would write a lone surrogate as U+FFFD). */
const at = bytesOfName;

export interface FsckProblem {
  lowerPath: string;
  /** the plaintext path when the name decrypted */
  path?: string;
  problem: string;
}

export interface FsckReport {
  files: number;
  dirs: number;
  symlinks: number;
  other: number;
  problems: FsckProblem[];
}

export function fsckVolume(vol: OpenVolume): FsckReport {
  const report: FsckReport = { files: 0, dirs: 0, symlinks: 0, other: 0, problems: [] };
  const { names, files } = vol.format;
  const state = names.dirState;
  const walk = (rel: string, plainDir: string): void => {
    const abs = rel ? join(vol.lowerRoot, rel) : vol.lowerRoot;
    const readIn = (n: string) => {
      try {
        return readFileSync(at(join(abs, n)));
      } catch {
        return null;
      }
    };
    let iv: Buffer | undefined;
    if (state) {
      // format 2: without its IV nothing in the directory can be named
      try {
        const dirFd = openSync(at(abs), fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
        try {
          iv = state.open(readStateFile(dirFd, state.fileName, abs), join(abs, state.fileName));
        } finally {
          closeSync(dirFd);
        }
      } catch (err) {
        report.problems.push({ lowerPath: join(abs, state.fileName), path: plainDir || '/', problem: `directory IV: ${(err as Error).message}` });
        return;
      }
    }
    const ctx: DirContext = { lowerDir: rel, readSidecar: readIn, dirIV: iv ? () => iv! : undefined };
    const entries = readdirSync(at(abs), { encoding: 'buffer' }).map(nameFromBytes);
    const present = new Set(entries);
    let named = 0;
    let failed = 0;
    for (const name of entries) {
      const lowerPath = join(abs, name);
      let plain: string | null;
      try {
        plain = names.decryptName(name, ctx);
      } catch (err) {
        if (state?.looksSealed(name)) failed++;
        report.problems.push({ lowerPath, problem: `name: ${(err as Error).message}` });
        continue;
      }
      if (plain !== null) named++;
      if (plain === null && state && name.startsWith(state.tempPrefix)) {
        report.problems.push({ lowerPath, problem: 'a directory left half-made (mkdir interrupted by a crash): remove it' });
        continue;
      }
      if (plain === null) {
        // a sidecar must have its entry
        const owner = name.endsWith('~name') ? name.slice(0, -5) : null;
        if (owner && names.sidecarOf(owner) === name && !present.has(owner)) {
          report.problems.push({ lowerPath, problem: 'long-name sidecar without its entry' });
        }
        continue;
      }
      const path = `${plainDir}/${plain}`;
      const st = lstatSync(at(lowerPath));
      if (st.isDirectory()) {
        report.dirs++;
        walk(rel ? `${rel}/${name}` : name, path);
      } else if (st.isSymbolicLink()) {
        report.symlinks++;
        try {
          names.decryptTarget(nameFromBytes(readlinkSync(at(lowerPath), { encoding: 'buffer' })));
        } catch (err) {
          report.problems.push({ lowerPath, path, problem: `symlink target: ${(err as Error).message}` });
        }
      } else if (st.isFile()) {
        report.files++;
        const problem = checkFile(vol, lowerPath, files.sizeNeedsHeader);
        if (problem) report.problems.push({ lowerPath, path, problem });
      } else {
        report.other++;
      }
    }
    if (state && failed > 0 && named === 0) {
      report.problems.push({
        lowerPath: join(abs, state.fileName),
        path: plainDir || '/',
        problem: `directory IV: none of the directory's ${failed} entries authenticates under it (replaced or swapped with another directory's)`,
      });
    }
  };
  walk('', '');
  return report;
}

function checkFile(vol: OpenVolume, lowerPath: string, sizeNeedsHeader: boolean): string | null {
  let fd: number;
  try {
    // never blocking: a fifo swapped in after the walk saw a file must not stop fsck
    fd = openSync(at(lowerPath), fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (err) {
    return `cannot open: ${(err as Error).message}`;
  }
  try {
    const { files } = vol.format;
    const raw = new ReadOnlyLowerIO(fd, lowerPath);
    // a write a crash cut short is judged as the next open will leave it
    const io = files.hasPendingWrite?.(raw) ? files.recoveredView!(raw) : raw;
    const lowerSize = io.size();
    if (!sizeNeedsHeader && files.wellFormed && !files.wellFormed(lowerSize)) {
      return `size ${lowerSize} is not that of a whole file (truncated or torn)`;
    }
    const cipher = files.open(io);
    if (cipher.verify) {
      cipher.verify(io);
    } else {
      const size = cipher.plaintextSize(lowerSize);
      for (let off = 0; off < size; off += 1 << 20) cipher.read(io, off, 1 << 20);
    }
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    closeSync(fd);
  }
}
