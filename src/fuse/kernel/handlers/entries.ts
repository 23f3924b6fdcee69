// Requests that look up, make, link, rename or remove a directory entry.
// Each reply that hands the kernel a node (LOOKUP, MKNOD, MKDIR, SYMLINK,
// LINK) takes a reference in the node table (HandlerContext.entry).
import { constants } from 'node:os';
import { errnoOf, type FuseStat } from '../../bridge.js';
import { bytesOfName } from '../../../format/name-bytes.js';
import { Errno, isPromise, type HandlerContext } from '../handler-context.js';
import {
  ENTRY_OUT,
  OUT_HEADER,
  Op,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  readLinkIn,
  readMkdirIn,
  readMknodIn,
  readNames,
  readRenameIn,
  writeEntryOut,
  type Request,
} from '../protocol.js';

const E = constants.errno;

const callerOf = (r: Request) => ({ uid: r.uid, gid: r.gid, pid: r.pid });

export function lookup(s: HandlerContext, r: Request): boolean {
  const path = s.childPath(r.nodeid, readNames(r, 1)[0]!);
  let v: FuseStat | Promise<FuseStat>;
  try {
    v = s.ops.getattr(path);
  } catch (err) {
    return lookupFailed(s, r.unique, path, err);
  }
  if (isPromise(v)) {
    const settled = s.later(r.unique);
    v.then(
      (st) => {
        if (settled()) s.finish(r.unique, 'lookup', path, st, (x) => s.entry(path, x));
      },
      (err) => {
        if (settled()) lookupFailed(s, r.unique, path, err);
      },
    );
    return false;
  }
  s.replyOk(r.unique, s.entry(path, v));
  return false;
}

function lookupFailed(s: HandlerContext, unique: bigint, path: string, err: unknown): boolean {
  const errno = s.fail('lookup', path, err);
  if (errno === E.ENOENT && s.negativeTimeout > 0) {
    // a negative entry: the kernel remembers the name is absent
    writeEntryOut(s.out, OUT_HEADER, 0, null, s.negativeTimeout, 0);
    s.replyOk(unique, ENTRY_OUT);
  } else {
    s.replyErr(unique, errno);
  }
  return false;
}

export function readlink(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.readlink) throw new Errno(E.ENOSYS);
  const path = s.pathOf(r.nodeid);
  return s.run(
    r.unique,
    'readlink',
    path,
    () => ops.readlink!(path),
    (t) => bytesOfName(t).copy(s.out, OUT_HEADER),
  );
}

export function symlink(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.symlink) throw new Errno(E.ENOSYS);
  const [nm, target] = readNames(r, 2) as [string, string];
  const path = s.childPath(r.nodeid, nm);
  return s.run(
    r.unique,
    'symlink',
    path,
    () => s.then(ops.symlink!(target, path, callerOf(r)), () => ops.getattr(path)),
    (st) => s.entry(path, st),
  );
}

export function mknod(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.mknod) throw new Errno(E.ENOSYS);
  const { mode, rdev, umask, name } = readMknodIn(r);
  const path = s.childPath(r.nodeid, name);
  return s.run(
    r.unique,
    'mknod',
    path,
    () => s.then(umasked(s, r.nodeid, mode, umask), (m) => s.then(ops.mknod!(path, m, rdev, callerOf(r)), () => ops.getattr(path))),
    (st) => s.entry(path, st),
  );
}

export function mkdir(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.mkdir) throw new Errno(E.ENOSYS);
  const { mode, umask, name } = readMkdirIn(r);
  const path = s.childPath(r.nodeid, name);
  return s.run(
    r.unique,
    'mkdir',
    path,
    () => s.then(umasked(s, r.nodeid, mode, umask), (m) => s.then(ops.mkdir!(path, m, callerOf(r)), () => ops.getattr(path))),
    (st) => s.entry(path, st),
  );
}

/**
 * The mode of a new entry in directory `parent` under FUSE_DONT_MASK (the
 * kernel then sends it without the caller's umask): as POSIX says, the
 * umask applies unless the parent has a default ACL, which then decides
 * (the filesystem gives it to the entry). Without DONT_MASK the kernel has
 * applied the umask already.
 */
export function umasked(s: HandlerContext, parent: number, mode: number, umask: number): number | Promise<number> {
  if (!s.dontMask || !s.ops.getxattr) return mode;
  const masked = mode & ~(umask & 0o777);
  const dir = s.pathOf(parent);
  try {
    const v = s.ops.getxattr(dir, 'system.posix_acl_default');
    return isPromise(v)
      ? v.then(
          () => mode,
          () => masked,
        )
      : mode;
  } catch {
    return masked; // ENODATA: no default ACL (any other failure: the safer, narrower mode)
  }
}

/** UNLINK and RMDIR. */
export function remove(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  const fn = r.opcode === Op.UNLINK ? ops.unlink : ops.rmdir;
  if (!fn) throw new Errno(E.ENOSYS);
  const path = s.childPath(r.nodeid, readNames(r, 1)[0]!);
  return s.run(
    r.unique,
    r.opcode === Op.UNLINK ? 'unlink' : 'rmdir',
    path,
    () => fn.call(ops, path),
    () => {
      s.nodes.detach(path);
      return 0;
    },
  );
}

/** RENAME and RENAME2 (renameat2's flags: passed on, or NOREPLACE answered by a lookup). */
export function rename(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.rename) throw new Errno(E.ENOSYS);
  const { newdir, flags, from, to } = readRenameIn(r);
  const a = s.childPath(r.nodeid, from);
  const z = s.childPath(newdir, to);
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) throw new Errno(E.EINVAL);
  if (flags && ops.renameFlags) {
    return s.run(
      r.unique,
      'rename',
      a,
      () => ops.rename!(a, z, flags),
      () => {
        if (flags & RENAME_EXCHANGE) s.nodes.exchange(a, z);
        else s.nodes.rename(a, z);
        return 0;
      },
    );
  }
  if (flags & RENAME_EXCHANGE) throw new Errno(E.EINVAL);
  return s.run(
    r.unique,
    'rename',
    a,
    () => {
      if (flags & RENAME_NOREPLACE)
        return s.then(exists(s, z), (there) => {
          if (there) throw new Errno(E.EEXIST);
          return ops.rename!(a, z);
        });
      return ops.rename!(a, z);
    },
    () => {
      s.nodes.rename(a, z);
      return 0;
    },
  );
}

function exists(s: HandlerContext, path: string): boolean | Promise<boolean> {
  try {
    const v = s.ops.getattr(path);
    return isPromise(v)
      ? v.then(
          () => true,
          (e) => (errnoOf(e) === E.ENOENT ? false : Promise.reject(e)),
        )
      : true;
  } catch (e) {
    if (errnoOf(e) === E.ENOENT) return false;
    throw e;
  }
}

export function link(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.link) throw new Errno(E.ENOSYS);
  const { oldnodeid, name } = readLinkIn(r);
  const old = s.pathOf(oldnodeid);
  const path = s.childPath(r.nodeid, name);
  return s.run(
    r.unique,
    'link',
    path,
    () => s.then(ops.link!(old, path), () => ops.getattr(path)),
    (st) => s.entry(path, st),
  );
}
