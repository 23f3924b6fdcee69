// Positioned I/O on the thing a volume lives on: an image file or a block
// device. Block devices report size 0 to stat, so their size comes from
// blockdev(8).
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, statSync, writeSync, constants } from 'node:fs';
import { CorruptFileError, PermissionDeniedError, RefusedError, UsageError } from '../errors.js';
import { runCommandSync } from '../os/processes.js';

export class Device {
  private constructor(
    readonly path: string,
    readonly fd: number,
    readonly size: number,
    readonly isBlockDevice: boolean,
  ) {}

  /**
   * `exclusive` (format, header restore): a block device is opened O_EXCL, so
   * one that is mounted or mapped is refused, as cryptsetup refuses it.
   */
  static open(path: string, writable: boolean, exclusive = false): Device {
    let fd: number;
    try {
      const st = statSync(path);
      const excl = exclusive && st.isBlockDevice() ? constants.O_EXCL : 0;
      fd = openSync(path, (writable ? constants.O_RDWR : constants.O_RDONLY) | excl);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'EBUSY') throw new RefusedError(`${path} is in use (mounted, mapped or open elsewhere)`);
      if (err.code === 'EACCES' || err.code === 'EPERM') throw new PermissionDeniedError(`cannot open ${path}: permission denied`);
      throw new UsageError(`cannot open ${path}: ${err.code === 'ENOENT' ? 'no such file or device' : err.message}`);
    }
    try {
      const st = fstatSync(fd);
      if (st.isBlockDevice()) {
        const r = runCommandSync(['blockdev', '--getsize64', path]);
        if (r.code !== 0) throw new UsageError(`cannot read the size of ${path}: ${r.stderr.trim() || `blockdev exit status ${r.code}`}`);
        const size = Number(r.stdout.trim());
        return new Device(path, fd, size, true);
      }
      if (!st.isFile()) throw new UsageError(`${path} is neither an image file nor a block device`);
      return new Device(path, fd, st.size, false);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Reads exactly `length` bytes at `offset`; a short device is a corrupt volume. */
  read(offset: number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    this.readInto(offset, buf);
    return buf;
  }

  readInto(offset: number, buf: Buffer): void {
    let done = 0;
    while (done < buf.length) {
      const n = readSync(this.fd, buf, done, buf.length - done, offset + done);
      if (n === 0) throw new CorruptFileError(this.path, `ends at ${offset + done}, before byte ${offset + buf.length}`);
      done += n;
    }
  }

  /** Reads what exists of [offset, offset+length), or null when the device is shorter. */
  readIfPresent(offset: number, length: number): Buffer | null {
    if (offset + length > this.size) return null;
    return this.read(offset, length);
  }

  write(offset: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, offset + done);
  }

  sync(): void {
    fsyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** major:minor of a Linux dev_t as glibc encodes it (what stat's rdev holds). */
function majorMinor(rdev: bigint): string {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/**
 * What a volume's source is, beyond its path: `file:DEV:INO` for an image
 * file, `blk:MAJOR:MINOR` for a block device, and for a loop device also its
 * backing file's `file:DEV:INO` (from sysfs). Two sources that share an entry
 * are the same bytes, however they are named (a symlink, a hard link, the
 * image and a loop device over it). [] when the path cannot be read.
 */
export function deviceIdentity(path: string): string[] {
  let st;
  try {
    st = statSync(path, { bigint: true });
  } catch {
    return [];
  }
  if (st.isFile()) return [`file:${st.dev}:${st.ino}`];
  if (!st.isBlockDevice()) return [];
  const dev = majorMinor(st.rdev);
  const ids = [`blk:${dev}`];
  try {
    const backing = readFileSync(`/sys/dev/block/${dev}/loop/backing_file`, 'utf8').trim();
    if (backing && !backing.endsWith(' (deleted)')) ids.push(...deviceIdentity(backing));
  } catch {
    /* not a loop device, or not attached */
  }
  return ids;
}
