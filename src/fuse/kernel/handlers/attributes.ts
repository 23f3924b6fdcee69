// Requests about a node's attributes and extended attributes: GETATTR,
// SETATTR (with the set-ID bits killpriv v2 leaves to us), ACCESS, STATFS and
// the four xattr calls.
import { constants } from 'node:os';
import type { FuseStat } from '../../bridge.js';
import { bytesOfName } from '../../../format/name-bytes.js';
import { Errno, isPromise, type HandlerContext } from '../handler-context.js';
import type { Node } from '../node-table.js';
import {
  ATTR_OUT,
  FUSE_SETXATTR_ACL_KILL_SGID,
  Fattr,
  OUT_HEADER,
  STATFS_OUT,
  readAccessIn,
  readGetattrIn,
  readGetxattrIn,
  readNames,
  readSetattrIn,
  readSetxattrIn,
  writeAttrOut,
  writeStatfsOut,
  type Request,
} from '../protocol.js';

const E = constants.errno;
const NUL = Buffer.of(0);
const ACL_ACCESS = 'system.posix_acl_access';

export function getattr(s: HandlerContext, r: Request): boolean {
  const nd = s.node(r.nodeid);
  const { fh } = readGetattrIn(r);
  return s.run(
    r.unique,
    'getattr',
    nd.lastPath,
    () => s.statNode(nd, fh),
    (st) => {
      nd.attr = st;
      writeAttrOut(s.out, OUT_HEADER, st, s.attrTimeout);
      return ATTR_OUT;
    },
  );
}

export function setattr(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  const nd = s.node(r.nodeid);
  const { valid, fh, size, atimeMs: atime, mtimeMs: mtime, mode, uid, gid } = readSetattrIn(r);
  const path = nd.path;
  const where = nd.lastPath;
  const needPath = (): string => {
    if (path === null) throw new Errno(E.ENOENT);
    return path;
  };
  const steps: Array<() => void | Promise<void>> = [];
  if (valid & Fattr.MODE) {
    if (!ops.chmod) throw new Errno(E.ENOSYS);
    steps.push(() => ops.chmod!(needPath(), mode & 0o7777));
  }
  if (valid & (Fattr.UID | Fattr.GID)) {
    if (!ops.chown) throw new Errno(E.ENOSYS);
    steps.push(() => ops.chown!(needPath(), valid & Fattr.UID ? uid : -1, valid & Fattr.GID ? gid : -1));
  }
  if (valid & Fattr.SIZE) {
    if (fh && ops.ftruncate) steps.push(() => ops.ftruncate!(where, fh, size));
    else if (ops.truncate) steps.push(() => ops.truncate!(needPath(), size));
    else throw new Errno(E.ENOSYS);
  }
  if (valid & (Fattr.ATIME | Fattr.MTIME)) {
    if (!ops.utimens) throw new Errno(E.ENOSYS);
    // UTIME_OMIT arrives as an absent bit: that time is kept as it is (null)
    steps.push(() => ops.utimens!(needPath(), valid & Fattr.ATIME ? atime : null, valid & Fattr.MTIME ? mtime : null));
  }
  // the stat of the last step, when it changed nothing: the reply's, with no second statx (chown by tar and cp -p)
  let after: FuseStat | null = null;
  if (valid & Fattr.KILL_SUIDGID && !(valid & Fattr.MODE)) {
    steps.push(() =>
      s.then(
        killSuidgid(s, nd, fh, (st) => {
          after = st;
        }),
        () => undefined,
      ),
    );
  }
  let i = 0;
  const next = (): void | Promise<void> => {
    while (i < steps.length) {
      const v = steps[i++]!();
      if (isPromise(v)) return v.then(next);
    }
  };
  return s.run(
    r.unique,
    'setattr',
    where,
    () => s.then(next(), () => after ?? s.statNode(nd, fh)),
    (st) => {
      nd.attr = st;
      writeAttrOut(s.out, OUT_HEADER, st, s.attrTimeout);
      return ATTR_OUT;
    },
  );
}

/**
 * What the kernel leaves to us with HANDLE_KILLPRIV_V2 (so that it need not
 * ask GETXATTR security.capability before every write): a write or truncate
 * by a process without CAP_FSETID, or a chown, drops set-user-ID, and
 * set-group-ID when group-executable, as a local filesystem does. (No
 * file capabilities to drop: the engine stores no security.* attributes.)
 * By path: an unlinked file keeps its bits (the mount is nosuid anyway).
 * `unchanged` receives the stat it read when there was nothing to drop.
 */
export function killSuidgid(s: HandlerContext, nd: Node, fh: number, unchanged?: (st: FuseStat) => void): boolean | Promise<boolean> {
  const ops = s.ops;
  if (!ops.chmod || nd.path === null) return false;
  const path = nd.path;
  return s.then(s.statNode(nd, fh), (st) => {
    const drop = (st.mode & 0o4000) | ((st.mode & 0o2010) === 0o2010 ? 0o2000 : 0);
    if (!drop) unchanged?.(st);
    return drop ? s.then(ops.chmod!(path, st.mode & 0o7777 & ~drop), () => true) : false;
  });
}

export function access(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.access) throw new Errno(E.ENOSYS);
  const path = s.pathOf(r.nodeid);
  const { mask } = readAccessIn(r);
  return s.run(
    r.unique,
    'access',
    path,
    () => ops.access!(path, mask),
    () => 0,
  );
}

export function statfs(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.statfs) throw new Errno(E.ENOSYS);
  const path = s.nodes.get(r.nodeid)?.path ?? '/';
  return s.run(
    r.unique,
    'statfs',
    path,
    () => ops.statfs!(path),
    (v) => {
      writeStatfsOut(s.out, OUT_HEADER, v);
      return STATFS_OUT;
    },
  );
}

/**
 * With FUSE_SETXATTR_ACL_KILL_SGID the kernel says that the caller setting
 * an access ACL is outside the file's group and lacks CAP_FSETID: a local
 * filesystem then drops set-group-ID (posix_acl_update_mode). The lower
 * filesystem cannot, since it sees the daemon (root) set the ACL, so the
 * bridge drops it after the ACL is stored, by chmod, as killpriv does.
 */
export function setxattr(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.setxattr) throw new Errno(E.ENOSYS);
  const { name, value, flags, setxattrFlags } = readSetxattrIn(r, s.setxattrExt);
  const nd = s.node(r.nodeid);
  const path = s.pathOf(r.nodeid);
  const killSgid = (setxattrFlags & FUSE_SETXATTR_ACL_KILL_SGID) !== 0 && name === ACL_ACCESS && !!ops.chmod;
  return s.run(
    r.unique,
    'setxattr',
    path,
    () =>
      s.then(ops.setxattr!(path, name, value, flags), () => {
        if (!killSgid) return undefined;
        return s.then(s.statNode(nd, 0), (st) => (st.mode & 0o2000 ? ops.chmod!(path, st.mode & 0o7777 & ~0o2000) : undefined));
      }),
    () => 0,
  );
}

export function getxattr(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.getxattr) throw new Errno(E.ENOSYS);
  const { size, name } = readGetxattrIn(r);
  const path = s.pathOf(r.nodeid);
  return s.run(
    r.unique,
    'getxattr',
    path,
    () => ops.getxattr!(path, name),
    (v) => sized(s, v, size),
  );
}

export function listxattr(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.listxattr) throw new Errno(E.ENOSYS);
  const { size } = readGetxattrIn(r);
  const path = s.pathOf(r.nodeid);
  return s.run(
    r.unique,
    'listxattr',
    path,
    () => ops.listxattr!(path, { uid: r.uid, gid: r.gid, pid: r.pid }),
    (names) => sized(s, Buffer.concat(names.map((x) => Buffer.concat([bytesOfName(x), NUL]))), size),
  );
}

export function removexattr(s: HandlerContext, r: Request): boolean {
  const ops = s.ops;
  if (!ops.removexattr) throw new Errno(E.ENOSYS);
  const [name] = readNames(r, 1) as [string];
  const path = s.pathOf(r.nodeid);
  return s.run(
    r.unique,
    'removexattr',
    path,
    () => ops.removexattr!(path, name),
    () => 0,
  );
}

/** A getxattr/listxattr value: its size when asked for 0 bytes, ERANGE when too big. */
function sized(s: HandlerContext, v: Buffer, size: number): number {
  if (size === 0) {
    s.out.writeUInt32LE(v.length, OUT_HEADER);
    s.out.writeUInt32LE(0, OUT_HEADER + 4);
    return 8;
  }
  if (v.length > size) throw new Errno(E.ERANGE);
  v.copy(s.out, OUT_HEADER);
  return v.length;
}
