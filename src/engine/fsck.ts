// `homecrypt fsck`: walks a lower directory and authenticates everything in it
// — every name, sidecar, symlink target, file header and content block — and
// reports each failure, changing nothing. Paths are kept as strings in the
// form of format/name-bytes.ts and each call gets their bytes (`at`), so a
// name that is not UTF-8 (a plaintext-names volume) is walked, not mangled.
import { closeSync, constants as fsc, openSync } from 'node:fs';
import { join } from 'node:path';
import type { DirContext } from './volume-format.js';
import { ReadOnlyLowerIO } from './fd-lower-io.js';
import type { OpenVolume } from './volume.js';
import { readStateFile } from './dir-state.js';
import { bytesOfName, nameFromBytes } from '../format/name-bytes.js';
import { SIDECAR_MAX_BYTES } from '../format/long-names.js';
import { lstatatSync, openatSync, readdirFdSync, readlinkatSync } from '../os/lower-fs-calls.js';
import { readSmallFileAt } from '../os/small-file.js';

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

/**
 * Directories deeper than this are reported, not walked: a made-up chain of
 * directories (each holding a copy of its parent's IV file authenticates)
 * must not exhaust the stack (Node's overflowed at ~2,700 levels) or the
 * descriptors. No tree made by people or programs comes near it.
 */
export const FSCK_MAX_DEPTH = 1024;

export function fsckVolume(vol: OpenVolume): FsckReport {
  const report: FsckReport = { files: 0, dirs: 0, symlinks: 0, other: 0, problems: [] };
  const { names, files } = vol.format;
  const state = names.dirState;
  // Each directory is reached through its parent's descriptor (openat,
  // O_NOFOLLOW), never by its whole path: a tree deeper than PATH_MAX, which
  // the mount serves, is walked too, and nothing is read through a symlink.
  const walk = (dirFd: number, rel: string, abs: string, plainDir: string, depth: number): void => {
    const readIn = (n: string): Buffer | null => {
      try {
        return readSmallFileAt(dirFd, n, SIDECAR_MAX_BYTES, join(abs, n));
      } catch {
        return null;
      }
    };
    let iv: Buffer | undefined;
    if (state) {
      // format 2: without its IV nothing in the directory can be named
      try {
        iv = state.open(readStateFile(dirFd, state.fileName, abs), join(abs, state.fileName));
      } catch (err) {
        report.problems.push({ lowerPath: join(abs, state.fileName), path: plainDir || '/', problem: `directory IV: ${(err as Error).message}` });
        return;
      }
    }
    const ctx: DirContext = { lowerDir: rel, readSidecar: readIn, dirIV: iv ? () => iv! : undefined };
    let entries: string[];
    try {
      entries = readdirFdSync(dirFd, abs)
        .map((e) => nameFromBytes(e.name))
        .filter((n) => n !== '.' && n !== '..');
    } catch (err) {
      report.problems.push({ lowerPath: abs, path: plainDir || '/', problem: `cannot be listed: ${(err as Error).message}` });
      return;
    }
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
      let type: number;
      try {
        type = lstatatSync(dirFd, name).mode & fsc.S_IFMT;
      } catch (err) {
        report.problems.push({ lowerPath, path, problem: `cannot be read: ${(err as Error).message}` });
        continue;
      }
      if (type === fsc.S_IFDIR) {
        report.dirs++;
        if (depth >= FSCK_MAX_DEPTH) {
          report.problems.push({ lowerPath, path, problem: `directories nested deeper than ${FSCK_MAX_DEPTH}: not checked below here` });
          continue;
        }
        let sub: number;
        try {
          sub = openatSync(dirFd, name, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
        } catch (err) {
          report.problems.push({ lowerPath, path, problem: `cannot be opened: ${(err as Error).message}` });
          continue;
        }
        try {
          walk(sub, rel ? `${rel}/${name}` : name, lowerPath, path, depth + 1);
        } finally {
          closeSync(sub);
        }
      } else if (type === fsc.S_IFLNK) {
        report.symlinks++;
        try {
          names.decryptTarget(readlinkatSync(dirFd, name));
        } catch (err) {
          report.problems.push({ lowerPath, path, problem: `symlink target: ${(err as Error).message}` });
        }
      } else if (type === fsc.S_IFREG) {
        report.files++;
        const problem = checkFile(vol, dirFd, name, lowerPath, files.sizeNeedsHeader);
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
  const rootFd = openSync(at(vol.lowerRoot), fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    walk(rootFd, '', vol.lowerRoot, '', 0);
  } finally {
    closeSync(rootFd);
  }
  return report;
}

function checkFile(vol: OpenVolume, dirFd: number, name: string, lowerPath: string, sizeNeedsHeader: boolean): string | null {
  let fd: number;
  try {
    // never blocking: a fifo swapped in after the walk saw a file must not stop fsck
    fd = openatSync(dirFd, name, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
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
