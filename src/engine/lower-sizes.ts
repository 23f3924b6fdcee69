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
}

interface Entry {
  cell: SizeCell;
  refs: number;
}

export class LowerSizes {
  private readonly byInode = new Map<string, Entry>();
  private readonly keys = new WeakMap<SizeCell, string>();

  /**
   * The cell of inode (`dev`, `ino`), set to `size` (just read by the caller's
   * fstat); null when the numbers do not identify the inode exactly (an inode
   * number past 2^53 loses bits as a JS number: two files could then share a
   * cell). Each cell taken is given back with `drop`.
   */
  take(dev: number, ino: number, size: number): SizeCell | null {
    if (!Number.isSafeInteger(dev) || !Number.isSafeInteger(ino) || ino <= 0) return null;
    const key = `${dev}:${ino}`;
    let e = this.byInode.get(key);
    if (!e) {
      e = { cell: { size }, refs: 0 };
      this.byInode.set(key, e);
      this.keys.set(e.cell, key);
    }
    e.refs++;
    e.cell.size = size;
    return e.cell;
  }

  /** A handle of the cell's inode is closed. */
  drop(cell: SizeCell | null | undefined): void {
    if (!cell) return;
    const key = this.keys.get(cell);
    const e = key === undefined ? undefined : this.byInode.get(key);
    if (!e || e.cell !== cell) return;
    if (--e.refs <= 0) this.byInode.delete(key!);
  }

  /** Open inodes with a cell (for tests). */
  get open(): number {
    return this.byInode.size;
  }
}
