// Reading ahead the directory IV files (format 2) of the subdirectories a
// listing meets. After a cache drop, the first use of a directory reads its
// IV file from the disk (its directory block to find the file, then the
// file's block), on the one JS thread every request waits for; `ls -lR`,
// `find`, `du` and `git status` list a directory's subdirectories next.
// So a listing starts, on a libuv pool thread, an open of each subdirectory's
// IV file (which reads the subdirectory's block and the file's inode) and,
// back on the JS thread, asks the kernel to read the file's block in the
// background (POSIX_FADV_WILLNEED). Nothing read here is used: the IV is
// still read and authenticated when the directory is first used
// (dir-state.ts), now from the page cache. The opens never follow a symlink
// nor leave the listed directory (openat2 RESOLVE_NO_SYMLINKS and
// RESOLVE_BENEATH), through a descriptor of their own of it.
// Where the lower tree is in the page cache already (a listing right after
// the files were written or listed, the canonical benchmark's ls row), all
// this costs three to five system calls and two thread hops per directory and
// saves nothing: the engine reads ahead below a directory only when its own
// IV file came from the disk, or was read ahead itself (filesystem.ts readdir).
import { closeSync, constants as fsc } from 'node:fs';
import { dupFdSync, openBeneathAsync, willNeedSync } from '../os/lower-fs-calls.js';

/** Opens on the pool at once: the pool has 4 threads, and the bridge's wait for requests needs one. */
const IN_FLIGHT = 2;
/** Subdirectories waiting (a huge directory's are not all read ahead). */
const QUEUED = 512;
/** Directories remembered as read ahead (a path each). */
const REMEMBERED = 16_384;

interface Job {
  /** The listed directory's descriptor of our own, shared by its jobs. */
  dir: { fd: number; jobs: number };
  name: string;
}

export class IvReadAhead {
  private readonly queue: Job[] = [];
  private running = 0;
  /** Lower paths (relative to the root) of the directories whose IV file was queued here. */
  private readonly queued = new Set<string>();
  /** Counts, for tests and benchmarks: IV files opened and read ahead, and opens refused or failed. */
  warmed = 0;
  refused = 0;

  constructor(private readonly fileName: string) {}

  /**
   * Reads ahead the IV files of subdirectories `names` of the directory open
   * as `dirFd`, whose lower path relative to the root is `rel`.
   */
  listed(dirFd: number, rel: string, names: string[]): void {
    const room = Math.min(names.length, QUEUED - this.queue.length);
    if (room <= 0) return;
    let fd: number;
    try {
      fd = dupFdSync(dirFd);
    } catch {
      return; // out of descriptors: no read-ahead, nothing else changes
    }
    if (this.queued.size + room > REMEMBERED) this.queued.clear();
    for (let i = 0; i < room; i++) this.queued.add(rel ? `${rel}/${names[i]!}` : names[i]!);
    const dir = { fd, jobs: room };
    for (let i = 0; i < room; i++) this.queue.push({ dir, name: names[i]! });
    this.next();
  }

  /** True when the IV file of the directory at `rel` was queued to be read ahead. */
  readAhead(rel: string): boolean {
    return this.queued.has(rel);
  }

  /** Nothing queued or running. */
  get idle(): boolean {
    return this.running === 0 && this.queue.length === 0;
  }

  private next(): void {
    while (this.running < IN_FLIGHT && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.running++;
      openBeneathAsync(job.dir.fd, `${job.name}/${this.fileName}`, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK, (fd) => {
        this.running--;
        if (fd >= 0) {
          this.warmed++;
          willNeedSync(fd, 0, 4096);
          closeSync(fd);
        } else {
          this.refused++;
        }
        if (--job.dir.jobs === 0) closeSync(job.dir.fd);
        this.next();
      });
    }
  }
}
