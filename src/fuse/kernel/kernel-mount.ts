// Getting a /dev/fuse connection mounted, and unmounting it: the OS adapter of
// the kernel bridge. As root we open /dev/fuse and call mount(2) ourselves
// (what libfuse and go-fuse do); otherwise the set-uid fusermount3 mounts and
// hands the connected fd back over a unix socket (SCM_RIGHTS, _FUSE_COMMFD).
import koffi from 'koffi';
import { spawn } from 'node:child_process';
import { closeSync, constants as fsc, openSync, readFileSync, writeFileSync } from 'node:fs';
import { MissingFeatureError } from '../../errors.js';
import { errnoError, libc as libcLibrary } from '../../os/libc.js';
import { runCommand, type RunResult } from '../../os/processes.js';
import { fusermountRefusal, umount2Refusal, unmountRefusal } from './fusermount-refusal.js';

type Fn = (...args: unknown[]) => number;
interface Libc {
  mount: Fn;
  umount2: Fn;
  socketpair: Fn;
  recvmsg: Fn;
  close: Fn;
  ioctl: Fn;
  read: Fn;
  poll: Fn & { async: (...args: unknown[]) => void };
}
let libc: Libc | null = null;

function lib(): Libc {
  if (libc) return libc;
  const l = libcLibrary();
  libc = {
    mount: l.func('int mount(const char *src, const char *target, const char *type, unsigned long flags, const char *data)') as unknown as Fn,
    umount2: l.func('int umount2(const char *target, int flags)') as unknown as Fn,
    socketpair: l.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)') as unknown as Fn,
    recvmsg: l.func('long recvmsg(int fd, void *msg, int flags)') as unknown as Fn,
    close: l.func('int close(int fd)') as unknown as Fn,
    ioctl: l.func('int ioctl(int fd, unsigned long req, uint32_t *arg)') as unknown as Fn,
    read: l.func('long read(int fd, void *buf, size_t len)') as unknown as Fn,
    poll: l.func('int poll(void *fds, unsigned long nfds, int timeout)') as unknown as Libc['poll'],
  };
  return libc;
}

const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const MNT_DETACH = 2;

export interface KernelMountRequest {
  mountPoint: string;
  fsname: string;
  subtype?: string;
  allowOther?: boolean;
  defaultPermissions?: boolean;
  readOnly?: boolean;
  /** The user the mount belongs to (default: this process's). */
  uid?: number;
  gid?: number;
}

/** Escapes a value for the kernel's and fusermount's comma-separated option strings. */
function optValue(v: string): string {
  if (/[,\\\n]/.test(v)) throw new Error(`FUSE mount option value ${JSON.stringify(v)} may not hold ',' or '\\'`);
  return v;
}

function commonOptions(r: KernelMountRequest): string[] {
  const o: string[] = [];
  if (r.defaultPermissions !== false) o.push('default_permissions');
  if (r.allowOther) o.push('allow_other');
  return o;
}

/** Opens /dev/fuse and mounts it at `mountPoint` (needs root / CAP_SYS_ADMIN). Returns the fd. */
export function mountAsRoot(r: KernelMountRequest): number {
  const fd = openSync('/dev/fuse', 'r+');
  const uid = r.uid ?? process.getuid!();
  const gid = r.gid ?? process.getgid!();
  const data = [`fd=${fd}`, 'rootmode=40000', `user_id=${uid}`, `group_id=${gid}`, ...commonOptions(r)].join(',');
  const type = r.subtype ? `fuse.${optValue(r.subtype)}` : 'fuse';
  const flags = MS_NOSUID | MS_NODEV | (r.readOnly ? MS_RDONLY : 0);
  if (lib().mount(optValue(r.fsname), r.mountPoint, type, flags, data) !== 0) {
    const err = errnoError('mount', r.mountPoint);
    closeSync(fd);
    throw err;
  }
  return fd;
}

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CMSG_CLOEXEC = 0x40000000;

/**
 * Mounts through fusermount3 (any user allowed by /etc/fuse.conf and the mount
 * point's ownership). fusermount3 opens /dev/fuse, mounts, and sends the fd
 * over the socket named by _FUSE_COMMFD; we receive it with recvmsg.
 */
export async function mountWithFusermount(r: KernelMountRequest): Promise<number> {
  const c = lib();
  const sv = [0, 0];
  if (c.socketpair(AF_UNIX, SOCK_STREAM, 0, sv) !== 0) throw errnoError('socketpair', '');
  const [ours, theirs] = sv as [number, number];
  let theirsOpen = true;
  try {
    const opts = [`fsname=${optValue(r.fsname)}`, ...commonOptions(r)];
    if (r.subtype) opts.push(`subtype=${optValue(r.subtype)}`);
    if (r.readOnly) opts.push('ro');
    opts.push('nosuid', 'nodev');
    const stderr = await new Promise<string>((resolve, reject) => {
      const child = spawn('fusermount3', ['-o', opts.join(','), '--', r.mountPoint], {
        stdio: ['ignore', 'ignore', 'pipe', theirs],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', _FUSE_COMMFD: '3' },
      });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
      });
      child.on('error', (e: NodeJS.ErrnoException) =>
        reject(e.code === 'ENOENT' ? new MissingFeatureError('fusermount3 is not installed', { hint: 'install the Debian package fuse3' }) : e),
      );
      child.on('close', (code) => (code === 0 ? resolve(err) : reject(fusermountRefusal(r.mountPoint, err, code))));
    });
    void stderr;
    // fusermount3 has exited: with our copy of its end closed, one that sent nothing reads as end of
    // file, where recvmsg would otherwise block this thread for ever
    c.close(theirs);
    theirsOpen = false;
    return receiveFd(ours, r.mountPoint);
  } finally {
    if (theirsOpen) c.close(theirs);
    c.close(ours);
  }
}

/** recvmsg(2) of one byte and one SCM_RIGHTS fd. */
function receiveFd(sock: number, mountPoint: string): number {
  const data = Buffer.alloc(1);
  const iov = Buffer.alloc(16);
  const control = Buffer.alloc(64);
  const msg = Buffer.alloc(56);
  iov.writeBigUInt64LE(BigInt(koffi.address(data) as unknown as bigint), 0);
  iov.writeBigUInt64LE(1n, 8);
  msg.writeBigUInt64LE(BigInt(koffi.address(iov) as unknown as bigint), 16);
  msg.writeBigUInt64LE(1n, 24);
  msg.writeBigUInt64LE(BigInt(koffi.address(control) as unknown as bigint), 32);
  msg.writeBigUInt64LE(BigInt(control.length), 40);
  // MSG_CMSG_CLOEXEC: a program we start later must not inherit the connection
  // (it would keep a dead daemon's mount hanging instead of failing with ENOTCONN)
  const n = lib().recvmsg(sock, msg, MSG_CMSG_CLOEXEC);
  if (n < 0) throw errnoError('recvmsg', 'from fusermount3');
  // struct cmsghdr { size_t len; int level; int type; int fd; }
  const clen = Number(msg.readBigUInt64LE(40));
  if (clen < 20 || control.readInt32LE(8) !== SOL_SOCKET || control.readInt32LE(12) !== SCM_RIGHTS) {
    // fusermount3 said it mounted, yet sent nothing: not the fusermount3 of libfuse 3 that speaks _FUSE_COMMFD
    throw new MissingFeatureError(`FUSE mount at ${mountPoint} failed: fusermount3 did not pass the /dev/fuse descriptor back`, {
      hint: `check that fusermount3 on PATH is the one of the Debian package fuse3, and that nothing is left mounted at ${mountPoint}`,
    });
  }
  return control.readInt32LE(16);
}

/** Unmounts (umount2 as root, fusermount3 -u otherwise); a refusal is a typed error (fusermount-refusal.ts). */
export async function unmountKernel(mountPoint: string, lazy: boolean): Promise<void> {
  if (process.getuid?.() === 0) {
    if (lib().umount2(mountPoint, lazy ? MNT_DETACH : 0) !== 0) throw umount2Refusal(mountPoint, errnoError('umount', mountPoint).code);
    return;
  }
  await fusermountUnmount(mountPoint, lazy);
}

/** fusermount3 -u (or -uz), which works for root and for the mounting user; a refusal is a typed error. */
export async function fusermountUnmount(mountPoint: string, lazy: boolean): Promise<void> {
  let r: RunResult;
  try {
    r = await runCommand(['fusermount3', '-u', ...(lazy ? ['-z'] : []), '--', mountPoint], { timeoutMs: 30_000 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new MissingFeatureError('fusermount3 is not installed', { hint: 'install the Debian package fuse3' });
    throw err;
  }
  if (r.code !== 0) throw unmountRefusal(mountPoint, r.stderr || (r.signal ? `killed by ${r.signal}` : `exit status ${r.code}`), 'fusermount3');
}

// _IOR(229, 0, uint32_t): attach a new /dev/fuse descriptor to an existing connection
const FUSE_DEV_IOC_CLONE = 0x8004e500;

/**
 * A second, non-blocking descriptor on the same FUSE connection. Requests go
 * to whichever descriptor reads first; a reply must go back on the descriptor
 * its request was read from.
 */
export function cloneNonBlocking(fd: number): number {
  const clone = openSync('/dev/fuse', fsc.O_RDWR | fsc.O_NONBLOCK | 0o2000000 /* O_CLOEXEC */);
  if (lib().ioctl(clone, FUSE_DEV_IOC_CLONE, [fd]) !== 0) {
    const err = errnoError('ioctl FUSE_DEV_IOC_CLONE', '/dev/fuse');
    closeSync(clone);
    throw err;
  }
  return clone;
}

/**
 * read(2) straight into `buf`: the byte count, or the negative errno (no
 * exception object for EAGAIN, which a polling loop sees all the time).
 */
export function readRaw(fd: number, buf: Buffer): number {
  const n = lib().read(fd, buf, buf.length);
  return n >= 0 ? n : -koffi.errno();
}

const POLLIN = 1;

/** A descriptor the event loop itself watches (watchReadable); `close` before the descriptor is closed. */
export interface ReadableWatch {
  close(): void;
}

// koffi.node.poll's handle is itself a ReadableWatch
type KoffiPoll = (fd: number, opts: { readable: boolean }, cb: (status: number) => void) => ReadableWatch;

/**
 * Calls `onReadable` each time `fd` has something to read (or an error, such
 * as the connection going away) as the event loop's own poll sees it (libuv's
 * uv_poll on the loop's epoll, through koffi): no pool thread waits and no
 * thread hop wakes the loop, which whenReadable costs on every idle spell.
 * Null when this koffi has no poll handles (the caller falls back to
 * whenReadable). The callback runs outside Node's callback scope: it must not
 * throw, and Promise jobs it queues run only at the loop's next callback.
 */
export function watchReadable(fd: number, onReadable: () => void): ReadableWatch | null {
  const poll = (koffi as unknown as { node?: { poll?: KoffiPoll } }).node?.poll;
  if (typeof poll !== 'function') return null;
  try {
    return poll(fd, { readable: true }, () => onReadable());
  } catch {
    return null;
  }
}

/**
 * Calls `done` once `fd` has something to read (or an error, such as the
 * connection going away), waiting on a libuv pool thread. Nothing is read:
 * the caller reads on its own thread.
 */
export function whenReadable(fd: number, done: () => void): void {
  const pfd = Buffer.alloc(8); // struct pollfd { int fd; short events; short revents; }
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(POLLIN, 4);
  lib().poll.async(pfd, 1, -1, () => {
    void pfd; // kept alive until the call returns
    done();
  });
}

/**
 * Sets the readahead of the mount's backing device (its bdi, shared by
 * nothing else) to `kib`. The kernel starts a FUSE mount at 128 KiB whatever
 * max_pages allows, so a streaming read arrives as 128 KiB requests; 1 MiB
 * requests cost an eighth of the round trips (measured in
 * docs/BENCHMARKS.md). Needs root (sysfs); returns false when it could not.
 * Reads /proc/self/mountinfo, never the mount itself (whose requests the
 * caller's thread may be the one to answer).
 */
export function setReadahead(mountPoint: string, kib: number): boolean {
  try {
    const esc = mountPoint.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
    let dev: string | null = null;
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f[4] === esc) dev = f[2] ?? null; // the last mount stacked there wins
    }
    if (!dev || !/^\d+:\d+$/.test(dev)) return false;
    writeFileSync(`/sys/class/bdi/${dev}/read_ahead_kb`, `${kib}\n`);
    return true;
  } catch {
    return false;
  }
}

const SIGKILL_BIT = 1n << 8n; // signal 9, bit 8 of the pending masks

/**
 * True when thread `pid` has a SIGKILL pending (it is being killed) or is
 * gone: what answers to a request of it no longer matter to anyone. Reads
 * /proc/PID/status (SigPnd: the thread's own pending signals; ShdPnd: its
 * process's). pid 0 (a caller outside our pid namespace) is never dying.
 */
export function fatalSignalPending(pid: number): boolean {
  if (!(pid > 0)) return false;
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return true; // gone
  }
  for (const key of ['SigPnd:', 'ShdPnd:']) {
    const at = status.indexOf(key);
    if (at < 0) continue;
    const hex = status.slice(at + key.length, status.indexOf('\n', at)).trim();
    if (/^[0-9a-f]+$/i.test(hex) && (BigInt(`0x${hex}`) & SIGKILL_BIT) !== 0n) return true;
  }
  return false;
}
