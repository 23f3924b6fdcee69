// Opcode → handler. An opcode absent here is answered ENOSYS by the
// dispatcher (COPY_FILE_RANGE, IOCTL, POLL, BMAP, GETLK/SETLK …: the kernel
// falls back, or keeps locks itself, or reports EOPNOTSUPP).
import type { HandlerContext as HandlerContext } from '../handler-context.js';
import { Op, type Request } from '../protocol.js';
import { access, getattr, getxattr, listxattr, removexattr, setattr, setxattr, statfs } from './attributes.js';
import { fsyncdir, opendir, readdir, releasedir } from './directories.js';
import { link, lookup, mkdir, mknod, readlink, remove, rename, symlink } from './entries.js';
import { create, fallocate, flush, fsync, lseek, open, read, release, write } from './files.js';
import { batchForget, destroy, forget, init, interrupt } from './lifecycle.js';

/** Answers request `r`; true while its buffer is held by a pending operation. Throws an Errno to answer with it. */
export type Handler = (s: HandlerContext, r: Request) => boolean;

export const HANDLERS: Readonly<Record<number, Handler>> = {
  [Op.INIT]: init,
  [Op.DESTROY]: destroy,
  [Op.FORGET]: forget,
  [Op.BATCH_FORGET]: batchForget,
  [Op.INTERRUPT]: interrupt,
  [Op.LOOKUP]: lookup,
  [Op.READLINK]: readlink,
  [Op.SYMLINK]: symlink,
  [Op.MKNOD]: mknod,
  [Op.MKDIR]: mkdir,
  [Op.UNLINK]: remove,
  [Op.RMDIR]: remove,
  [Op.RENAME]: rename,
  [Op.RENAME2]: rename,
  [Op.LINK]: link,
  [Op.GETATTR]: getattr,
  [Op.SETATTR]: setattr,
  [Op.ACCESS]: access,
  [Op.STATFS]: statfs,
  [Op.SETXATTR]: setxattr,
  [Op.GETXATTR]: getxattr,
  [Op.LISTXATTR]: listxattr,
  [Op.REMOVEXATTR]: removexattr,
  [Op.OPEN]: open,
  [Op.CREATE]: create,
  [Op.READ]: read,
  [Op.WRITE]: write,
  [Op.RELEASE]: release,
  [Op.FLUSH]: flush,
  [Op.FSYNC]: fsync,
  [Op.FALLOCATE]: fallocate,
  [Op.LSEEK]: lseek,
  [Op.OPENDIR]: opendir,
  [Op.READDIR]: readdir,
  [Op.READDIRPLUS]: readdir,
  [Op.RELEASEDIR]: releasedir,
  [Op.FSYNCDIR]: fsyncdir,
};
