// Requests on open directories: OPENDIR, READDIR, READDIRPLUS, RELEASEDIR,
// FSYNCDIR. The bridge numbers directory handles itself and keeps the
// listing read at offset 0, so a reader resuming at any offset gets the same
// entries (and, from DirEntry, the same d_ino), whatever other readers of
// the directory do meanwhile. Offsets are the entries' numbers in their
// directory (dir-cookies.ts), the same in every listing, so the kernel may
// keep what was listed (cacheDirs) though it is built from several opens'
// replies: the next listing of an unchanged directory costs no request.
// Where the kernel may open directories alone (kernelOpensDirs), OPENDIR is
// answered ENOSYS once and never sent again, nor RELEASEDIR: READDIR then
// comes with handle 0 and the listing is kept per directory (listingOf), read
// afresh at offset 0; a reader resuming in another reader's listing still gets
// the right entries, as offsets are the entries' numbers.
import { constants } from 'node:os';
import type { DirEntry, FuseStat } from '../../bridge.js';
import { bytesOfName } from '../../../format/name-bytes.js';
import { NodeTable } from '../node-table.js';
import { resumeAt } from '../dir-cookies.js';
import { Errno, isPromise, type HandlerContext } from '../handler-context.js';
import {
  ENTRY_OUT,
  FOPEN_CACHE_DIR,
  FOPEN_KEEP_CACHE,
  OPEN_OUT,
  OUT_HEADER,
  Op,
  direntSize,
  direntType,
  readFh,
  readFsyncIn,
  readOpenIn,
  readReadIn,
  writeDirent,
  writeEntryOut,
  writeOpenOut,
  type Request,
} from '../protocol.js';

const E = constants.errno;

export function opendir(s: HandlerContext, r: Request): boolean {
  if (s.kernelOpensDirs) throw new Errno(E.ENOSYS); // the kernel opens it alone from now on (FUSE_NO_OPENDIR_SUPPORT)
  const ops = s.ops;
  const nd = s.node(r.nodeid);
  const path = s.pathOf(r.nodeid);
  const { flags } = readOpenIn(r);
  return s.run(
    r.unique,
    'opendir',
    path,
    () => (ops.opendir ? ops.opendir(path, flags) : 0),
    (fsFh) => {
      const fh = s.nextDirFh++;
      s.dirs.set(fh, { node: nd, fsFh, names: null, cookies: null });
      writeOpenOut(s.out, OUT_HEADER, fh, s.kopts.cacheDirs === false ? 0 : FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE);
      return OPEN_OUT;
    },
    (fsFh) => {
      if (ops.releasedir) s.quietly('releasedir', path, () => ops.releasedir!(path, fsFh));
    },
  );
}

/**
 * READDIR and READDIRPLUS (names with their attributes, for `ls -l`). A
 * READDIRPLUS entry the kernel already holds a node for under that name, from
 * an entry reply it may trust for at least half its timeout more, goes as a
 * plain entry (node id 0: "no attributes given", not ENOENT): the kernel keeps
 * the name and attributes it has, so the filesystem is not asked for them
 * again (a second `git status` lists every directory of the tree and would
 * stat every file once more). One older than that is sent whole, which
 * renews the kernel's trust in it as it used to.
 */
export function readdir(s: HandlerContext, r: Request): boolean {
  const plus = r.opcode === Op.READDIRPLUS;
  const { fh, offset, size: asked } = readReadIn(r);
  const kept = fh === 0 && s.kernelOpensDirs; // a directory's listing, not a handle's
  const d = kept ? s.listingOf(s.node(r.nodeid)) : s.dirs.get(fh);
  if (!d) throw new Errno(E.EBADF);
  const size = Math.min(asked, s.out.length - OUT_HEADER);
  const load = (): Array<string | DirEntry> | Promise<Array<string | DirEntry>> | null => {
    if (d.names && offset > 0) return null; // resuming in the listing this handle read at offset 0
    if (!s.ops.readdir) throw new Errno(E.ENOSYS);
    if (d.node.path === null) throw new Errno(E.ENOENT);
    return s.ops.readdir(d.node.path);
  };
  return s.run(r.unique, plus ? 'readdirplus' : 'readdir', d.node.lastPath, load, (fresh) => {
    if (fresh) {
      const placed = s.dirCookies(d.node).place(fresh);
      d.names = placed.entries;
      d.cookies = placed.cookies;
    }
    const names = d.names!;
    const cookies = d.cookies!;
    const renewFrom = plus ? performance.now() + 500 * Math.min(s.entryTimeout, s.attrTimeout) : 0;
    const dir = d.node.path ?? d.node.lastPath;
    let at = OUT_HEADER;
    const limit = OUT_HEADER + size;
    const from = resumeAt(cookies, offset);
    if (kept && from === names.length) {
      // the reader has it all (this empty reply ends its listing): no close
      // will come to free a directory's listing, so it goes now
      d.names = null;
      d.cookies = null;
    }
    for (let i = from; i < names.length; i++) {
      const e = names[i]!;
      const nm = typeof e === 'string' ? e : e.name;
      const bytes = bytesOfName(nm);
      const need = (plus ? ENTRY_OUT : 0) + direntSize(bytes.length);
      if (at + need > limit) break;
      const dot = nm === '.' || nm === '..';
      if (plus) {
        let st: FuseStat | null = null;
        if (!dot && !s.nodes.freshAt(NodeTable.child(dir, nm), renewFrom)) {
          try {
            const v = s.ops.getattr(NodeTable.child(dir, nm));
            if (!isPromise(v)) st = v; // an async filesystem gets plain entries' attributes by LOOKUP
          } catch {
            /* vanished meanwhile: a plain entry */
          }
        }
        if (st) {
          s.entry(NodeTable.child(dir, nm), st, at);
        } else {
          writeEntryOut(s.out, at, 0, null, 0, 0);
        }
        at += ENTRY_OUT;
        at += writeDirent(
          s.out,
          at,
          st ? st.ino : typeof e === 'string' ? 0xffffffff : e.ino,
          cookies[i]!,
          st ? direntType(st.mode) : typeof e === 'string' ? 0 : (e.type ?? 0),
          bytes,
        );
      } else if (typeof e !== 'string') {
        at += writeDirent(s.out, at, e.ino, cookies[i]!, e.type ?? 0, bytes);
      } else {
        const known = dot ? undefined : s.nodes.atPath(NodeTable.child(dir, nm));
        at += writeDirent(s.out, at, 0xffffffff, cookies[i]!, known ? known.type >>> 12 : 0, bytes);
      }
    }
    return at - OUT_HEADER;
  });
}

export function releasedir(s: HandlerContext, r: Request): boolean {
  const fh = readFh(r);
  const d = s.dirs.get(fh);
  s.dirs.delete(fh);
  const ops = s.ops;
  if (!d || !ops.releasedir) {
    s.replyOk(r.unique, 0);
    return false;
  }
  return s.run(
    r.unique,
    'releasedir',
    d.node.lastPath,
    () => ops.releasedir!(d.node.lastPath, d.fsFh),
    () => 0,
  );
}

export function fsyncdir(s: HandlerContext, r: Request): boolean {
  const { fh, datasync } = readFsyncIn(r);
  const d = s.dirs.get(fh);
  const ops = s.ops;
  if (!d || !ops.fsyncdir) throw new Errno(E.ENOSYS);
  return s.run(
    r.unique,
    'fsyncdir',
    d.node.lastPath,
    () => ops.fsyncdir!(d.node.lastPath, datasync, d.fsFh),
    () => 0,
  );
}
