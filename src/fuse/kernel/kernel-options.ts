// Options only the kernel bridge has (KernelBridgeOptions), apart so that
// the handlers' context can name them without importing the session.
/** All optional. */
export interface KernelBridgeOptions {
  /** With spinUs 0: reads of /dev/fuse in flight (libuv thread-pool slots taken; default 2). */
  readers?: number;
  /** Largest READ/WRITE in bytes, a multiple of 4096 (default 1 MiB, via max_pages). */
  maxIo?: number;
  /** Offer READDIRPLUS (names with attributes in one reply; kernel-chosen use). Default true. */
  readdirPlus?: boolean;
  /**
   * After answering, keep reading a non-blocking clone of the connection for
   * this many microseconds before going back to the event loop (0: never; default 50).
   */
  spinUs?: number;
  /**
   * Readahead of the mount in KiB when mounted as root (default: the largest
   * request, 1 MiB; 0 leaves the kernel's 128 KiB).
   */
  readaheadKib?: number;
  /**
   * Let the kernel keep directory listings across opens (OPENDIR answered
   * FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE; default true): a directory listed
   * before is listed again without a request, until a change of it through
   * the mount (which the kernel sees) or a new mtime once its attributes run out.
   */
  cacheDirs?: boolean;
  /**
   * Let the kernel open and close directories without a request, where it
   * offers FUSE_NO_OPENDIR_SUPPORT (Linux 5.1) and the filesystem keeps no
   * directory handles (no opendir, releasedir or fsyncdir; default true):
   * OPENDIR is answered ENOSYS once, and every later `opendir`/`closedir`
   * costs no round trip. Only with cacheDirs, which such opens imply.
   */
  kernelOpensDirs?: boolean;
  /**
   * Ask for FUSE_WRITEBACK_CACHE (default false): writes land in the kernel's
   * page cache and reach the filesystem later, merged into requests of up to
   * maxIo, or at fsync/flush/close. The kernel then owns mtime and the size, so
   * only for filesystems that accept that (the block engine's one fixed-size
   * file: a loop device sends fsync on every flush the filesystem above asks for).
   */
  writebackCache?: boolean;
  /**
   * Write-only opens of files nobody else has open bypass the page cache
   * (node-table.ts, opensDirect; default true; used only where the kernel
   * offers DIRECT_IO_ALLOW_MMAP, so that shared mmaps of such files work).
   */
  directWriters?: boolean;
  /**
   * Let an open keep the file's cached pages (FOPEN_KEEP_CACHE) when the file
   * is unchanged since its last cached open (node-table.ts, keepsCache;
   * default true): a file read again and again (headers, scripts, libraries)
   * is read from the daemon once.
   */
  keepCache?: boolean;
  /** The user the mount belongs to when root mounts for someone (login path). */
  uid?: number;
  gid?: number;
}
