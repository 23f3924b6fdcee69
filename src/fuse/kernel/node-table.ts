// The kernel names files by node id; FuseOps names them by path. This table
// maps one to the other, counts the kernel's references (each LOOKUP-like
// reply adds one, FORGET takes them back) and follows renames. A node whose
// name was unlinked or renamed over is "detached": it keeps its last path only
// for the filesystem's logs and is reached through its open handles (so fstat
// of an open-unlinked file asks by handle, never by a path that may now name
// another file).
import { FUSE_ROOT_ID } from './protocol.js';

export interface Node {
  readonly id: number;
  /** Current path, or null once detached. */
  path: string | null;
  lastPath: string;
  /** S_IFMT bits of the last attributes seen (0 = unknown). */
  type: number;
  /** Lookup references the kernel holds. */
  nlookup: number;
  /** Open file handles (FuseOps handles) of this node. */
  readonly fhs: Set<number>;
  /** Those of them that bypass the page cache (see opensDirect). */
  readonly directFhs: Set<number>;
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
 * left, as every open without FOPEN_KEEP_CACHE does. While direct, a shared
 * mmap of the file is refused (ENODEV), as the kernel does for direct I/O.
 */
export function opensDirect(n: Node, flags: number): boolean {
  if (n.directFhs.size > 0) return true;
  return (flags & 3) === 1 /* O_WRONLY */ && n.fhs.size === 0;
}

const S_IFDIR = 0o040000;

export class NodeTable {
  private readonly byId = new Map<number, Node>();
  private readonly byPath = new Map<string, Node>();
  private nextId = FUSE_ROOT_ID + 1;

  constructor() {
    const root: Node = { id: FUSE_ROOT_ID, path: '/', lastPath: '/', type: S_IFDIR, nlookup: 1, fhs: new Set(), directFhs: new Set() };
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

  static child(parent: string, name: string): string {
    return parent === '/' ? `/${name}` : `${parent}/${name}`;
  }

  /** The node for `path` with one more kernel reference (new if none, or if its type changed). */
  ref(path: string, mode: number): Node {
    const type = mode & 0o170000;
    let n = this.byPath.get(path);
    if (n && n.type !== 0 && type !== 0 && n.type !== type) {
      this.detach(path);
      n = undefined;
    }
    if (!n) {
      n = { id: this.nextId++, path, lastPath: path, type, nlookup: 0, fhs: new Set(), directFhs: new Set() };
      this.byId.set(n.id, n);
      this.byPath.set(path, n);
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
    if (n.path !== null && this.byPath.get(n.path) === n) this.byPath.delete(n.path);
  }

  /** The name at `path` is gone (unlink, rmdir, renamed over). */
  detach(path: string): void {
    const n = this.byPath.get(path);
    if (!n) return;
    this.byPath.delete(path);
    n.path = null;
    if (n.type === S_IFDIR) this.detachBelow(path);
  }

  private detachBelow(dir: string): void {
    const prefix = `${dir}/`;
    for (const [p, c] of this.byPath) {
      if (p.startsWith(prefix)) {
        this.byPath.delete(p);
        c.path = null;
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
    this.detach(to);
    const n = this.byPath.get(from);
    if (!n) return;
    this.byPath.delete(from);
    n.path = to;
    n.lastPath = to;
    this.byPath.set(to, n);
    if (n.type !== S_IFDIR && n.type !== 0) return;
    const prefix = `${from}/`;
    const moved: Node[] = [];
    for (const [p, c] of this.byPath) if (p.startsWith(prefix)) moved.push(c);
    for (const c of moved) {
      this.byPath.delete(c.path!);
      c.path = to + c.path!.slice(from.length);
      c.lastPath = c.path;
      this.byPath.set(c.path, c);
    }
  }
}
