// One daemon per lower directory. Each daemon keeps its own per-file size
// cells, write records and caches (lower-sizes.ts, write-journal.ts), so two
// serving one lower directory lose each other's writes or leave files that
// read as EIO. The mount table shows a listed mount (mount-daemon.ts,
// refuseIfLowerServed), but not one lazily detached at a logout, whose daemon
// keeps serving the processes left inside it. So a daemon holds an exclusive
// flock(2) on the lower directory itself for as long as it serves: the kernel
// drops it when the daemon exits, however it ends, and it follows the
// directory's inode, whatever path names it.
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { RefusedError } from '../errors.js';
import { ErrnoError } from '../os/libc.js';
import { flockHolder, tryLockExclusive } from '../os/flock.js';

/**
 * How long a taker waits for the lock before refusing: a daemon whose mount was
 * just unmounted lets go of it once its connection has ended and its lower
 * files are closed (mount-daemon.ts, serveToTheEnd; tens of milliseconds, more
 * while flushes to a slow device finish), and `umount` then `mount` at once
 * must not fail.
 */
export const LOWER_LOCK_WAIT_MS = 3000;

/** A lower directory's lock, held; `release` lets go of it (the kernel also does at exit). */
export interface LowerLock {
  release(): void;
}

type Attempt = { fd: number } | { busy: { pid: number | null } } | { unsupported: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One try at the lock, waiting up to `waitMs` for a holder to let go. */
async function attempt(lower: string, waitMs: number): Promise<Attempt> {
  let fd: number;
  try {
    // the directory itself (O_CLOEXEC, as Node opens everything: no child inherits the lock)
    fd = openSync(lower, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    return { unsupported: `open: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  const deadline = Date.now() + waitMs;
  try {
    for (;;) {
      if (tryLockExclusive(fd, lower)) return { fd };
      if (Date.now() >= deadline) {
        const pid = flockHolder(fstatSync(fd));
        closeSync(fd);
        return { busy: { pid } };
      }
      await sleep(50);
    }
  } catch (err) {
    closeSync(fd);
    // ENOLCK, or a filesystem without flock (EBADF/EINVAL on some network ones): no lock to be had
    if (err instanceof ErrnoError) return { unsupported: err.message };
    throw err;
  }
}

/** The refusal of a lower directory another daemon (pid, when /proc/locks names it) serves. */
export function lowerServedError(lower: string, pid: number | null): RefusedError {
  const who = pid ? ` (pid ${pid})` : '';
  return new RefusedError(
    `${lower} is being served by another homecrypt daemon${who}: a mount lazily detached at logout keeps serving until the last process inside it exits`,
    {
      hint:
        `mount it again once the processes left inside that mount have ended${pid ? ` (or stop the daemon: kill -KILL ${pid}, as it keeps serving them through SIGTERM; what they write after that is lost)` : ''}; ` +
        "two daemons on one lower directory would each overwrite the other's writes",
    },
  );
}

/**
 * Takes the lower directory's lock for a daemon, or for an offline command
 * that rewrites the lower directory: a RefusedError (exit 8) when another
 * daemon holds it. Where the lower filesystem cannot lock (ENOLCK, some
 * network filesystems) this says so in one line to `log` and goes on without
 * it: a mount is never refused for that.
 */
export async function takeLowerLock(lower: string, log: (line: string) => void, waitMs = LOWER_LOCK_WAIT_MS): Promise<LowerLock> {
  const got = await attempt(lower, waitMs);
  if ('busy' in got) throw lowerServedError(lower, got.busy.pid);
  if ('unsupported' in got) {
    log(`homecrypt: ${lower} cannot be locked (${got.unsupported}); going on without the lock that keeps a second daemon off it`);
    return { release: () => undefined };
  }
  let fd: number | null = got.fd;
  return {
    release() {
      if (fd !== null) closeSync(fd);
      fd = null;
    },
  };
}

/**
 * Whether a daemon serves `lower` now (waiting up to `waitMs` for one that is
 * ending): its pid when /proc/locks names it, or null (free, or no lock to be
 * had here). Takes the lock only for the moment of the look.
 */
export async function lowerServer(lower: string, waitMs = LOWER_LOCK_WAIT_MS): Promise<{ pid: number | null } | null> {
  const got = await attempt(lower, waitMs);
  if ('fd' in got) closeSync(got.fd);
  return 'busy' in got ? got.busy : null;
}
