// The engine's FUSE operations over a lower directory, format-agnostic: names
// and bytes go through a VolumeFormat (volume-format.ts); everything here is
// lower-directory I/O and POSIX bookkeeping. Every operation is synchronous,
// so each FUSE request runs to completion before the next (no locks needed,
// and a read never sees half of a write), but for the lower fsync and the
// close at release, which may wait on the device (lower-flush.ts).
//
// Every lower call names its entry relative to a descriptor of its lower
// parent directory (the *at calls, src/os/lower-fs-calls.ts), never by a whole
// lower path: a lower path is longer than its plaintext path (encrypted names
// are), so whole paths would hit PATH_MAX long before the plaintext tree does.
// The parent is reached by opening one lower directory after another with
// O_NOFOLLOW (never through a symlink); the descriptors are kept in a small
// cache keyed by lower path, dropped when their directory is renamed or
// removed through the mount (the lower directory is not to be changed behind
// a mounted volume's back).
import { chmodSync, chownSync, closeSync, constants as fsc, fchmodSync, fchownSync, fstatSync, statfsSync, writeSync } from 'node:fs';
import type { Caller, DirEntry, FuseOps, FuseStat, FuseStatfs } from '../fuse/index.js';
import { FuseError, fuseStatfsOf } from '../fuse/index.js';
import type { DirContext, EncryptedName, FileCipher, LowerIO, VolumeFormat } from './volume-format.js';
import { FdLowerIO } from './fd-lower-io.js';
import { LowerFlushes, closesWithoutWaiting } from './lower-flush.js';
import { LowerSizes, type SizeCell } from './lower-sizes.js';
import { DirIvCache, mkdirWithState, takeStateOut } from './dir-state.js';
import { IvReadAhead } from './iv-read-ahead.js';
import { bytesOfName, nameFromBytes } from '../format/name-bytes.js';
import type { AfterReply } from './after-reply.js';
import { E, errnoFor, fail, isIntegrityError } from './errno.js';
import { AuthenticationError } from '../errors.js';
import { readSmallFileAt } from '../os/small-file.js';
import { SIDECAR_MAX_BYTES } from '../format/long-names.js';
import {
  AT_FDCWD,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  O_PATH,
  SEEK_DATA,
  SEEK_HOLE,
  faccessatSync,
  fchmodatSync,
  getxattratSync,
  fchownatSync,
  linkatSync,
  llistxattrSync,
  lremovexattrSync,
  lsetxattrSync,
  lstatatSync,
  mkdiratSync,
  mknodatSync,
  openatSync,
  readdiratSync,
  readdirFromStartSync,
  readlinkatSync,
  renameat2Sync,
  renameatSync,
  symlinkatSync,
  unlinkatSync,
  utimensatSync,
  type LowerDirent,
  type LowerStat,
} from '../os/lower-fs-calls.js';

export interface EngineOptions {
  lowerRoot: string;
  format: VolumeFormat;
  /** One line per event worth a log (integrity failures name the lower file). */
  log?: (line: string) => void;
  /**
   * Given only when the FUSE bridge runs it after each reply (the kernel
   * bridge): writes may then finish after their reply (after-reply.ts).
   */
  afterReply?: AfterReply;
  /** Read ahead the IV files of the subdirectories a listing meets (format 2; default true). */
  ivReadAhead?: boolean;
  /**
   * The lower filesystem's close of a written file waits on nothing (a local
   * disk filesystem, lower-flush.ts): a writer's release closes it on the JS
   * thread. Default: from the lower root's statfs type.
   */
  closeWritersInline?: boolean;
}

interface OpenFile {
  fd: number;
  io: LowerIO;
  cipher: FileCipher;
  /** The lower size this handle shares with the inode's other handles (lower-sizes.ts). */
  size: SizeCell | null;
  /** Opened O_RDONLY: nothing of it to flush at its close. */
  readOnly?: boolean;
}

/** Where a mount path is in the lower directory. */
export interface Lower {
  /** Descriptor of the lower parent directory (AT_FDCWD for the root itself). */
  dir: number;
  /** The entry's name in `dir` (the root's absolute path for the root). */
  name: string;
  /** Lower path relative to the root ('' = the root). */
  rel: string;
  /** Absolute lower path: for log lines (it may exceed PATH_MAX: never opened). */
  abs: string;
  enc: EncryptedName | null;
}

/** Lower directory descriptors kept open (each a few hundred bytes of kernel memory). */
const DIR_CACHE = 64;
/** Directories whose lower path is kept (a path and a small object each). */
const LOWER_DIRS = 16_384;

/** A directory of the mount in the lower tree: its lower path relative to the root, and its names' context. */
interface LowerDir {
  rel: string;
  ctx: DirContext;
  /** Its default ACL once read (null: none), until set or removed through the mount (defaultAcl). */
  defaultAcl?: Buffer | null;
}

/** A cached directory descriptor whose position a listing moved: rewound before the next. */
const LISTED = 1;
/** A cached directory descriptor opened O_PATH (no read permission): listed through a fresh open. */
const PATH_ONLY = 2;

const S_IFMT = 0o170000;
const DT_DIR = 4;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;
const ACL_ACCESS = 'system.posix_acl_access';
const ACL_DEFAULT = 'system.posix_acl_default';

export class EncryptedFilesystem {
  private readonly files = new Map<number, OpenFile>();
  private readonly flushes = new LowerFlushes();
  /** Sizes of the open lower files (lower-sizes.ts). */
  readonly sizes = new LowerSizes();
  private nextFh = 1;
  private readonly root: string;
  private readonly format: VolumeFormat;
  private readonly log: (line: string) => void;
  private readonly afterReply: AfterReply | undefined;
  /** A writer's lower descriptor is closed on the JS thread too (EngineOptions.closeWritersInline). */
  private readonly closeWritersInline: boolean;
  /** Lower directories by path relative to the root, least recently used first. */
  private readonly dirs = new Map<string, number>();
  /** Of those descriptors (and the root's): the ones listed before (LISTED) or not readable (PATH_ONLY). */
  private readonly dirFdState = new Map<number, typeof LISTED | typeof PATH_ONLY>();
  /** The mount's directories by plaintext path (lowerDir). */
  private readonly lowerDirs = new Map<string, LowerDir>();
  private rootFdValue = -1;
  /** Directory IVs, when names are bound to their directory (format 2). */
  private readonly ivs: DirIvCache | null;
  /** Their files read ahead for the subdirectories a listing meets (iv-read-ahead.ts). */
  readonly ivAhead: IvReadAhead | null;
  /** Root may give new entries to their callers (allow_other mounts run by root). */
  private readonly asRoot = process.geteuid?.() === 0;
  /**
   * The daemon's umask: the kernel has already applied the caller's to the
   * mode of a new entry, so bits ours takes away are put back (settle).
   */
  private readonly umask: number;

  constructor(opts: EngineOptions) {
    this.root = opts.lowerRoot;
    this.format = opts.format;
    this.log = opts.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.afterReply = opts.afterReply;
    this.closeWritersInline = opts.closeWritersInline ?? closesWithoutWaiting(opts.lowerRoot);
    const state = opts.format.names.dirState;
    this.ivs = state ? new DirIvCache(state) : null;
    this.ivAhead = state && opts.ivReadAhead !== false ? new IvReadAhead(state.fileName) : null;
    this.umask = process.umask(0o022);
    process.umask(this.umask);
  }

  /**
   * Who a new entry at `l` belongs to when it must change hands: the caller,
   * with the parent's group in a set-group-ID directory (which the lower
   * filesystem has already given it). Null when root's own creation is right
   * (a non-root daemon owns everything it makes, as any FUSE filesystem does).
   */
  private newOwner(l: Lower, caller: Caller | undefined): { uid: number; gid: number } | null {
    if (!caller || !this.asRoot) return null;
    if (caller.uid === 0 && caller.gid === 0) return null; // root's own, set-group-ID parent or not: no fstat
    const setgid = (fstatSync(l.dir).mode & 0o2000) !== 0;
    if (caller.uid === 0 && (setgid || caller.gid === 0)) return null;
    return { uid: caller.uid, gid: setgid ? -1 : caller.gid };
  }

  /**
   * Gives a just-made entry (open as `fd`) to its owner and the exact mode
   * asked for: chown clears set-user/group-ID, and the daemon's umask may
   * have taken bits the caller's did not. `keep` are bits the lower
   * filesystem added that must stay (a directory's inherited set-group-ID).
   */
  private settle(fd: number, mode: number, own: { uid: number; gid: number } | null, keep = 0, l?: Lower): void {
    if (!own && !(mode & this.umask)) return;
    // A default ACL of the parent made the entry's ACL and mode (POSIX:
    // no umask then, the mode and the ACL's mask in step): keep that mode,
    // restoring only what chown clears.
    const inherited = l && this.hasAcl(l) ? fstatSync(fd).mode & 0o777 : -1;
    if (own) fchownSync(fd, own.uid, own.gid);
    const base = inherited >= 0 ? inherited | (mode & 0o7000) : mode & 0o7777;
    fchmodSync(fd, base | (keep ? fstatSync(fd).mode & keep : 0));
  }

  /** Lower location of a mount path ('/a/b'). */
  lower(path: string): Lower {
    if (path === '/') return { dir: AT_FDCWD, name: this.root, rel: '', abs: this.root, enc: null };
    const cut = path.lastIndexOf('/');
    if (cut < 0) throw new FuseError(E.EINVAL);
    const parent = this.lowerDir(cut === 0 ? '/' : path.slice(0, cut));
    const enc = this.format.names.encryptName(path.slice(cut + 1), parent.ctx);
    const full = parent.rel ? `${parent.rel}/${enc.lowerName}` : enc.lowerName;
    return { dir: this.dirFd(parent.rel), name: enc.lowerName, rel: full, abs: `${this.root}/${full}`, enc };
  }

  /**
   * The lower path and name context of the mount's directory `path`, kept by
   * plaintext path: a lookup then encrypts one name, not every name on its
   * path (a stat storm asks for thousands of paths below the same few
   * directories). What it holds follows from the names and the directories'
   * IVs alone, so it is dropped only where those change: a directory renamed
   * or removed through the mount (forgetDirs).
   */
  private lowerDir(path: string): LowerDir {
    let d = this.lowerDirs.get(path);
    if (d) return d;
    // cleared before the parents are filled in: a directory kept means its parents are kept
    if (this.lowerDirs.size >= LOWER_DIRS) this.lowerDirs.clear();
    if (path === '/') {
      d = { rel: '', ctx: this.dirContext('') };
    } else {
      const cut = path.lastIndexOf('/');
      const parent = this.lowerDir(cut === 0 ? '/' : path.slice(0, cut));
      const name = this.format.names.encryptName(path.slice(cut + 1), parent.ctx).lowerName;
      const rel = parent.rel ? `${parent.rel}/${name}` : name;
      d = { rel, ctx: this.dirContext(rel) };
    }
    this.lowerDirs.set(path, d);
    return d;
  }

  /** The mount's directory `path` was renamed or removed (or replaced): forget it and what is below. */
  private forgetDirs(path: string): void {
    if (!this.lowerDirs.has(path)) return; // nor anything below it, then
    const prefix = `${path}/`;
    for (const k of this.lowerDirs.keys()) if (k === path || k.startsWith(prefix)) this.lowerDirs.delete(k);
  }

  private get rootFd(): number {
    if (this.rootFdValue < 0) this.rootFdValue = this.openDir(AT_FDCWD, this.root, 0);
    return this.rootFdValue;
  }

  /**
   * Opens a lower directory for the cache: readable, so the same descriptor
   * serves its listing (getdents), its IV file and the *at calls on its
   * entries; O_PATH where it cannot be read (a user's 0300 directory), and
   * then a listing opens it again.
   */
  private openDir(at: number, name: string, nofollow = fsc.O_NOFOLLOW): number {
    try {
      return openatSync(at, name, fsc.O_RDONLY | fsc.O_DIRECTORY | nofollow);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
    }
    const fd = openatSync(at, name, O_PATH | fsc.O_DIRECTORY | nofollow);
    this.dirFdState.set(fd, PATH_ONLY);
    return fd;
  }

  /** A cached directory descriptor is closed (or about to be): its number may come back as another. */
  private forgetDirFd(fd: number): void {
    this.dirFdState.delete(fd);
  }

  /** The lower entries of the directory open as `fd` (a cached descriptor); `abs` names it in errors. */
  private listDir(fd: number, abs: string): LowerDirent[] {
    const state = this.dirFdState.get(fd);
    if (state === PATH_ONLY) return readdiratSync(fd, '.');
    this.dirFdState.set(fd, LISTED);
    return readdirFromStartSync(fd, abs, state === LISTED);
  }

  /**
   * A descriptor of the lower directory at `rel` (relative to the root),
   * opened component by component with O_NOFOLLOW. Valid until the next
   * call's trim: the cache keeps the DIR_CACHE most recently used, so the
   * directories of one operation's two paths (rename, link) stay open.
   */
  private dirFd(rel: string): number {
    if (rel === '') return this.rootFd;
    const dirs = this.dirs;
    const hit = dirs.get(rel);
    if (hit !== undefined) {
      dirs.delete(rel);
      dirs.set(rel, hit);
      return hit;
    }
    for (const [k, fd] of dirs) {
      if (dirs.size < DIR_CACHE) break;
      dirs.delete(k);
      this.forgetDirFd(fd);
      closeSync(fd);
    }
    let fd = this.rootFd;
    let at = '';
    for (const name of rel.split('/')) {
      at = at ? `${at}/${name}` : name;
      const c = dirs.get(at);
      if (c !== undefined) {
        fd = c;
        continue;
      }
      fd = this.openDir(fd, name);
      dirs.set(at, fd);
    }
    return fd;
  }

  /**
   * The descriptor of a directory just made at `rel`, kept as if dirFd had
   * opened it: the creates in a new directory follow at once (an untar).
   * Taken after the operation's last use of its parent's descriptor, which
   * the trim may close.
   */
  private keepDirFd(rel: string, fd: number): void {
    const dirs = this.dirs;
    const old = dirs.get(rel);
    if (old !== undefined) {
      dirs.delete(rel);
      closeSync(old);
    }
    for (const [k, f] of dirs) {
      if (dirs.size < DIR_CACHE) break;
      dirs.delete(k);
      closeSync(f);
    }
    dirs.set(rel, fd);
  }

  /**
   * The directory at `rel` was renamed or removed: forget it and everything
   * below. Its descriptor is closed on a pool thread: after an rmdir it is the
   * last reference to the lower inode, and its close frees the inode on the
   * lower filesystem (measured at ~2 ms a directory in the canonical rm -rf,
   * waiting on the journal), which need not hold up the reply.
   */
  private dropDirs(rel: string): void {
    this.ivs?.drop(rel);
    const prefix = `${rel}/`;
    for (const [k, fd] of this.dirs) {
      if (k === rel || k.startsWith(prefix)) {
        this.dirs.delete(k);
        this.forgetDirFd(fd);
        this.flushes.close(fd, (err) => this.log(`homecrypt: close of lower directory ${this.root}/${k}: ${err.message}`));
      }
    }
  }

  /** A path of `l` no longer than a few names, for the calls that have no *at form. */
  private shortPath(l: Lower): string {
    return l.dir === AT_FDCWD ? l.name : `/proc/self/fd/${l.dir}/${l.name}`;
  }

  private dirContext(rel: string): DirContext {
    const ivs = this.ivs;
    return {
      lowerDir: rel,
      readSidecar: (name) => this.readIn(rel, name),
      dirIV: ivs ? () => ivs.peek(rel) ?? ivs.get(rel, () => this.dirFd(rel), rel ? `${this.root}/${rel}` : this.root) : undefined,
    };
  }

  /** A long name's sidecar (null: none that can be read; a fifo, a device or a huge file is none). */
  private readIn(rel: string, name: string): Buffer | null {
    try {
      return readSmallFileAt(this.dirFd(rel), name, SIDECAR_MAX_BYTES, name);
    } catch {
      return null;
    }
  }

  /** Reports an integrity failure with the lower file's name and answers EIO. */
  private integrity(op: string, lowerPath: string, err: unknown): never {
    if (isIntegrityError(err)) {
      this.log(`homecrypt: EIO: ${op}: ${lowerPath}: ${(err as Error).message}`);
      throw new FuseError(E.EIO);
    }
    throw new FuseError(errnoFor(err));
  }

  /** FUSE attributes of a lower entry: `l` names it (for a symlink's or eCryptfs file's size) unless `cipher` is given. */
  private toStat(st: LowerStat, l: Lower | null, cipher?: FileCipher): FuseStat {
    let size = st.size;
    const type = st.mode & S_IFMT;
    if (type === S_IFREG) {
      const files = this.format.files;
      size = cipher
        ? cipher.plaintextSize(st.size)
        : files.sizeNeedsHeader && files.plaintextSizeOfFile && l
          ? files.plaintextSizeOfFile(this.shortPath(l), st.size)
          : files.plaintextSizeOf(st.size);
    } else if (type === S_IFLNK) {
      const names = this.format.names;
      if (names.targetSize) {
        // from the lower size, not the target: a readlink here would move
        // the lower link's atime (relatime) on every getattr
        size = names.targetSize(st.size) ?? st.size;
      } else if (l) {
        try {
          size = bytesOfName(names.decryptTarget(readlinkatSync(l.dir, l.name))).length;
        } catch {
          /* keep the lower size; readlink reports the failure */
        }
      }
    }
    return {
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      size,
      nlink: st.nlink,
      ino: st.ino,
      dev: st.dev,
      rdev: st.rdev,
      blksize: 4096,
      blocks: st.blocks,
      atimeMs: st.atimeMs,
      mtimeMs: st.mtimeMs,
      ctimeMs: st.ctimeMs,
    };
  }

  private writeSidecar(l: Lower): boolean {
    if (!l.enc?.sidecar) return false;
    const { name, content } = l.enc.sidecar;
    let fd: number;
    try {
      fd = openatSync(l.dir, name, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false; // same name → same content
      throw err;
    }
    try {
      for (let at = 0; at < content.length;) at += writeSync(fd, content, at);
    } catch (err) {
      try {
        unlinkatSync(l.dir, name);
      } catch {
        /* gone */
      }
      throw err;
    } finally {
      closeSync(fd);
    }
    return true;
  }

  private removeSidecar(l: Lower): void {
    if (!l.enc?.sidecar) return;
    try {
      unlinkatSync(l.dir, l.enc.sidecar.name);
    } catch {
      /* already gone */
    }
  }

  /** Runs an operation that creates `l`, with its sidecar first and undone on failure. */
  private creating<T>(l: Lower, fn: () => T): T {
    const made = this.writeSidecar(l);
    try {
      return fn();
    } catch (err) {
      if (made) this.removeSidecar(l);
      throw err;
    }
  }

  /**
   * Opens a lower file with O_NOATIME where the kernel permits it (the owner
   * or CAP_FOWNER; else EPERM, and the open is retried without): reading
   * through the mount then costs no atime update of the ciphertext file.
   * Never blocking: a lower fifo where the kernel still has a regular file
   * (anyone who can write into the lower directory can put one there) would
   * stop the daemon, and the mount with it; the caller refuses what it opened.
   */
  private openNoAtime(l: Lower, flagsAsked: number, mode?: number): number {
    const flags = flagsAsked | fsc.O_NONBLOCK;
    try {
      return openatSync(l.dir, l.name, flags | fsc.O_NOATIME, mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    }
    return openatSync(l.dir, l.name, flags, mode);
  }

  /**
   * `handle`: the file stays open for a FUSE handle (released by a later
   * request), so its writes may finish after their reply; a file opened and
   * closed within one operation (truncate by path) writes inline.
   */
  private openLower(l: Lower, flags: number, op: string, handle = false): OpenFile & { st: LowerStat } {
    const fd = this.openNoAtime(l, flags | fsc.O_NOFOLLOW);
    let size: SizeCell | null = null;
    try {
      this.afterReply?.run(); // a queued write of another handle of this file lands before its size is read
      let st = fstatSync(fd);
      if (!st.isFile()) fail(E.EINVAL);
      size = this.sizes.take(st.dev, st.ino, st.size);
      const io = new FdLowerIO(fd, l.abs, handle ? this.afterReply : undefined, this.log, size);
      const files = this.format.files;
      let cipher = files.openAtRest?.(io);
      if (!cipher) {
        if (files.hasPendingWrite?.(io)) {
          this.recoverLower(l, flags, io, size);
          st = fstatSync(fd); // what the recovery left (the attributes go to the kernel)
        }
        cipher = files.open(io);
      }
      return { fd, io, cipher, size, st, readOnly: (flags & 3) === fsc.O_RDONLY };
    } catch (err) {
      this.sizes.drop(size);
      closeSync(fd);
      this.integrity(op, l.abs, err);
    }
  }

  /**
   * A write the last daemon did not finish (it was killed): its record puts
   * the file back whole before anyone reads it (write-journal.ts). A file
   * opened read-only is recovered through a second descriptor.
   */
  private recoverLower(l: Lower, flags: number, io: FdLowerIO, size: SizeCell | null): void {
    const rw = (flags & 3) === fsc.O_RDWR ? null : this.openNoAtime(l, fsc.O_RDWR | fsc.O_NOFOLLOW);
    try {
      if (this.format.files.recover!(rw === null ? io : new FdLowerIO(rw, l.abs, undefined, undefined, size))) {
        this.log?.(`homecrypt: ${l.abs}: a write cut short by a crash was rolled back (or finished) from its record`);
      }
    } finally {
      if (rw !== null) closeSync(rw);
    }
  }

  private handle(f: OpenFile): number {
    const fh = this.nextFh++;
    if (this.nextFh > 0x7fffffff) this.nextFh = 1;
    this.files.set(fh, f);
    return fh;
  }

  private file(fh: number): OpenFile {
    const f = this.files.get(fh);
    if (!f) fail(E.EBADF);
    return f;
  }

  // ---- the operations ----

  getattr(path: string): FuseStat {
    this.afterReply?.run(); // sizes and times as of the last write
    const l = this.lower(path);
    return this.toStat(lstatatSync(l.dir, l.name), l);
  }

  fgetattr(path: string, fh: number): FuseStat {
    this.afterReply?.run();
    const f = this.files.get(fh);
    if (!f) return this.getattr(path);
    const st = fstatSync(f.fd);
    if (f.size) f.size.size = st.size; // the same truth, fresh
    return this.toStat(st, null, f.cipher);
  }

  access(path: string, mode: number): void {
    const l = this.lower(path);
    faccessatSync(l.dir, l.name, mode);
  }

  statfs(): FuseStatfs {
    return fuseStatfsOf(statfsSync(this.root));
  }

  readdir(path: string): DirEntry[] {
    const d = this.lowerDir(path);
    const ctx = d.ctx;
    // a directory without its state gives EIO even when empty (integrity error)
    ctx.dirIV?.();
    const l = { abs: d.rel ? `${this.root}/${d.rel}` : this.root };
    const dots: DirEntry[] = [];
    const out: DirEntry[] = [];
    let failed = 0;
    // subdirectories' IV files read ahead only where this directory's own came
    // from the disk (or from a read-ahead): not in a tree the page cache holds
    const ahead: string[] | null = this.ivAhead && (!this.ivs!.fromPageCache(d.rel) || this.ivAhead.readAhead(d.rel)) ? [] : null;
    // the lower entries' inode numbers are those getattr reports; the cached
    // descriptor of the directory is listed (no open and close per listing)
    const fd = this.dirFd(d.rel);
    for (const e of this.listDir(fd, l.abs)) {
      const name = nameFromBytes(e.name);
      if (name === '.' || name === '..') {
        dots.push({ name, ino: e.ino, type: e.type });
        continue;
      }
      try {
        const plain = this.format.names.decryptName(name, ctx);
        if (plain === null) continue;
        out.push({ name: plain, ino: e.ino, type: e.type });
        if (ahead && e.type === DT_DIR && !this.ivs!.peek(d.rel ? `${d.rel}/${name}` : name)) ahead.push(name);
      } catch (err) {
        if (this.format.names.dirState?.looksSealed(name)) failed++;
        this.log(`homecrypt: skipping ${l.abs}/${name}: ${(err as Error).message}`);
      }
    }
    if (ahead?.length) this.ivAhead!.listed(fd, d.rel, ahead);
    if (failed > 0 && out.length === 0 && ctx.dirIV) {
      // nothing here is sealed under this directory's IV: its state file is not its own
      this.log(`homecrypt: EIO: readdir: ${l.abs}: none of its ${failed} entries authenticates under its directory IV (the IV file was replaced or swapped)`);
      fail(E.EIO);
    }
    dots.sort((a, b) => a.name.length - b.name.length);
    return [...dots, ...out];
  }

  open(path: string, flags: number): number {
    return this.openWithAttr(path, flags).fh;
  }

  /** open, with the attributes of the fstat the open made anyway (the bridge's cache decision needs them). */
  openWithAttr(path: string, flags: number): { fh: number; attr: FuseStat } {
    const l = this.lower(path);
    const acc = flags & 3; // O_ACCMODE
    const { st, ...f } = this.openLower(l, acc === fsc.O_RDONLY ? fsc.O_RDONLY : fsc.O_RDWR, 'open', true);
    const fh = this.handle(f);
    return { fh, attr: this.toStat(st, null, f.cipher) };
  }

  create(path: string, mode: number, caller?: Caller): number {
    return this.createWithAttr(path, mode, caller).fh;
  }

  /**
   * create, with the new file's attributes from the one fstat it makes, after
   * its header is written: that fstat is both the size cell's start and the
   * bridge's reply (an fstat before the header and one after it were two
   * lower calls a create, docs/BENCHMARKS.md "Session 24").
   */
  createWithAttr(path: string, mode: number, caller?: Caller): { fh: number; attr: FuseStat } {
    const l = this.lower(path);
    const own = this.newOwner(l, caller);
    return this.creating(l, () => {
      const fd = this.openNoAtime(l, fsc.O_CREAT | fsc.O_EXCL | fsc.O_RDWR | fsc.O_NOFOLLOW, mode & 0o7777);
      let size: SizeCell | null = null;
      try {
        this.settle(fd, mode, own, 0, l);
        const { bytes, tail, cipher } = this.format.files.create();
        const first = new FdLowerIO(fd, l.abs); // no cell yet: the header's writes come before the fstat
        first.pwrite(bytes, 0);
        if (tail) first.pwrite(tail.bytes, tail.at);
        const st = fstatSync(fd);
        size = this.sizes.take(st.dev, st.ino, st.size);
        const io = new FdLowerIO(fd, l.abs, this.afterReply, this.log, size);
        io.slotEmpty = true; // a new file holds no write record
        return { fh: this.handle({ fd, io, cipher, size }), attr: this.toStat(st, null, cipher) };
      } catch (err) {
        this.sizes.drop(size);
        closeSync(fd);
        try {
          unlinkatSync(l.dir, l.name);
        } catch {
          /* gone */
        }
        throw err;
      }
    });
  }

  read(_path: string, fh: number, buf: Buffer, offset: number): number {
    const f = this.file(fh);
    try {
      if (f.cipher.readInto) return f.cipher.readInto(f.io, offset, buf);
      return f.cipher.read(f.io, offset, buf.length).copy(buf);
    } catch (err) {
      this.integrity('read', f.io.lowerPath, err);
    }
  }

  write(_path: string, fh: number, buf: Buffer, offset: number): number {
    const f = this.file(fh);
    try {
      f.cipher.write(f.io, offset, buf);
      return buf.length;
    } catch (err) {
      this.integrity('write', f.io.lowerPath, err);
    }
  }

  // No flush: every write reaches the lower file (pwrite) before it is
  // acknowledged, and its errors are the write's own, so a flush would have
  // nothing to do or report at close. Leaving it out of the operations table
  // answers the first FLUSH with ENOSYS, and the kernel sends no more (a round
  // trip saved on every close); with the writeback cache the kernel still
  // writes dirty pages back (as WRITE requests) before close returns, and
  // reports their errors there.

  /**
   * Waits on a libuv pool thread, not the JS thread (lower-flush.ts):
   * flushing a large file to a slow device takes seconds, and the mount's
   * other requests are answered meanwhile. A caller killed while it waits
   * gets its answer at once (FUSE_INTERRUPT, src/fuse/kernel/interrupts.ts);
   * the flush goes on.
   */
  fsync(_path: string, datasync: boolean, fh: number): Promise<void> {
    const f = this.file(fh);
    try {
      f.io.settle?.(); // a write that failed after its reply is reported here
    } catch (err) {
      this.integrity('fsync', f.io.lowerPath, err);
    }
    return this.flushes.fsync(f.fd, datasync).catch((err: unknown) => {
      throw new FuseError(errnoFor(err));
    });
  }

  release(_path: string, fh: number): void {
    const f = this.files.get(fh);
    if (!f) return;
    this.files.delete(fh);
    // a write still queued goes in before its descriptor closes (the kernel
    // ignores release errors: a failure is in the log)
    try {
      f.io.settle?.();
      f.cipher.release?.(f.io);
    } catch {
      /* logged when it failed */
    }
    this.sizes.drop(f.size);
    if ((f.readOnly || this.closeWritersInline) && this.flushes.idle) {
      // a reader's descriptor has nothing to flush (nor a writer's on a local
      // disk filesystem, lower-flush.ts), and no fsync or close on the pool
      // holds a lock its close could wait for: closed here, a few µs, instead
      // of a hop to a pool thread and back for every file a reader opens (md5
      // of a tree: docs/BENCHMARKS.md, "Session 6") or a writer makes (each
      // object of a `git add`, each sqlite journal: "Session 7")
      try {
        closeSync(f.fd);
      } catch (err) {
        this.log(`homecrypt: close ${f.io.lowerPath}: ${(err as Error).message}`);
      }
      return;
    }
    this.flushes.close(f.fd, (err) => this.log(`homecrypt: close ${f.io.lowerPath}: ${err.message}`));
  }

  truncate(path: string, size: number): void {
    const l = this.lower(path);
    const f = this.openLower(l, fsc.O_RDWR, 'truncate');
    try {
      f.cipher.truncate(f.io, size);
      f.cipher.release?.(f.io);
    } catch (err) {
      this.integrity('truncate', l.abs, err);
    } finally {
      this.sizes.drop(f.size);
      closeSync(f.fd);
    }
  }

  ftruncate(_path: string, fh: number, size: number): void {
    const f = this.file(fh);
    try {
      f.cipher.truncate(f.io, size);
    } catch (err) {
      this.integrity('truncate', f.io.lowerPath, err);
    }
  }

  /**
   * fallocate: the default mode and KEEP_SIZE reserve space (and grow the
   * file, with holes, unless KEEP_SIZE); PUNCH_HOLE|KEEP_SIZE makes a range
   * read as zeros and frees its whole blocks. Other modes: EOPNOTSUPP.
   */
  fallocate(_path: string, fh: number, mode: number, offset: number, length: number): void {
    const f = this.file(fh);
    try {
      if (mode === (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) && f.cipher.punchHole) f.cipher.punchHole(f.io, offset, length);
      else if ((mode & ~FALLOC_FL_KEEP_SIZE) === 0 && f.cipher.allocate) f.cipher.allocate(f.io, offset, length, mode !== 0);
      else fail(E.EOPNOTSUPP);
    } catch (err) {
      this.integrity('fallocate', f.io.lowerPath, err);
    }
  }

  /** SEEK_DATA / SEEK_HOLE (the kernel answers the other whence values itself). */
  lseek(_path: string, fh: number, offset: number, whence: number): number {
    const f = this.file(fh);
    if (whence !== SEEK_DATA && whence !== SEEK_HOLE) fail(E.EINVAL);
    const w = whence === SEEK_DATA ? 'data' : 'hole';
    try {
      if (f.cipher.seek) return f.cipher.seek(f.io, offset, w);
      // a format without holes: all data, then the hole at EOF
      const size = f.cipher.plaintextSize(f.io.size());
      if (offset >= size) fail(E.ENXIO);
      return w === 'data' ? offset : size;
    } catch (err) {
      this.integrity('lseek', f.io.lowerPath, err);
    }
  }

  utimens(path: string, atimeMs: number | null, mtimeMs: number | null): void {
    const l = this.lower(path);
    utimensatSync(l.dir, l.name, atimeMs, mtimeMs);
  }

  chmod(path: string, mode: number): void {
    const l = this.lower(path);
    try {
      fchmodatSync(l.dir, l.name, mode & 0o7777);
    } catch (err) {
      // the kernel never asks to chmod a symlink (it follows the one it knows):
      // a lower entry that is one now was put there behind the mount
      if ((err as NodeJS.ErrnoException).code !== 'EOPNOTSUPP') throw err;
      this.integrity('chmod', l.abs, new AuthenticationError('a symlink in the lower directory where the mount knows another type'));
    }
  }

  chown(path: string, uid: number, gid: number): void {
    const l = this.lower(path);
    fchownatSync(l.dir, l.name, uid, gid);
  }

  readlink(path: string): string {
    const l = this.lower(path);
    try {
      return this.format.names.decryptTarget(readlinkatSync(l.dir, l.name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code) throw err;
      this.integrity('readlink', l.abs, err);
    }
  }

  symlink(target: string, path: string, caller?: Caller): void {
    const l = this.lower(path);
    const enc = this.format.names.encryptTarget(target);
    const own = this.newOwner(l, caller);
    this.creating(l, () => {
      symlinkatSync(enc, l.dir, l.name);
      if (own) this.undoing(l, () => fchownatSync(l.dir, l.name, own.uid, own.gid));
    });
  }

  link(existing: string, path: string): void {
    const from = this.lower(existing);
    const l = this.lower(path);
    this.creating(l, () => linkatSync(from.dir, from.name, l.dir, l.name));
  }

  mknod(path: string, mode: number, rdev: number, caller?: Caller): void {
    const l = this.lower(path);
    if ((mode & S_IFMT) === S_IFREG || (mode & S_IFMT) === 0) {
      this.release(path, this.create(path, mode, caller));
      return;
    }
    const own = this.newOwner(l, caller);
    this.creating(l, () => {
      mknodatSync(l.dir, l.name, mode, rdev);
      if (!own && !(mode & this.umask)) return;
      // a fifo or device cannot be opened for fchmod: an O_PATH descriptor
      // names the inode itself, and /proc's link to it is chmod-able
      this.undoing(l, () => {
        const fd = openatSync(l.dir, l.name, O_PATH | fsc.O_NOFOLLOW);
        try {
          // (swapped for a symlink meanwhile, /proc would follow it: refuse)
          if ((fstatSync(fd).mode & S_IFMT) !== (mode & S_IFMT)) fail(E.EIO);
          if (own) chownSync(`/proc/self/fd/${fd}`, own.uid, own.gid);
          chmodSync(`/proc/self/fd/${fd}`, mode & 0o7777);
        } finally {
          closeSync(fd);
        }
      });
    });
  }

  mkdir(path: string, mode: number, caller?: Caller): void {
    const state = this.format.names.dirState;
    // the lower mkdir gives the mode asked, so no fchmod is needed, unless
    // the daemon's umask takes bits of it, a default ACL of the parent
    // decides instead, or a non-root daemon could not open and write into it
    const direct = !!state && !(mode & this.umask & 0o777) && (this.asRoot || (mode & 0o700) === 0o700) && !this.parentHasDefaultAcl(path);
    const l = this.lower(path);
    const own = this.newOwner(l, caller);
    if (state) {
      this.creating(l, () => {
        const { iv, fd } = mkdirWithState(state, l.dir, l.name, mode, own, direct);
        this.ivs!.set(l.rel, iv);
        this.keepDirFd(l.rel, fd);
      });
      return;
    }
    this.creating(l, () => {
      mkdiratSync(l.dir, l.name, mode & 0o7777);
      if (!own && !(mode & this.umask)) return;
      this.undoing(
        l,
        () => {
          const fd = openatSync(l.dir, l.name, fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW);
          try {
            this.settle(fd, mode & 0o1777, own, 0o2000, l);
          } finally {
            closeSync(fd);
          }
        },
        true,
      );
    });
  }

  /** Runs `fn` on the entry just made at `l`; if it fails, the entry goes again. */
  private undoing(l: Lower, fn: () => void, dir = false): void {
    try {
      fn();
    } catch (err) {
      try {
        unlinkatSync(l.dir, l.name, dir);
      } catch {
        /* gone */
      }
      throw err;
    }
  }

  rmdir(path: string): void {
    const l = this.lower(path);
    const state = this.format.names.dirState;
    const putBack = state ? takeStateOut(state, l.dir, l.name, this.ivs!.peek(l.rel)) : null;
    try {
      unlinkatSync(l.dir, l.name, true);
    } catch (err) {
      putBack?.();
      throw err;
    }
    this.dropDirs(l.rel);
    this.forgetDirs(path);
    this.removeSidecar(l);
  }

  unlink(path: string): void {
    const l = this.lower(path);
    unlinkatSync(l.dir, l.name);
    this.removeSidecar(l);
  }

  rename(from: string, to: string, flags = 0): void {
    const a = this.lower(from);
    const b = this.lower(to);
    if (a.rel === b.rel) {
      if (flags & RENAME_NOREPLACE) fail(E.EEXIST);
      return;
    }
    if (flags & RENAME_EXCHANGE) {
      // both names stay, each with its sidecar: only the entries swap
      renameat2Sync(a.dir, a.name, b.dir, b.name, flags);
      this.dropDirs(a.rel);
      this.dropDirs(b.rel);
      this.forgetDirs(from);
      this.forgetDirs(to);
      return;
    }
    const move = () => (flags ? renameat2Sync(a.dir, a.name, b.dir, b.name, flags) : renameatSync(a.dir, a.name, b.dir, b.name));
    const iv = this.ivs?.peek(a.rel);
    this.creating(b, () => {
      try {
        move();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (!this.ivs || (code !== 'ENOTEMPTY' && code !== 'EEXIST') || flags & RENAME_NOREPLACE) throw err;
        // over a directory that holds only its state file: the state goes first (and comes back on failure)
        const putBack = takeStateOut(this.format.names.dirState!, b.dir, b.name, this.ivs.peek(b.rel));
        try {
          move();
        } catch (again) {
          putBack();
          throw again;
        }
      }
    });
    this.dropDirs(a.rel);
    this.dropDirs(b.rel);
    this.forgetDirs(from);
    this.forgetDirs(to);
    // a directory keeps its IV file where it goes: its IV stays known
    if (iv) this.ivs!.set(b.rel, iv);
    this.removeSidecar(a);
  }

  // POSIX ACLs (system.posix_acl_access, _default) are the lower entry's own
  // ACLs, unencrypted like its owner and mode: the lower filesystem keeps the
  // mode and the ACL's mask in step (chmod, setfacl) and gives new entries
  // their parent's default ACL; the kernel checks them (FUSE_POSIX_ACL,
  // docs/FORMAT-FILES.md). A lower filesystem without ACLs refuses them
  // (EOPNOTSUPP; "none" when asked for one).
  private static isAcl(name: string): boolean {
    return name === ACL_ACCESS || name === ACL_DEFAULT;
  }

  /** True when the lower entry at `l` has an access ACL (it inherited one). */
  private hasAcl(l: Lower): boolean {
    try {
      getxattratSync(l.dir, l.name, ACL_ACCESS);
      return true;
    } catch {
      return false;
    }
  }

  // user.* and trusted.* xattrs: names and values through the format's XattrCodec
  private xattrName(name: string): string {
    const x = this.format.xattrs;
    if (!x) fail(E.EOPNOTSUPP);
    const lower = x.encryptXattrName(name);
    if (lower === null) fail(E.EOPNOTSUPP);
    return lower;
  }

  /**
   * The default ACL of the directory `path`, kept with the directory once
   * read: every CREATE, MKDIR and MKNOD asks for its parent's (POSIX's umask
   * rule, src/fuse/kernel/handlers/entries.ts `umasked`), nearly always to
   * hear ENODATA. It changes only by a SETXATTR or REMOVEXATTR of it through
   * the mount, which forget it, or with the directory's rename or removal,
   * which forget the directory (forgetDirs). Only a directory the engine
   * holds as one (the parent of a path it was asked about) keeps it: a
   * file's "none" must not outlive the file if a directory takes its name.
   */
  private defaultAcl(path: string): Buffer {
    const d = this.lowerDirs.get(path);
    let acl = d?.defaultAcl;
    if (acl === undefined) {
      try {
        const l = this.lower(path);
        acl = getxattratSync(l.dir, l.name, ACL_DEFAULT);
      } catch (err) {
        // the kernel takes EOPNOTSUPP for a failed permission check; none is none
        const errno = errnoFor(err);
        if (errno !== E.ENODATA && errno !== E.EOPNOTSUPP) throw err;
        acl = null;
      }
      if (d) d.defaultAcl = acl;
    }
    if (acl === null) fail(E.ENODATA);
    return Buffer.from(acl);
  }

  /** True when the parent directory of `path` has a default ACL (kept: defaultAcl). */
  private parentHasDefaultAcl(path: string): boolean {
    const cut = path.lastIndexOf('/');
    try {
      this.defaultAcl(cut <= 0 ? '/' : path.slice(0, cut));
      return true;
    } catch (err) {
      return errnoFor(err) !== E.ENODATA; // (any other failure: the careful way)
    }
  }

  /** A default ACL is about to change (or go): the one kept is forgotten. */
  private forgetDefaultAcl(path: string, name: string): void {
    if (name !== ACL_DEFAULT) return;
    const d = this.lowerDirs.get(path);
    if (d) d.defaultAcl = undefined;
  }

  setxattr(path: string, name: string, value: Buffer, flags: number): void {
    if (EncryptedFilesystem.isAcl(name)) {
      this.forgetDefaultAcl(path, name);
      lsetxattrSync(this.shortPath(this.lower(path)), name, value, flags);
      return;
    }
    const lowerName = this.xattrName(name);
    lsetxattrSync(this.shortPath(this.lower(path)), lowerName, this.format.xattrs!.encryptXattrValue(lowerName, value), flags);
  }

  getxattr(path: string, name: string): Buffer {
    if (name === ACL_DEFAULT) return this.defaultAcl(path);
    if (EncryptedFilesystem.isAcl(name)) {
      try {
        const l = this.lower(path);
        return getxattratSync(l.dir, l.name, name);
      } catch (err) {
        // the kernel takes EOPNOTSUPP for a failed permission check; none is none
        if (errnoFor(err) === E.EOPNOTSUPP) fail(E.ENODATA);
        throw err;
      }
    }
    const x = this.format.xattrs;
    const lowerName = x ? x.encryptXattrName(name) : null;
    // security.*, system.* …: not stored here (setxattr says EOPNOTSUPP too).
    // Not ENODATA: `ls -l` asks security.selinux of every entry, and stops
    // asking on a filesystem that does not support it (coreutils keeps the
    // device), which saves a round trip per entry listed
    if (lowerName === null) fail(E.EOPNOTSUPP);
    const l = this.lower(path);
    const sealed = getxattratSync(l.dir, l.name, lowerName);
    try {
      return x!.decryptXattrValue(lowerName, sealed);
    } catch (err) {
      this.integrity('getxattr', l.abs, err);
    }
  }

  /** trusted.* names only for root (as ext4 lists them only to CAP_SYS_ADMIN; the caller's uid is what we know). */
  listxattr(path: string, caller?: Caller): string[] {
    const x = this.format.xattrs;
    const out: string[] = [];
    for (const n of llistxattrSync(this.shortPath(this.lower(path)))) {
      if (EncryptedFilesystem.isAcl(n)) {
        out.push(n);
        continue;
      }
      const plain = x?.decryptXattrName(n) ?? null;
      if (plain !== null && (caller?.uid === 0 || !plain.startsWith('trusted.'))) out.push(plain);
    }
    return out;
  }

  removexattr(path: string, name: string): void {
    if (EncryptedFilesystem.isAcl(name)) {
      this.forgetDefaultAcl(path, name);
      lremovexattrSync(this.shortPath(this.lower(path)), name);
      return;
    }
    lremovexattrSync(this.shortPath(this.lower(path)), this.xattrName(name));
  }

  /**
   * The engine's end, once its connection is over: the fsyncs and closes
   * still on the pool finish (lower-flush.ts), then the write queued after
   * the last reply goes in and every lower descriptor is closed (closeAll).
   * Only then is everything it acknowledged in the lower files, and may the
   * daemon let go of the lower directory's lock and exit.
   */
  async close(): Promise<void> {
    await this.flushes.settled();
    this.closeAll();
  }

  /** Closes every lower file (at unmount, or when a tool is done with the engine). */
  closeAll(): void {
    try {
      this.afterReply?.run();
    } catch {
      /* logged by the job */
    }
    for (const f of this.files.values()) {
      this.sizes.drop(f.size);
      try {
        closeSync(f.fd);
      } catch {
        /* closed */
      }
    }
    this.files.clear();
    for (const fd of this.dirs.values()) closeSync(fd);
    this.dirs.clear();
    this.dirFdState.clear();
    if (this.rootFdValue >= 0) closeSync(this.rootFdValue);
    this.rootFdValue = -1;
  }

  /** The operations table for the FUSE bridge; errors leave as errno values. */
  ops(): FuseOps {
    const wrap =
      <A extends unknown[], T>(fn: (...a: A) => T) =>
      (...a: A): T => {
        try {
          return fn.apply(this, a);
        } catch (err) {
          if (err instanceof FuseError) throw err;
          if (isIntegrityError(err)) {
            this.log(`homecrypt: EIO: ${(err as Error).message}`);
          }
          fail(errnoFor(err)); // one shared error per errno: ENOENT and ENODATA come by the thousand
        }
      };
    return {
      getattr: wrap(this.getattr),
      fgetattr: wrap(this.fgetattr),
      access: wrap(this.access),
      statfs: wrap(this.statfs),
      readdir: wrap(this.readdir),
      open: wrap(this.open),
      openWithAttr: wrap(this.openWithAttr),
      create: wrap(this.create),
      createWithAttr: wrap(this.createWithAttr),
      read: wrap(this.read),
      write: wrap(this.write),
      fsync: wrap(this.fsync),
      release: wrap(this.release),
      truncate: wrap(this.truncate),
      ftruncate: wrap(this.ftruncate),
      fallocate: wrap(this.fallocate),
      lseek: wrap(this.lseek),
      utimens: wrap(this.utimens),
      chmod: wrap(this.chmod),
      chown: wrap(this.chown),
      readlink: wrap(this.readlink),
      symlink: wrap(this.symlink),
      link: wrap(this.link),
      mknod: wrap(this.mknod),
      mkdir: wrap(this.mkdir),
      rmdir: wrap(this.rmdir),
      unlink: wrap(this.unlink),
      rename: wrap(this.rename),
      renameFlags: true,
      posixAcl: true,
      setxattr: wrap(this.setxattr),
      getxattr: wrap(this.getxattr),
      listxattr: wrap(this.listxattr),
      removexattr: wrap(this.removexattr),
    };
  }
}
