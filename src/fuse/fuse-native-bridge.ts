// The FUSE bridge over fuse-native 2.2.6's native binding (libfuse 2.9 high-level
// API, one thread per in-flight request, each blocked on a semaphore until JS
// answers). We use the binding directly rather than fuse-native's JS class:
// - its JS layer passes atime twice to utimens: the kernel's mtime is still in
//   the per-thread request struct the binding hands us, so we read it there;
// - its fgetattr calls getattr(path), dropping the handle: we pass the handle;
// - its mount options have no big_writes/max_write (4 KiB writes, 40-50 MB/s)
//   and a per-request setTimeout: we build the -o string ourselves, no timers;
// - it answers every request on process.nextTick: we answer synchronous
//   results at once.
// Known limits that stay (fixing them needs another bridge, issue 8): times
// have millisecond precision; libfuse2 drops a setattr that changes the mtime
// alone (utimensat with atime UTIME_OMIT, as tar does); names must be UTF-8.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { statSync } from 'node:fs';
import { constants } from 'node:os';
import { isFuseMountedAt } from '../os/mounts.js';
import { fusermountUnmount } from './kernel/kernel-mount.js';
import { errnoOf, type FuseMount, type FuseOps, type FuseStat, type FuseStatfs, type MountOptions } from './bridge.js';

const require = createRequire(import.meta.url);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Binding = any;
let bindingCache: Binding | null = null;
function binding(): Binding {
  if (!bindingCache) {
    const dir = dirname(require.resolve('fuse-native/package.json'));
    const load = createRequire(`${dir}/index.js`)('node-gyp-build');
    bindingCache = load(dir);
  }
  return bindingCache;
}

// Offsets in fuse-native's fuse_thread_locals_t (x86_64 / aarch64 LP64):
// self 0, op 8, op_fn 16, path 24, dest 32, linkname 40, info 48, buf 56,
// offset 64, len 72, mode 80, dev 88, uid 96, gid 100, atime 104, mtime 112.
const LOCALS_ATIME = 104;
const LOCALS_MTIME = 112;

const EIO = constants.errno.EIO;
const ENOSYS = constants.errno.ENOSYS;
const ERANGE = constants.errno.ERANGE;
const ENODATA = constants.errno.ENODATA;

function statArray(st: FuseStat | null): Uint32Array {
  const a = new Uint32Array(18);
  if (!st) return a;
  a[0] = st.mode;
  a[1] = st.uid;
  a[2] = st.gid;
  setU64(a, 3, st.size);
  a[5] = 0;
  a[6] = st.nlink || 1;
  a[7] = st.ino;
  a[8] = st.rdev ?? 0;
  a[9] = st.blksize ?? 4096;
  setU64(a, 10, st.blocks ?? Math.ceil(st.size / 512));
  setU64(a, 12, Math.floor(st.atimeMs));
  setU64(a, 14, Math.floor(st.mtimeMs));
  setU64(a, 16, Math.floor(st.ctimeMs));
  return a;
}

function setU64(a: Uint32Array, i: number, n: number): void {
  const v = n < 0 ? 0 : n;
  a[i] = v % 4294967296;
  a[i + 1] = Math.floor(v / 4294967296);
}

function statfsArray(s: FuseStatfs | null): Uint32Array {
  const a = new Uint32Array(11);
  if (!s) return a;
  a[0] = s.bsize;
  a[1] = s.frsize;
  // the binding passes 32-bit counts: scale blocks so big disks do not wrap
  let scale = 1;
  while (s.blocks / scale > 0xffffffff) scale *= 2;
  a[0] = s.bsize * scale;
  a[1] = s.frsize * scale;
  a[2] = Math.floor(s.blocks / scale);
  a[3] = Math.floor(s.bfree / scale);
  a[4] = Math.floor(s.bavail / scale);
  a[5] = Math.min(s.files, 0xffffffff);
  a[6] = Math.min(s.ffree, 0xffffffff);
  a[7] = Math.min(s.favail, 0xffffffff);
  a[8] = 0;
  a[9] = 0;
  a[10] = s.namemax;
  return a;
}

// The binding converts a timespec to ms; UTIME_NOW and UTIME_OMIT (tv_sec 0,
// tv_nsec 2^30-1 / 2^30-2) both arrive as 1073. libfuse2 only calls utimens
// when both times are set, so "now" is the meaning that matters (touch(1)).
const UTIME_SPECIAL_MS = 1073;
function fromKernelTime(ms: number): number {
  return ms === UTIME_SPECIAL_MS ? Date.now() : ms;
}

function u64(lo: number, hi: number): number {
  return lo + hi * 4294967296;
}

/** Escapes a value for libfuse's comma-separated option string. */
function optEscape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/,/g, '\\,');
}

function buildOptions(o: MountOptions): string {
  const opts: string[] = [];
  if (o.debug) opts.push('debug');
  opts.push(`fsname=${optEscape(o.fsname)}`);
  if (o.subtype) opts.push(`subtype=${optEscape(o.subtype)}`);
  if (o.allowOther) opts.push('allow_other');
  if (o.defaultPermissions !== false) opts.push('default_permissions');
  if (o.useIno !== false) opts.push('use_ino', 'readdir_ino');
  if (o.readOnly) opts.push('ro');
  opts.push('big_writes', `max_write=${o.maxWrite ?? 131072}`, `max_read=${o.maxWrite ?? 131072}`);
  opts.push(`attr_timeout=${o.attrTimeout ?? 1}`, `entry_timeout=${o.entryTimeout ?? 1}`, `negative_timeout=${o.negativeTimeout ?? 1}`);
  const s = `-o${opts.join(',')}`;
  if (s.length >= 1024) throw new Error('FUSE mount options too long (fsname?)');
  return s;
}

type Signal = (...args: unknown[]) => void;

/**
 * Mounts `ops` at `mountPoint` and resolves once the kernel has initialised
 * the connection (the mount is usable). Rejects with a clear reason on failure.
 */
export function mountFuseNative(mountPoint: string, ops: FuseOps, options: MountOptions): Promise<FuseMount> {
  const b = binding();
  const onUnexpected =
    options.onUnexpectedError ??
    ((op, path, err) => {
      process.stderr.write(`homecrypt: ${op} ${path}: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    });
  const keep = new Set<Buffer>(); // per-thread request structs the binding lives in
  const thread = Buffer.alloc(b.sizeof_fuse_thread_t);
  let readyResolve: (() => void) | null = null;

  function fail(op: string, path: string, err: unknown): number {
    const n = errnoOf(err);
    if (n !== null) return -n;
    onUnexpected(op, path, err);
    return -EIO;
  }

  /**
   * Runs `fn`, then answers with `reply(result)` → signal args, or the errno.
   * `errArgs` are the extra arguments the binding needs even on failure.
   */
  function run<T>(op: string, path: string, sig: Signal, native: Buffer, errArgs: unknown[], fn: () => T | Promise<T>, reply: (v: T) => unknown[]): void {
    let v: T | Promise<T>;
    try {
      v = fn();
    } catch (err) {
      sig(native, fail(op, path, err), ...errArgs);
      return;
    }
    if (v instanceof Promise) {
      v.then(
        (r) => {
          let out: unknown[];
          try {
            out = reply(r);
          } catch (err) {
            out = [fail(op, path, err), ...errArgs];
          }
          sig(native, ...out);
        },
        (err) => sig(native, fail(op, path, err), ...errArgs),
      );
    } else {
      let out: unknown[];
      try {
        out = reply(v);
      } catch (err) {
        out = [fail(op, path, err), ...errArgs];
      }
      sig(native, ...out);
    }
  }

  const none = (): unknown[] => [0];
  const EMPTY_STAT = statArray(null);
  const handlers: Array<((...a: any[]) => void) | undefined> = new Array(35); // eslint-disable-line @typescript-eslint/no-explicit-any
  const implemented = new Uint32Array(35);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const def = (name: string, needed: boolean, h: (...a: any[]) => void): void => {
    const op = b[`op_${name}`] as number;
    handlers[op] = h;
    if (needed) implemented[op] = 1;
  };
  const s = (name: string): Signal => b[`fuse_native_signal_${name}`] as Signal;

  def('init', true, (native: Buffer) => {
    const sig = s('init');
    Promise.resolve()
      .then(() => ops.init?.())
      .then(
        () => {
          sig(native, 0);
          readyResolve?.();
          readyResolve = null;
        },
        (err) => sig(native, fail('init', '/', err)),
      );
  });
  def('error', true, (native: Buffer) => s('error')(native, 0));
  def('getattr', true, (native: Buffer, _op: number, path: string) =>
    run(
      'getattr',
      path,
      s('getattr'),
      native,
      [EMPTY_STAT],
      () => ops.getattr(path),
      (st) => [0, statArray(st)],
    ),
  );
  def('fgetattr', true, (native: Buffer, _op: number, path: string, fh: number) =>
    run(
      'fgetattr',
      path,
      s('fgetattr'),
      native,
      [EMPTY_STAT],
      () => (ops.fgetattr && fh ? ops.fgetattr(path, fh) : ops.getattr(path)),
      (st) => [0, statArray(st)],
    ),
  );
  def('access', !!ops.access, (native: Buffer, _op: number, path: string, mode: number) =>
    run('access', path, s('access'), native, [], () => ops.access!(path, mode), none),
  );
  def('statfs', !!ops.statfs, (native: Buffer, _op: number, path: string) =>
    run(
      'statfs',
      path,
      s('statfs'),
      native,
      [statfsArray(null)],
      () => ops.statfs!(path),
      (v) => [0, statfsArray(v)],
    ),
  );
  def('readdir', !!ops.readdir, (native: Buffer, _op: number, path: string) =>
    run(
      'readdir',
      path,
      s('readdir'),
      native,
      [[], []],
      () => ops.readdir!(path),
      (names) => [0, names.map((e) => (typeof e === 'string' ? e : e.name)), []],
    ),
  );
  def('opendir', !!ops.opendir, (native: Buffer, _op: number, path: string, _fh: number, flags: number) =>
    run(
      'opendir',
      path,
      s('opendir'),
      native,
      [0],
      () => ops.opendir!(path, flags),
      (fh) => [0, fh],
    ),
  );
  def('releasedir', !!ops.releasedir, (native: Buffer, _op: number, path: string, fh: number) =>
    run('releasedir', path, s('releasedir'), native, [], () => ops.releasedir!(path, fh), none),
  );
  def('fsyncdir', !!ops.fsyncdir, (native: Buffer, _op: number, path: string, ds: number, fh: number) =>
    run('fsyncdir', path, s('fsyncdir'), native, [], () => ops.fsyncdir!(path, ds !== 0, fh), none),
  );
  def('open', !!ops.open, (native: Buffer, _op: number, path: string, flags: number) =>
    run(
      'open',
      path,
      s('open'),
      native,
      [0],
      () => ops.open!(path, flags),
      (fh) => [0, fh],
    ),
  );
  def('create', !!ops.create, (native: Buffer, _op: number, path: string, mode: number) =>
    run(
      'create',
      path,
      s('create'),
      native,
      [0],
      () => ops.create!(path, mode),
      (fh) => [0, fh],
    ),
  );
  def('read', !!ops.read, (native: Buffer, _op: number, path: string, fh: number, buf: Buffer, _len: number, lo: number, hi: number) =>
    run(
      'read',
      path,
      s('read'),
      native,
      [0, buf.buffer],
      () => ops.read!(path, fh, buf, u64(lo, hi)),
      (n) => [n, 0, buf.buffer],
    ),
  );
  def('write', !!ops.write, (native: Buffer, _op: number, path: string, fh: number, buf: Buffer, _len: number, lo: number, hi: number) =>
    run(
      'write',
      path,
      s('write'),
      native,
      [0, buf.buffer],
      () => ops.write!(path, fh, buf, u64(lo, hi)),
      (n) => [n, 0, buf.buffer],
    ),
  );
  def('flush', !!ops.flush, (native: Buffer, _op: number, path: string, fh: number) =>
    run('flush', path, s('flush'), native, [], () => ops.flush!(path, fh), none),
  );
  def('fsync', !!ops.fsync, (native: Buffer, _op: number, path: string, ds: number, fh: number) =>
    run('fsync', path, s('fsync'), native, [], () => ops.fsync!(path, ds !== 0, fh), none),
  );
  def('release', !!ops.release, (native: Buffer, _op: number, path: string, fh: number) =>
    run('release', path, s('release'), native, [], () => ops.release!(path, fh), none),
  );
  def('truncate', !!ops.truncate, (native: Buffer, _op: number, path: string, lo: number, hi: number) =>
    run('truncate', path, s('truncate'), native, [], () => ops.truncate!(path, u64(lo, hi)), none),
  );
  def('ftruncate', !!(ops.ftruncate || ops.truncate), (native: Buffer, _op: number, path: string, fh: number, lo: number, hi: number) =>
    run(
      'ftruncate',
      path,
      s('ftruncate'),
      native,
      [],
      () => (ops.ftruncate && fh ? ops.ftruncate(path, fh, u64(lo, hi)) : ops.truncate!(path, u64(lo, hi))),
      none,
    ),
  );
  def('utimens', !!ops.utimens, (native: Buffer, _op: number, path: string) => {
    // the request struct holds both times in ms (size_t); fuse-native's JS args hold atime twice
    const atime = fromKernelTime(Number(native.readBigUInt64LE(LOCALS_ATIME)));
    const mtime = fromKernelTime(Number(native.readBigUInt64LE(LOCALS_MTIME)));
    run('utimens', path, s('utimens'), native, [], () => ops.utimens!(path, atime, mtime), none);
  });
  def('chmod', !!ops.chmod, (native: Buffer, _op: number, path: string, mode: number) =>
    run('chmod', path, s('chmod'), native, [], () => ops.chmod!(path, mode), none),
  );
  def('chown', !!ops.chown, (native: Buffer, _op: number, path: string, uid: number, gid: number) =>
    run('chown', path, s('chown'), native, [], () => ops.chown!(path, uid, gid), none),
  );
  def('readlink', !!ops.readlink, (native: Buffer, _op: number, path: string) =>
    run(
      'readlink',
      path,
      s('readlink'),
      native,
      [''],
      () => ops.readlink!(path),
      (t) => [0, t],
    ),
  );
  def('symlink', !!ops.symlink, (native: Buffer, _op: number, target: string, path: string) =>
    run('symlink', path, s('symlink'), native, [], () => ops.symlink!(target, path), none),
  );
  def('link', !!ops.link, (native: Buffer, _op: number, from: string, to: string) => run('link', to, s('link'), native, [], () => ops.link!(from, to), none));
  def('mknod', !!ops.mknod, (native: Buffer, _op: number, path: string, mode: number, dev: number) =>
    run('mknod', path, s('mknod'), native, [], () => ops.mknod!(path, mode, dev), none),
  );
  def('mkdir', !!ops.mkdir, (native: Buffer, _op: number, path: string, mode: number) =>
    run('mkdir', path, s('mkdir'), native, [], () => ops.mkdir!(path, mode), none),
  );
  def('rmdir', !!ops.rmdir, (native: Buffer, _op: number, path: string) => run('rmdir', path, s('rmdir'), native, [], () => ops.rmdir!(path), none));
  def('unlink', !!ops.unlink, (native: Buffer, _op: number, path: string) => run('unlink', path, s('unlink'), native, [], () => ops.unlink!(path), none));
  def('rename', !!ops.rename, (native: Buffer, _op: number, from: string, to: string) =>
    run('rename', from, s('rename'), native, [], () => ops.rename!(from, to), none),
  );
  def('setxattr', !!ops.setxattr, (native: Buffer, _op: number, path: string, name: string, value: Buffer, _pos: number, flags: number) =>
    run(
      'setxattr',
      path,
      s('setxattr'),
      native,
      [value.buffer],
      () => ops.setxattr!(path, name, value, flags),
      () => [0, value.buffer],
    ),
  );
  def('getxattr', !!ops.getxattr, (native: Buffer, _op: number, path: string, name: string, out: Buffer) =>
    run(
      'getxattr',
      path,
      s('getxattr'),
      native,
      [out.buffer],
      () => ops.getxattr!(path, name),
      (v) => {
        if (!v) return [-ENODATA, out.buffer];
        if (out.length === 0) return [v.length, out.buffer];
        if (v.length > out.length) return [-ERANGE, out.buffer];
        v.copy(out);
        return [v.length, out.buffer];
      },
    ),
  );
  def('listxattr', !!ops.listxattr, (native: Buffer, _op: number, path: string, out: Buffer) =>
    run(
      'listxattr',
      path,
      s('listxattr'),
      native,
      [out.buffer],
      () => ops.listxattr!(path),
      (names) => {
        const bytes = Buffer.from(names.map((n) => `${n}\0`).join(''), 'utf8');
        if (out.length === 0) return [bytes.length, out.buffer];
        if (bytes.length > out.length) return [-ERANGE, out.buffer];
        bytes.copy(out);
        return [bytes.length, out.buffer];
      },
    ),
  );
  def('removexattr', !!ops.removexattr, (native: Buffer, _op: number, path: string, name: string) =>
    run('removexattr', path, s('removexattr'), native, [], () => ops.removexattr!(path, name), none),
  );
  // the binding wants a function in every slot; it calls only the implemented ones
  for (let i = 0; i < 35; i++) if (!handlers[i]) handlers[i] = (native: Buffer) => s('error')(native, -ENOSYS);

  const ctx = {};
  const malloc = (size: number): Buffer => {
    const buf = Buffer.alloc(size);
    keep.add(buf);
    return buf;
  };

  return new Promise<FuseMount>((resolve, reject) => {
    let st;
    try {
      st = statSync(mountPoint);
    } catch (err) {
      reject(new Error(`mount point ${mountPoint}: ${(err as Error).message}`));
      return;
    }
    if (!st.isDirectory()) {
      reject(new Error(`mount point ${mountPoint} is not a directory`));
      return;
    }
    let opts: string;
    try {
      opts = buildOptions(options);
    } catch (err) {
      reject(err);
      return;
    }
    let mounted = true;
    const mount: FuseMount = {
      mountPoint,
      async unmount(u = {}) {
        if (!mounted) return;
        try {
          await fusermountUnmount(mountPoint, !!u.lazy);
        } catch (err) {
          if (isFuseMountedAt(mountPoint)) throw err; // else: already unmounted by someone else
        }
        mounted = false;
        try {
          b.fuse_native_unmount(mountPoint, thread);
        } catch {
          /* already released */
        }
      },
    };
    readyResolve = () => resolve(mount);
    try {
      b.fuse_native_mount(mountPoint, opts, thread, ctx, malloc, handlers, implemented);
    } catch {
      mounted = false;
      readyResolve = null;
      reject(
        new Error(`FUSE mount at ${mountPoint} failed (see the message from libfuse above; is /dev/fuse usable and the mount point yours and not in use?)`),
      );
    }
  });
}
