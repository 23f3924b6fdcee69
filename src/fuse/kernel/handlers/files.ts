// Requests on open files: OPEN, CREATE, READ, WRITE, RELEASE, FLUSH, FSYNC,
// FALLOCATE, LSEEK. A handle is the filesystem's own number; the bridge
// remembers which node it belongs to (HandlerContext.fileNode).
import { constants as fsc } from 'node:fs';
import { constants } from 'node:os';
import { errnoOf, type FuseStat } from '../../bridge.js';
import { Errno, isPromise, type HandlerContext } from '../handler-context.js';
import {
  FUSE_WRITE_KILL_SUIDGID,
  LSEEK_OUT,
  OPEN_OUT,
  OUT_HEADER,
  readCreateIn,
  readFallocateIn,
  readFh,
  readFsyncIn,
  readLseekIn,
  readOpenIn,
  readReadIn,
  readWriteIn,
  writeLseekOut,
  writeOpenOut,
  writeOutHeader,
  type Request,
} from '../protocol.js';
import { killSuidgid } from './attributes.js';
import { umasked } from './entries.js';

const E = constants.errno;

const pathOfHandle = (s: HandlerContext, fh: number): string => s.fileNode.get(fh)?.lastPath ?? '';

export function open(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.open) throw new Errno(E.ENOSYS);
  const nd = s.node(r.nodeid);
  const path = s.pathOf(r.nodeid);
  const { flags } = readOpenIn(r);
  if (ops.openWithAttr) {
    // the attributes come with the handle: no fgetattr for the cache decision
    return s.run(
      r.unique,
      'open',
      path,
      () => ops.openWithAttr!(path, flags),
      (o) => {
        writeOpenOut(s.out, OUT_HEADER, o.fh, s.opened(nd, o.fh, flags, o.attr));
        return OPEN_OUT;
      },
      (o) => s.dropHandle(path, o.fh),
    );
  }
  return s.run(
    r.unique,
    'open',
    path,
    () => ops.open!(path, flags),
    (fh) => {
      writeOpenOut(s.out, OUT_HEADER, fh, s.opened(nd, fh, flags));
      return OPEN_OUT;
    },
    (fh) => s.dropHandle(path, fh),
  );
}

export function create(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.create) throw new Errno(E.ENOSYS);
  const { flags, mode, umask, name } = readCreateIn(r);
  const path = s.childPath(r.nodeid, name);
  const caller = { uid: r.uid, gid: r.gid, pid: r.pid };
  // with createWithAttr the attributes come with the handle (no fgetattr)
  const make = (m: number): Created | Promise<Created> => {
    try {
      const v = ops.createWithAttr ? ops.createWithAttr(path, m, caller) : ops.create!(path, m, caller);
      return isPromise(v) ? v.catch((e) => createExisting(s, e, path, flags)) : v;
    } catch (e) {
      return createExisting(s, e, path, flags);
    }
  };
  let fh = 0;
  return s.run(
    r.unique,
    'create',
    path,
    () =>
      s.then(s.then(umasked(s, r.nodeid, mode, umask), make), (h) => {
        if (typeof h !== 'number') {
          fh = h.fh;
          return h.attr;
        }
        fh = h;
        return ops.fgetattr ? ops.fgetattr(path, h) : ops.getattr(path);
      }),
    (st) => {
      const len = s.entry(path, st);
      writeOpenOut(s.out, OUT_HEADER + len, fh, s.opened(s.nodes.atPath(path)!, fh, flags, st));
      return len + OPEN_OUT;
    },
    () => s.dropHandle(path, fh),
  );
}

/** A new file's handle, with its attributes when the filesystem gave them (createWithAttr). */
type Created = number | { fh: number; attr: FuseStat };

/** CREATE of a name that exists after all (a stale negative entry): open it, as open(2) would. */
function createExisting(s: HandlerContext, err: unknown, path: string, flags: number): number | Promise<number> {
  const ops = s.ops;
  if (errnoOf(err) !== E.EEXIST || (flags & fsc.O_EXCL ? 1 : 0) || !ops.open) throw err;
  return s.then(ops.open(path, flags), (fh) => {
    if (!(flags & fsc.O_TRUNC)) return fh;
    const t = ops.ftruncate ? ops.ftruncate(path, fh, 0) : ops.truncate?.(path, 0);
    return s.then(t, () => fh);
  });
}

export function read(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.read) throw new Errno(E.ENOSYS);
  const { fh, offset, size: asked } = readReadIn(r);
  const size = Math.min(asked, s.maxIo);
  const path = pathOfHandle(s, fh);
  const unique = r.unique;
  // the operation reads straight into a reply buffer (pooled; kept while a Promise is pending)
  const out = s.readBufs.pop() ?? Buffer.allocUnsafe(OUT_HEADER + s.maxIo);
  const release = () => {
    s.readBufs.push(out);
  };
  const done = (got: number): void => {
    const len = Math.max(0, Math.min(got, size));
    writeOutHeader(out, OUT_HEADER + len, 0, unique);
    // written by this thread, however large: a hop to a pool thread to overlap
    // the copy with the next READ's decryption cost more than it saved
    // (docs/BENCHMARKS.md, "Sessions 15–17")
    s.send(OUT_HEADER + len, out);
    release();
  };
  let v: number | Promise<number>;
  try {
    v = ops.read(path, fh, out.subarray(OUT_HEADER, OUT_HEADER + size), offset);
  } catch (err) {
    release();
    s.replyErr(unique, s.fail('read', path, err));
    return false;
  }
  if (isPromise(v)) {
    const settled = s.later(unique);
    v.then(
      (got) => {
        if (settled()) done(got);
        else release();
      },
      (err) => {
        release();
        if (settled()) s.replyErr(unique, s.fail('read', path, err));
      },
    );
    return false;
  }
  done(v);
  return false;
}

export function write(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.write) throw new Errno(E.ENOSYS);
  const { fh, offset, writeFlags, data } = readWriteIn(r);
  const nd = s.fileNode.get(fh);
  const path = nd?.lastPath ?? '';
  // The kernel asks on every write by a process without CAP_FSETID (every
  // user's write); a file whose last attributes showed no set-ID bit has none
  // (one comes only with a new entry or a SETATTR, whose replies update them),
  // so no stat for it.
  const kill = nd && (writeFlags & FUSE_WRITE_KILL_SUIDGID) !== 0 && (nd.attr === null || (nd.attr.mode & 0o6000) !== 0);
  return s.run(
    r.unique,
    'write',
    path,
    () =>
      kill
        ? s.then(killSuidgid(s, nd, fh), (changed) => {
            if (changed) s.invalidateAttrs(nd.id);
            return ops.write!(path, fh, data, offset);
          })
        : ops.write!(path, fh, data, offset),
    (written) => {
      s.out.writeUInt32LE(written, OUT_HEADER);
      s.out.writeUInt32LE(0, OUT_HEADER + 4);
      return 8;
    },
  );
}

export function release(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  const fh = readFh(r);
  const nd = s.fileNode.get(fh);
  s.fileNode.delete(fh);
  if (nd) s.nodes.closed(nd, fh);
  if (!ops.release) {
    s.replyOk(r.unique, 0);
    return false;
  }
  return s.run(
    r.unique,
    'release',
    nd?.lastPath ?? '',
    () => ops.release!(nd?.lastPath ?? '', fh),
    () => 0,
  );
}

export function flush(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.flush) throw new Errno(E.ENOSYS);
  const fh = readFh(r);
  const path = pathOfHandle(s, fh);
  return s.run(
    r.unique,
    'flush',
    path,
    () => ops.flush!(path, fh),
    () => 0,
  );
}

export function fsync(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.fsync) throw new Errno(E.ENOSYS);
  const { fh, datasync } = readFsyncIn(r);
  const path = pathOfHandle(s, fh);
  // nothing of the request buffer is used once it is decoded: the session loop
  // keeps it (no 1 MiB buffer allocated for each fsync left pending)
  s.run(
    r.unique,
    'fsync',
    path,
    () => ops.fsync!(path, datasync, fh),
    () => 0,
  );
  return false;
}

export function fallocate(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.fallocate) throw new Errno(E.ENOSYS); // the kernel then answers EOPNOTSUPP itself
  const { fh, offset, length, mode } = readFallocateIn(r.b, r.p);
  const path = pathOfHandle(s, fh);
  return s.run(
    r.unique,
    'fallocate',
    path,
    () => ops.fallocate!(path, fh, mode, offset, length),
    () => 0,
  );
}

export function lseek(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.lseek) throw new Errno(E.ENOSYS); // the kernel then treats the whole file as data
  const { fh, offset, whence } = readLseekIn(r.b, r.p);
  const path = pathOfHandle(s, fh);
  return s.run(
    r.unique,
    'lseek',
    path,
    () => ops.lseek!(path, fh, offset, whence),
    (at) => {
      writeLseekOut(s.out, OUT_HEADER, at);
      return LSEEK_OUT;
    },
  );
}
