// The kernel bridge's node id ↔ path table: references, renames, detaching.
import { describe, expect, it } from 'vitest';
import { NodeTable, keepsCache, opensDirect } from '../../../src/fuse/kernel/node-table.js';
import { FUSE_ROOT_ID, splitMs } from '../../../src/fuse/kernel/protocol.js';

const DIR = 0o040755;
const FILE = 0o100644;

describe('NodeTable', () => {
  it('gives one node per path, counts references, and drops a node the kernel forgot', () => {
    const t = new NodeTable();
    const a = t.ref('/a', FILE);
    expect(t.ref('/a', FILE)).toBe(a);
    expect(a.nlookup).toBe(2);
    expect(a.id).not.toBe(FUSE_ROOT_ID);
    t.forget(a.id, 1);
    expect(t.get(a.id)).toBe(a);
    t.forget(a.id, 1);
    expect(t.get(a.id)).toBeUndefined();
    expect(t.atPath('/a')).toBeUndefined();
    const again = t.ref('/a', FILE);
    expect(again.id).not.toBe(a.id); // ids are never reused
    t.forget(FUSE_ROOT_ID, 100);
    expect(t.get(FUSE_ROOT_ID)?.path).toBe('/');
  });

  it('keeps a forgotten node while it has open handles', () => {
    const t = new NodeTable();
    const f = t.ref('/f', FILE);
    f.fhs.add(7);
    t.forget(f.id, 1);
    expect(t.get(f.id)).toBe(f);
    t.closed(f, 7);
    expect(t.get(f.id)).toBeUndefined();
  });

  it('moves a directory with everything under it, and detaches what a rename replaces', () => {
    const t = new NodeTable();
    const d = t.ref('/d', DIR);
    const e = t.ref('/d/e', DIR);
    const f = t.ref('/d/e/f', FILE);
    const other = t.ref('/de', FILE); // shares a prefix, not a parent
    const target = t.ref('/x', DIR);
    t.rename('/d', '/x');
    expect([d.path, e.path, f.path, other.path]).toEqual(['/x', '/x/e', '/x/e/f', '/de']);
    expect(t.atPath('/x/e/f')).toBe(f);
    expect(t.atPath('/d/e/f')).toBeUndefined();
    expect(target.path).toBeNull();
    expect(target.lastPath).toBe('/x');
  });

  it("detaches an unlinked name (and a removed directory's children), keeping the node for its handles", () => {
    const t = new NodeTable();
    const f = t.ref('/f', FILE);
    f.fhs.add(3);
    t.detach('/f');
    expect(f.path).toBeNull();
    expect(t.get(f.id)).toBe(f);
    const g = t.ref('/f', FILE); // a new file of the same name is a new node
    expect(g.id).not.toBe(f.id);
    const d = t.ref('/d', DIR);
    const c = t.ref('/d/c', FILE);
    t.detach('/d');
    expect([d.path, c.path]).toEqual([null, null]);
  });

  it('gives the names of one file (same inode and device) one node, and follows each name', () => {
    const t = new NodeTable();
    const a = t.ref('/a', FILE, 42, 7);
    const b = t.ref('/d/b', FILE, 42, 7);
    expect(b).toBe(a);
    expect(a.nlookup).toBe(2);
    expect([...a.names].sort()).toEqual(['/a', '/d/b']);
    expect(t.ref('/c', FILE, 42, 8)).not.toBe(a); // same number on another device: another file
    t.rename('/a', '/d/b'); // two names of one file: rename(2) does nothing
    expect([...a.names].sort()).toEqual(['/a', '/d/b']);
    t.rename('/d', '/e'); // a directory move carries the name under it
    expect([...a.names].sort()).toEqual(['/a', '/e/b']);
    t.detach('/a');
    expect(a.path).toBe('/e/b');
    expect(t.atPath('/a')).toBeUndefined();
    t.detach('/e/b');
    expect(a.path).toBeNull();
    // the inode number may now be reused by a new file: not the old node
    expect(t.ref('/n', FILE, 42, 7)).not.toBe(a);
  });

  it('never joins a file with one link to the node of another name (an inode number reused after a delete behind the mount)', () => {
    const t = new NodeTable();
    const old = t.ref('/old', FILE, 42, 7, 1); // its lower file then deleted behind the kernel's back
    const fresh = t.ref('/new', FILE, 42, 7, 1); // a new file given the same number
    expect(fresh).not.toBe(old);
    expect([[...old.names], [...fresh.names]]).toEqual([['/old'], ['/new']]);
    expect(t.ref('/link', FILE, 42, 7, 2)).toBe(old); // two links: a hard link, as before
  });

  it("starts a new node when the file at a path changed behind the kernel's back (type or inode)", () => {
    const t = new NodeTable();
    const f = t.ref('/f', FILE, 5);
    const g = t.ref('/f', FILE, 6);
    expect(g.id).not.toBe(f.id);
    expect(f.path).toBeNull();
  });

  it("starts a new node when the type at a path changed behind the kernel's back", () => {
    const t = new NodeTable();
    const a = t.ref('/a', FILE);
    const b = t.ref('/a', DIR);
    expect(b.id).not.toBe(a.id);
    expect(a.path).toBeNull();
  });
});

describe("the kernel's cache of a node", () => {
  const st = (over: Record<string, number> = {}) => ({
    mode: FILE,
    uid: 0,
    gid: 0,
    size: 10,
    nlink: 1,
    ino: 5,
    atimeMs: 1,
    mtimeMs: 2,
    ctimeMs: 3,
    ...over,
  });

  it('keeps pages only for a file with the same inode, size, mtime and ctime as at its last cached open', () => {
    const n = new NodeTable().ref('/f', FILE);
    expect(keepsCache(n, st())).toBe(false); // nothing known yet
    expect(keepsCache(n, st({ atimeMs: 99 }))).toBe(true); // read: atime alone moved
    const changes: Array<Record<string, number>> = [{ size: 11 }, { mtimeMs: 4 }, { ctimeMs: 5 }, { ino: 6 }];
    for (const change of changes) {
      expect(keepsCache(n, st())).toBe(true);
      expect(keepsCache(n, st(change))).toBe(false);
      expect(keepsCache(n, st())).toBe(false); // and back is a change again
    }
    expect(keepsCache(n, null)).toBe(false); // attributes not known at this open
    expect(keepsCache(n, st())).toBe(false);
    n.cacheStamp = null; // a direct handle opened meanwhile
    expect(keepsCache(n, st())).toBe(false);
  });

  it('says which names the kernel holds a node for, trusted until when', () => {
    const t = new NodeTable();
    const n = t.ref('/a', FILE, 9);
    n.freshUntil = 1000;
    expect(t.freshAt('/a', 999)).toBe(true);
    expect(t.freshAt('/a', 1001)).toBe(false);
    expect(t.freshAt('/b', 0)).toBe(false);
    t.forget(n.id, 1);
    expect(t.freshAt('/a', 0)).toBe(false);
  });
});

describe('times to the kernel', () => {
  it('splits milliseconds into seconds and nanoseconds rounded to whole microseconds', () => {
    expect(splitMs(981173106123.456)).toEqual([981173106, 123456000]);
    expect(splitMs(1262304000500)).toEqual([1262304000, 500000000]);
    expect(splitMs(999.9999999)).toEqual([1, 0]);
    expect(splitMs(0)).toEqual([0, 0]);
  });

  it('opens write-only handles of files nobody has open uncached, and everything else cached unless one is', () => {
    const t = new NodeTable();
    const n = t.ref('/f', FILE);
    const [RDONLY, WRONLY, RDWR] = [0, 1, 2];
    expect(opensDirect(n, WRONLY)).toBe(true);
    expect(opensDirect(n, RDONLY)).toBe(false);
    expect(opensDirect(n, RDWR)).toBe(false);
    n.fhs.add(1); // a cached reader is open
    expect(opensDirect(n, WRONLY)).toBe(false);
    t.closed(n, 1);
    n.fhs.add(2);
    n.directFhs.add(2); // a direct writer is open
    expect(opensDirect(n, RDONLY)).toBe(true);
    expect(opensDirect(n, RDWR)).toBe(true);
    t.closed(n, 2);
    expect(n.directFhs.size).toBe(0);
    expect(opensDirect(n, RDONLY)).toBe(false);
  });
});
