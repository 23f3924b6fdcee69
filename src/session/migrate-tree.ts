// Moving a tree of files from one directory into another, one verified file
// at a time: copy, read both back and compare, and only then remove the
// source. Run as the user (the destination is their FUSE mount, which root
// cannot enter). Resumable by construction: whatever is still in the source
// has not been moved yet, and a half-copied destination file is simply
// written again. Names are bytes: paths are kept as strings in the form of
// format/name-bytes.ts and every call gets their bytes (`at`), so a name that
// is not UTF-8 moves byte-exact (Node would list it with U+FFFD, a name that
// is not there).
import { createHash } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  chmodSync,
  writeSync,
  lutimesSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { RefusedError } from '../errors.js';
import { AT_FDCWD, mknodatSync } from '../os/lower-fs-calls.js';
import { bytesOfName, nameFromBytes } from '../format/name-bytes.js';

/** The bytes of a path, for Node's fs calls (which would write a lone surrogate as U+FFFD). */
const at = bytesOfName;

function namesIn(dir: string): string[] {
  return readdirSync(at(dir), { encoding: 'buffer' }).map(nameFromBytes);
}

export interface TreeSummary {
  files: number;
  bytes: number;
  largest: number;
  /** entries the mover cannot read or remove, or cannot recreate (devices, sockets) */
  problems: string[];
}

/** Walks `root` counting what a move will handle and what it cannot. */
export function surveyTree(root: string): TreeSummary {
  const s: TreeSummary = { files: 0, bytes: 0, largest: 0, problems: [] };
  const walk = (dir: string): void => {
    let names: string[];
    try {
      accessSync(at(dir), constants.R_OK | constants.W_OK | constants.X_OK);
      names = namesIn(dir);
    } catch {
      s.problems.push(`${dir}: directory not readable and writable by the user`);
      return;
    }
    for (const name of names) {
      const p = join(dir, name);
      const st = lstatSync(at(p));
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) {
        s.files++;
        s.bytes += st.size;
        s.largest = Math.max(s.largest, st.size);
        try {
          accessSync(at(p), constants.R_OK);
        } catch {
          s.problems.push(`${p}: not readable by the user`);
        }
      } else if (st.isSymbolicLink() || st.isFIFO()) s.files++;
      else if (st.isSocket()) {
        /* a socket is a runtime artefact: dropped */
      } else s.problems.push(`${p}: device files cannot be moved into an encrypted home`);
    }
  };
  walk(root);
  return s;
}

/** Bytes the move needs free on the lower filesystem beyond what it frees. */
export function spaceNeeded(s: TreeSummary): number {
  // each file is fully copied before its plaintext goes: the largest file at
  // once, plus the per-file header and per-4-KiB-block tags of the ciphertext
  const perFile = 4096 + 64;
  const perBlock = 32;
  return s.largest + s.files * perFile + Math.ceil(s.bytes / 4096) * perBlock + 16 * 1024 * 1024;
}

export interface MoveProgress {
  files: number;
  bytes: number;
  total?: { files: number; bytes: number };
}

function sha256File(path: string): Buffer {
  const h = createHash('sha256');
  const fd = openSync(at(path), constants.O_RDONLY | constants.O_NOFOLLOW);
  const buf = Buffer.alloc(1 << 20);
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest();
}

function copyFile(src: string, dst: string, st: Stats): void {
  const inFd = openSync(at(src), constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    try {
      unlinkSync(at(dst));
    } catch {
      /* none yet */
    }
    const outFd = openSync(at(dst), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const n = readSync(inFd, buf, 0, buf.length, null);
        if (n === 0) break;
        let off = 0;
        while (off < n) off += writeSync(outFd, buf, off, n - off);
      }
      fsyncSync(outFd);
    } finally {
      closeSync(outFd);
    }
  } finally {
    closeSync(inFd);
  }
  chmodSync(at(dst), st.mode & 0o7777);
  utimesSync(at(dst), st.atime, st.mtime);
}

/**
 * Moves everything under `src` into `dst` (both existing directories), file by
 * file; `src` itself is left (empty). Throws, leaving the unmoved rest in
 * place, when a copy does not read back identical.
 */
export function moveTree(src: string, dst: string, onProgress: (p: MoveProgress) => void = () => {}): MoveProgress {
  const done: MoveProgress = { files: 0, bytes: 0 };
  const walk = (from: string, to: string): void => {
    for (const name of namesIn(from)) {
      const a = join(from, name);
      const b = join(to, name);
      const st = lstatSync(at(a));
      if (st.isDirectory()) {
        try {
          mkdirSync(at(b), { mode: 0o700 });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
        walk(a, b);
        chmodSync(at(b), st.mode & 0o7777);
        utimesSync(at(b), st.atime, st.mtime);
        rmdirSync(at(a));
      } else if (st.isFile()) {
        copyFile(a, b, st);
        if (!sha256File(a).equals(sha256File(b))) throw new RefusedError(`${b} does not read back as ${a} wrote it; stopping (the original is kept)`);
        unlinkSync(at(a));
        done.files++;
        done.bytes += st.size;
        onProgress(done);
      } else if (st.isSymbolicLink()) {
        const target = readlinkSync(at(a), { encoding: 'buffer' });
        try {
          unlinkSync(at(b));
        } catch {
          /* none */
        }
        symlinkSync(target, at(b));
        if (!readlinkSync(at(b), { encoding: 'buffer' }).equals(target))
          throw new RefusedError(`${b}: symlink target does not read back; stopping (the original is kept)`);
        try {
          lutimesSync(at(b), st.atime, st.mtime);
        } catch {
          /* not supported everywhere */
        }
        unlinkSync(at(a));
        done.files++;
        onProgress(done);
      } else if (st.isFIFO()) {
        try {
          unlinkSync(at(b));
        } catch {
          /* none */
        }
        mknodatSync(AT_FDCWD, b, constants.S_IFIFO | (st.mode & 0o777), 0);
        chmodSync(at(b), st.mode & 0o777); // as mkfifo -m: the mode, whatever the umask
        unlinkSync(at(a));
        done.files++;
        onProgress(done);
      } else if (st.isSocket()) {
        unlinkSync(at(a));
      }
      // device files stay behind (surveyTree refuses them up front)
    }
  };
  walk(src, dst);
  return done;
}
