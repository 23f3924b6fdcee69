// The lower calls that may wait on the device: fsync and close (close flushes
// on NFS, and takes the inode lock a running fsync holds on a FUSE lower). They
// run on libuv pool threads, so that the JS thread keeps answering the mount's
// other requests while a slow device flushes; everything else the engine does
// stays synchronous. At most MAX_AT_ONCE of them hold a pool thread, the rest
// wait their turn in order: the pool (4 threads) also carries the FUSE
// bridge's wait for the next request, which must never queue behind a stalled
// flush.
import { close, fdatasync, fsync, statfsSync } from 'node:fs';

const MAX_AT_ONCE = 2;

/**
 * Lower filesystems whose close(2) of a written file waits on nothing (no
 * flush to a server, no request to another daemon): ext2/3/4, XFS, Btrfs,
 * tmpfs, F2FS (statfs f_type). Their close only drops the file's reference
 * (ext4 and Btrfs start, without waiting, the writeback of a file truncated
 * to zero and rewritten), so a writer's close may run on the JS thread too.
 * NFS flushes at close, a FUSE lower sends FLUSH to its daemon (which may
 * wait on the inode lock a running fsync holds): those stay on the pool.
 */
const LOCAL_FS_TYPES: ReadonlySet<number> = new Set([0xef53, 0x58465342, 0x9123683e, 0x01021994, 0xf2f52010]);

/** True when the filesystem holding `path` is one of LOCAL_FS_TYPES (false when statfs fails). */
export function closesWithoutWaiting(path: string): boolean {
  try {
    return LOCAL_FS_TYPES.has(statfsSync(path).type);
  } catch {
    return false;
  }
}

export class LowerFlushes {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly onIdle: Array<() => void> = [];

  /** Nothing is running or waiting (a close on the JS thread cannot wait on a lock one of ours holds). */
  get idle(): boolean {
    return this.running === 0;
  }

  /**
   * Resolves once every fsync and close started or queued so far has
   * finished (at once when none is): the daemon's shutdown waits for them
   * before it lets go of the lower directory's lock and exits.
   */
  settled(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((done) => this.onIdle.push(done));
  }

  /** fsync(2) (fdatasync(2) when `datasync`) of `fd`; rejects with the Node fs error. */
  fsync(fd: number, datasync: boolean): Promise<void> {
    return new Promise((done, failed) => {
      this.turn((next) =>
        (datasync ? fdatasync : fsync)(fd, (err) => {
          // the result first: whoever waits for `settled` comes after the caller
          if (err) failed(err);
          else done();
          next();
        }),
      );
    });
  }

  /** close(2) of `fd`, answered by nobody: a failure goes to `onError`. */
  close(fd: number, onError: (err: NodeJS.ErrnoException) => void): void {
    this.turn((next) =>
      close(fd, (err) => {
        try {
          if (err) onError(err);
        } finally {
          next();
        }
      }),
    );
  }

  private turn(job: (next: () => void) => void): void {
    const start = (): void => {
      this.running++;
      job(() => {
        this.running--;
        this.waiting.shift()?.();
        if (this.running === 0) for (const done of this.onIdle.splice(0)) done();
      });
    };
    if (this.running < MAX_AT_ONCE) start();
    else this.waiting.push(start);
  }
}
