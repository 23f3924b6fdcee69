// The lower size of every open file, kept by the engine instead of asked of
// the kernel (fstat) on each READ and WRITE: every change of a lower file's
// size while the volume is mounted is the engine's own (pwrite, ftruncate),
// so it is known. One cell per lower inode, shared by all of its handles (two
// opens of one file, hard links): a write through one handle moves the size
// every other handle reads with. A cell lives while a handle of its inode is
// open; a new open refreshes it from its own fstat, so a lower file changed
// behind the mount's back (which the engine does not support) is seen as it is
// at the next open, as before. Measured: one statx per READ (2,058 for 2,048
// random reads), docs/BENCHMARKS.md "Session 5".

/**
 * A lower file's size in bytes, or -1 when it must be asked (after a failed
 * change); and, in format 2, whether its write record slot is known to be
 * empty (LowerIO.slotEmpty): per inode for the same reason as the size, since
 * a write that skips its record must know that no handle left one there.
 */
export interface SizeCell {
  size: number;
  slotEmpty?: boolean;
  /**
   * The lower file's last `tailLen` bytes (its final block as the format
   * last wrote it) at `tailAt`; tailLen -1 or absent when none is kept
   * (fd-lower-io.ts keepTail: an append re-seals the final block without
   * reading it back). `tail` is a buffer reused for the cell's life.
   */
  tail?: Buffer;
  tailAt?: number;
  tailLen?: number;
}

/** A cell with its inode and count of handles: the cell itself, so a drop needs no lookup by object. */
interface Cell extends SizeCell {
  readonly dev: number;
  readonly ino: number;
  refs: number;
}

export class LowerSizes {
  /** By device, then inode number: numbers as keys, no string made per open (md5 of a tree opens thousands). */
  private readonly byDev = new Map<number, Map<number, Cell>>();
  private cells = 0;

  /**
   * The cell of inode (`dev`, `ino`), set to `size` (just read by the caller's
   * fstat); null when the numbers do not identify the inode exactly (an inode
   * number past 2^53 loses bits as a JS number: two files could then share a
   * cell). Each cell taken is given back with `drop`.
   */
  take(dev: number, ino: number, size: number): SizeCell | null {
    if (!Number.isSafeInteger(dev) || !Number.isSafeInteger(ino) || ino <= 0) return null;
    let byIno = this.byDev.get(dev);
    if (!byIno) this.byDev.set(dev, (byIno = new Map()));
    let c = byIno.get(ino);
    if (!c) {
      // every field from the start: one object shape for every cell (the hot reads of `size` stay monomorphic)
      c = { size, dev, ino, refs: 0, slotEmpty: undefined, tail: undefined, tailAt: 0, tailLen: -1 };
      byIno.set(ino, c);
      this.cells++;
    }
    c.refs++;
    c.size = size;
    c.tailLen = -1; // a new open looks at the file afresh (changed behind the mount's back: not supported, but not trusted either)
    return c;
  }

  /** A handle of the cell's inode is closed. */
  drop(cell: SizeCell | null | undefined): void {
    if (!cell) return;
    const c = cell as Cell;
    const byIno = this.byDev.get(c.dev);
    if (byIno?.get(c.ino) !== c) return; // not ours, or already gone
    if (--c.refs > 0) return;
    byIno.delete(c.ino);
    this.cells--;
    if (byIno.size === 0) this.byDev.delete(c.dev);
  }

  /** Open inodes with a cell (for tests). */
  get open(): number {
    return this.cells;
  }
}
