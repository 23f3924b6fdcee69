// The kernel names files by node id; FuseOps names them by path. This table
// maps one to the other, counts the kernel's references (each LOOKUP-like
// reply adds one, FORGET takes them back) and follows renames. One node per
// file: the hard links of a file (same inode number reported by the
// filesystem) share one node, so the kernel keeps one inode for them and
// nlink, ctime and mode are the same through every name at once. A node
// whose last name was unlinked or renamed over is "detached": it keeps its
// last path only for the filesystem's logs and is reached through its open
// handles (so fstat of an open-unlinked file asks by handle, never by a path
// that may now name another file).
import type { FuseStat } from '../bridge.js';
import { FUSE_ROOT_ID } from './protocol.js';

export interface Node {
  readonly id: number;
  /** One current name (any of `names`), or null once it has none. */
  path: string | null;
  /** Every current name (several for a hard-linked file). */
  readonly names: Set<string>;
  lastPath: string;
  /** S_IFMT bits of the last attributes seen (0 = unknown). */
  type: number;
  /** Inode number (and device, when the filesystem gives one) of the file; 0 = unknown. */
  ino: number;
  dev: number;
  /** Lookup references the kernel holds. */
  nlookup: number;
  /** Open file handles (FuseOps handles) of this node. */
  readonly fhs: Set<number>;
  /** Those of them that bypass the page cache (see opensDirect). */
  readonly directFhs: Set<number>;
  /**
   * The attributes last sent to the kernel: what a detached node with no
   * handle answers (a removed directory that is some process's cwd).
   */
  attr: FuseStat | null;
  /**
   * The file's attributes at its last open with cached pages (keepsCache),
   * null when there was none or a direct handle opened since.
   */
  cacheStamp: FuseStat | null;
  /**
   * Until when (performance.now() milliseconds) the kernel may trust the
   * name and attributes of the last entry reply for this node (0: none yet).
   */
  freshUntil: number;
}

/**
 * Whether a new handle on `n`, opened with `flags`, should bypass the kernel's
 * page cache (FOPEN_DIRECT_IO): a write-only open of a file with no other
 * handle open, and then every open of it while such a handle is open. A
 * writer (dd, cp, tar) then sends its data straight to the filesystem: no copy
 * into cached pages, and no 256 MB of them to drop at the next open (measured
 * in docs/BENCHMARKS.md). The rule keeps the cache coherent whatever the
 * kernel does with cached pages on a direct write: a node's open handles are
 * either all cached (writes update the cached pages) or all direct (nothing
 * is cached while they are open); a cached open drops what an earlier phase
 * left, as every open without FOPEN_KEEP_CACHE does. A shared mmap of a
 * direct file needs the kernel's DIRECT_IO_ALLOW_MMAP (the bridge uses the
 * rule only where the kernel offers it, kernel-bridge.ts init).
 */
export function opensDirect(n: Node, flags: number): boolean {
  if (n.directFhs.size > 0) return true;
  return (flags & 3) === 1 /* O_WRONLY */ && n.fhs.size === 0;
}

/**
 * Whether an open of `n` (cached, not direct) may keep the pages the kernel
 * caches for it (FOPEN_KEEP_CACHE), the file's attributes being `now`: only
 * if it was last opened with cached pages, no direct handle wrote around the
 * cache since, and the file is the same and unchanged since that open (inode,
 * size, mtime and ctime: a change behind the mount, in the lower directory,
 * moves its ctime, which no program can set back). A change through the mount
 * also moves them, so the pages are dropped then too, which is always right.
 * Records `now` for the next open.
 */
export function keepsCache(n: Node, now: FuseStat | null): boolean {
  const was = n.cacheStamp;
  n.cacheStamp = now;
  return was !== null && now !== null && was.ino === now.ino && was.size === now.size && was.mtimeMs === now.mtimeMs && was.ctimeMs === now.ctimeMs;
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

function newNode(id: number, path: string, type: number): Node {
  return {
    id,
    path,
    names: new Set([path]),
    lastPath: path,
    type,
    ino: 0,
    dev: 0,
    nlookup: 0,
    fhs: new Set(),
    directFhs: new Set(),
    attr: null,
    cacheStamp: null,
    freshUntil: 0,
  };
}

export class NodeTable {
  private readonly byId = new Map<number, Node>();
  private readonly byPath = new Map<string, Node>();
  /** Non-directories with at least one name, by inode number. */
  private readonly byIno = new Map<number, Node>();
  private nextId = FUSE_ROOT_ID + 1;

  constructor() {
    const root = newNode(FUSE_ROOT_ID, '/', S_IFDIR);
    root.nlookup = 1;
    this.byId.set(root.id, root);
    this.byPath.set('/', root);
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: number): Node | undefined {
    return this.byId.get(id);
  }

  atPath(path: string): Node | undefined {
    return this.byPath.get(path);
  }

  /**
   * True when the kernel holds the node named `path` from an entry reply it
   * may still trust until at least `until` (performance.now() milliseconds).
   */
  freshAt(path: string, until: number): boolean {
    const n = this.byPath.get(path);
    return n !== undefined && n.nlookup > 0 && n.freshUntil >= until;
  }

  static child(parent: string, name: string): string {
    return parent === '/' ? `/${name}` : `${parent}/${name}`;
  }

  /**
   * The node for `path` with one more kernel reference: the one already at
   * `path`, else the file's node under another name (same `ino` and `dev`, a
   * hard link), else a new one; a new one too if the file at `path` changed
   * behind the kernel's back (other type or inode). A file with one link
   * (`nlink` 1; 0: not known) is nobody's hard link: the node of a file
   * deleted behind the kernel's back keeps its inode number, which a new file
   * may be given, and joining them would serve the new file by the old path.
   */
  ref(path: string, mode: number, ino = 0, dev = 0, nlink = 0): Node {
    const type = mode & S_IFMT;
    let n = this.byPath.get(path);
    if (n && ((n.type !== 0 && type !== 0 && n.type !== type) || (ino !== 0 && n.ino !== 0 && (n.ino !== ino || n.dev !== dev)))) {
      this.detach(path);
      n = undefined;
    }
    if (!n && ino !== 0 && type !== S_IFDIR && nlink !== 1) {
      const same = this.byIno.get(ino);
      if (same && same.type === type && same.dev === dev && same.names.size > 0) {
        n = same;
        this.addName(n, path);
      }
    }
    if (!n) {
      n = newNode(this.nextId++, path, type);
      this.byId.set(n.id, n);
      this.byPath.set(path, n);
    }
    if (n.ino === 0 && ino !== 0) {
      n.ino = ino;
      n.dev = dev;
      if (type !== S_IFDIR && !this.byIno.has(ino)) this.byIno.set(ino, n);
    }
    n.nlookup++;
    return n;
  }

  forget(id: number, count: number): void {
    if (id === FUSE_ROOT_ID) return;
    const n = this.byId.get(id);
    if (!n) return;
    n.nlookup -= count;
    if (n.nlookup > 0 || n.fhs.size > 0) return;
    this.drop(n);
  }

  /** A handle closed: a forgotten, detached node goes once its last handle does. */
  closed(n: Node, fh: number): void {
    n.fhs.delete(fh);
    n.directFhs.delete(fh);
    if (n.nlookup <= 0 && n.fhs.size === 0 && n.id !== FUSE_ROOT_ID) this.drop(n);
  }

  private drop(n: Node): void {
    this.byId.delete(n.id);
    for (const p of n.names) if (this.byPath.get(p) === n) this.byPath.delete(p);
    n.names.clear();
    n.path = null;
    this.unindex(n);
  }

  private unindex(n: Node): void {
    if (n.ino !== 0 && this.byIno.get(n.ino) === n) this.byIno.delete(n.ino);
  }

  private addName(n: Node, path: string): void {
    n.names.add(path);
    n.path ??= path;
    n.lastPath = path;
    this.byPath.set(path, n);
  }

  /** Takes one name from `n` (the table's entry for it is the caller's). */
  private dropName(n: Node, path: string): void {
    n.names.delete(path);
    if (n.path !== path) return;
    const other = n.names.values().next();
    n.path = other.done ? null : other.value;
    if (n.path === null) this.unindex(n); // its inode number may be reused by a new file
  }

  /** The name at `path` is gone (unlink, rmdir, renamed over). */
  detach(path: string): void {
    const n = this.byPath.get(path);
    if (!n) return;
    this.byPath.delete(path);
    this.dropName(n, path);
    if (n.type === S_IFDIR) this.detachBelow(path);
  }

  private detachBelow(dir: string): void {
    const prefix = `${dir}/`;
    for (const [p, c] of this.byPath) {
      if (p.startsWith(prefix)) {
        this.byPath.delete(p);
        this.dropName(c, p);
      }
    }
  }

  /** The entries at `a` and `b` swapped places (RENAME_EXCHANGE). */
  exchange(a: string, b: string): void {
    if (a === b) return;
    const tmp = `${a}\0exchange`; // no real path holds a NUL
    this.rename(a, tmp);
    this.rename(b, a);
    this.rename(tmp, b);
  }

  /** `from` was renamed to `to` (which, if it existed, was replaced). */
  rename(from: string, to: string): void {
    if (from === to) return;
    const n = this.byPath.get(from);
    if (n && this.byPath.get(to) === n) {
      // two names of one file: rename(2) does nothing
      return;
    }
    this.detach(to);
    if (n) this.move(n, from, to);
    if (n && n.type !== S_IFDIR && n.type !== 0) return;
    const prefix = `${from}/`;
    const moved: Array<[string, Node]> = [];
    for (const [p, c] of this.byPath) if (p.startsWith(prefix)) moved.push([p, c]);
    for (const [p, c] of moved) this.move(c, p, to + p.slice(from.length));
  }

  private move(n: Node, from: string, to: string): void {
    this.byPath.delete(from);
    n.names.delete(from);
    n.names.add(to);
    if (n.path === from) n.path = to;
    n.lastPath = to;
    this.byPath.set(to, n);
  }
}
