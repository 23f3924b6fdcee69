// src/fuse/kernel/protocol.ts against the kernel's own fuse.h, without root and
// without /dev/fuse: requests are synthetic bytes laid out from the header's
// structs, replies are read back field by field through the same layouts.
import { describe, expect, it } from 'vitest';
import type { FuseStat, FuseStatfs } from '../../../src/fuse/bridge.js';
import {
  ATTR_OUT,
  ATTR_SIZE,
  DIRENT_BASE,
  ENTRY_OUT,
  Fattr,
  FOPEN_DIRECT_IO,
  FUSE_FSYNC_FDATASYNC,
  FUSE_GETATTR_FH,
  FUSE_KERNEL_MINOR,
  FUSE_KERNEL_VERSION,
  FUSE_ROOT_ID,
  FUSE_SETXATTR_ACL_KILL_SGID,
  FUSE_WRITE_KILL_SUIDGID,
  IN_HEADER,
  INIT_OUT,
  Init,
  MIN_READ_BUFFER,
  Op,
  OP_NAMES,
  OPEN_OUT,
  OUT_HEADER,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  STATFS_OUT,
  WRITE_IN,
  direntSize,
  direntType,
  joinMs,
  readCString,
  readInHeader,
  splitMs,
  u64,
  writeAttr,
  writeAttrOut,
  writeDirent,
  writeEntryOut,
  writeOpenOut,
  writeOutHeader,
  writeStatfsOut,
  LSEEK_OUT,
  readFallocateIn,
  readLseekIn,
  writeLseekOut,
} from '../../../src/fuse/kernel/protocol.js';
import { define, get, offsetOf, opcodes, request, set, struct } from './fuse-h.js';

const inHeader = struct('fuse_in_header');
const outHeader = struct('fuse_out_header');
const attr = struct('fuse_attr');
const entryOut = struct('fuse_entry_out');
const attrOut = struct('fuse_attr_out');
const openOut = struct('fuse_open_out');
const kstatfs = struct('fuse_kstatfs');
const dirent = struct('fuse_dirent');
const writeIn = struct('fuse_write_in');

/** A buffer of 0xA5 bytes, so a writer that strays outside its struct shows. */
const poisoned = (n: number) => Buffer.alloc(n, 0xa5);
const untouched = (b: Buffer, from: number, to: number) => b.subarray(from, to).every((x) => x === 0xa5);

const stat: FuseStat = {
  ino: 2 ** 40 + 3,
  size: 5 * 2 ** 30 + 1,
  nlink: 2,
  mode: 0o100640,
  uid: 1000,
  gid: 1001,
  rdev: 0x0803,
  blksize: 8192,
  blocks: 10_485_761,
  atimeMs: 1_700_000_000_123.456,
  mtimeMs: 1_600_000_000_000,
  ctimeMs: 999.999,
};

describe('protocol constants', () => {
  it("has the sizes of the header's structs", () => {
    expect(IN_HEADER).toBe(inHeader.size);
    expect(OUT_HEADER).toBe(outHeader.size);
    expect(ATTR_SIZE).toBe(attr.size);
    expect(ENTRY_OUT).toBe(entryOut.size);
    expect(ATTR_OUT).toBe(attrOut.size);
    expect(OPEN_OUT).toBe(openOut.size);
    expect(INIT_OUT).toBe(struct('fuse_init_out').size);
    expect(STATFS_OUT).toBe(struct('fuse_statfs_out').size);
    expect(DIRENT_BASE).toBe(offsetOf(dirent, 'name'));
    expect(WRITE_IN).toBe(writeIn.size);
  });

  it("has the header's opcodes, and a name for each", () => {
    const kernel = opcodes();
    expect(kernel.size).toBeGreaterThan(40);
    for (const [name, value] of Object.entries(Op)) {
      expect([name, value]).toEqual([name, kernel.get(name)]);
      expect(OP_NAMES[value]).toBe(name.toLowerCase());
    }
  });

  it("has the header's flags and limits", () => {
    for (const [name, value] of Object.entries(Init)) expect([name, value]).toEqual([name, define(`FUSE_${name}`)]);
    for (const [name, value] of Object.entries(Fattr)) expect([name, value]).toEqual([name, define(`FATTR_${name}`)]);
    expect(FOPEN_DIRECT_IO).toBe(define('FOPEN_DIRECT_IO'));
    expect(FUSE_GETATTR_FH).toBe(define('FUSE_GETATTR_FH'));
    expect(FUSE_WRITE_KILL_SUIDGID).toBe(define('FUSE_WRITE_KILL_SUIDGID'));
    expect(FUSE_SETXATTR_ACL_KILL_SGID).toBe(define('FUSE_SETXATTR_ACL_KILL_SGID'));
    expect(FUSE_FSYNC_FDATASYNC).toBe(define('FUSE_FSYNC_FDATASYNC'));
    expect(FUSE_ROOT_ID).toBe(define('FUSE_ROOT_ID'));
    expect(FUSE_KERNEL_VERSION).toBe(define('FUSE_KERNEL_VERSION'));
    expect(MIN_READ_BUFFER).toBe(define('FUSE_MIN_READ_BUFFER'));
    // the minor we answer with is one the installed header knows
    expect(FUSE_KERNEL_MINOR).toBeLessThanOrEqual(define('FUSE_KERNEL_MINOR_VERSION'));
    // RENAME2's flags are rename(2)'s, from linux/fs.h
    expect(RENAME_NOREPLACE).toBe(define('RENAME_NOREPLACE', '/usr/include/linux/fs.h'));
    expect(RENAME_EXCHANGE).toBe(define('RENAME_EXCHANGE', '/usr/include/linux/fs.h'));
  });
});

describe('request decoders', () => {
  it('reads fuse_in_header, a 64-bit unique and node id included', () => {
    const b = request(Op.GETATTR, 2n ** 33n + 5n, Buffer.alloc(struct('fuse_getattr_in').size), 2n ** 63n + 9n);
    expect(readInHeader(b)).toEqual({
      len: IN_HEADER + struct('fuse_getattr_in').size,
      opcode: Op.GETATTR,
      unique: 2n ** 63n + 9n,
      nodeid: 2 ** 33 + 5,
      uid: 1000,
      gid: 1001,
      pid: 4242,
    });
  });

  it('reads the name of a LOOKUP, and the two names of a RENAME2 after its struct', () => {
    const lookup = request(Op.LOOKUP, 1n, Buffer.from('notes.txt\0'));
    const h = readInHeader(lookup);
    expect(h.opcode).toBe(Op.LOOKUP);
    expect(readCString(lookup, IN_HEADER, h.len)).toEqual(['notes.txt', lookup.length]);

    const rename2 = struct('fuse_rename2_in');
    const body = Buffer.alloc(rename2.size);
    set(body, 0, rename2, 'newdir', 77n);
    set(body, 0, rename2, 'flags', RENAME_NOREPLACE);
    const names = Buffer.from('été.txt\0new name\0');
    const b = request(Op.RENAME2, 12n, Buffer.concat([body, names]));
    const len = readInHeader(b).len;
    const [from, next] = readCString(b, IN_HEADER + rename2.size, len);
    const [to, end] = readCString(b, next, len);
    expect([from, to, end]).toEqual(['été.txt', 'new name', len]);
    expect(u64(b, IN_HEADER + offsetOf(rename2, 'newdir'))).toBe(77);
    expect(b.readUInt32LE(IN_HEADER + offsetOf(rename2, 'flags'))).toBe(RENAME_NOREPLACE);
  });

  it('stops a name without its NUL at the end of the request, not past it', () => {
    const b = Buffer.concat([request(Op.LOOKUP, 1n, Buffer.from('abc')), Buffer.from('def\0')]);
    const end = IN_HEADER + 3;
    expect(readCString(b, IN_HEADER, end)).toEqual(['abc', end + 1]);
  });

  it('reads 64-bit offsets and handles of a WRITE beyond 4 GiB exactly', () => {
    const body = Buffer.alloc(writeIn.size + 5);
    set(body, 0, writeIn, 'fh', 2n ** 40n + 1n);
    set(body, 0, writeIn, 'offset', 6n * 2n ** 30n + 4095n);
    set(body, 0, writeIn, 'size', 5);
    set(body, 0, writeIn, 'write_flags', FUSE_WRITE_KILL_SUIDGID);
    Buffer.from('hello').copy(body, writeIn.size);
    const b = request(Op.WRITE, 9n, body);
    expect(u64(b, IN_HEADER + offsetOf(writeIn, 'fh'))).toBe(2 ** 40 + 1);
    expect(u64(b, IN_HEADER + offsetOf(writeIn, 'offset'))).toBe(6 * 2 ** 30 + 4095);
    expect(b.readUInt32LE(IN_HEADER + offsetOf(writeIn, 'size'))).toBe(5);
    expect(b.subarray(IN_HEADER + WRITE_IN, readInHeader(b).len).toString()).toBe('hello');
  });
});

describe('reply encoders', () => {
  it('reads fuse_fallocate_in and fuse_lseek_in with 64-bit offsets, and writes fuse_lseek_out', () => {
    const fa = struct('fuse_fallocate_in');
    const fb = Buffer.alloc(fa.size);
    set(fb, 0, fa, 'fh', 2n ** 40n + 1n);
    set(fb, 0, fa, 'offset', 2n ** 50n + 4095n);
    set(fb, 0, fa, 'length', 2n ** 33n);
    set(fb, 0, fa, 'mode', 3);
    expect(readFallocateIn(request(Op.FALLOCATE, 5n, fb), IN_HEADER)).toEqual({ fh: 2 ** 40 + 1, offset: 2 ** 50 + 4095, length: 2 ** 33, mode: 3 });
    const ls = struct('fuse_lseek_in');
    const lb = Buffer.alloc(ls.size);
    set(lb, 0, ls, 'fh', 7n);
    set(lb, 0, ls, 'offset', 2n ** 52n);
    set(lb, 0, ls, 'whence', 4);
    expect(readLseekIn(request(Op.LSEEK, 5n, lb), IN_HEADER)).toEqual({ fh: 7, offset: 2 ** 52, whence: 4 });
    const out = struct('fuse_lseek_out');
    expect(LSEEK_OUT).toBe(out.size);
    const b = poisoned(LSEEK_OUT + 8);
    writeLseekOut(b, 0, 2 ** 50 + 1);
    expect(get(b, 0, out, 'offset')).toBe(2n ** 50n + 1n);
    expect(untouched(b, LSEEK_OUT, b.length)).toBe(true);
  });

  it('writes fuse_out_header with a negative errno', () => {
    const b = poisoned(OUT_HEADER + 4);
    writeOutHeader(b, OUT_HEADER, -2, 2n ** 40n + 3n);
    expect([get(b, 0, outHeader, 'len'), get(b, 0, outHeader, 'error'), get(b, 0, outHeader, 'unique')]).toEqual([OUT_HEADER, -2, 2n ** 40n + 3n]);
    expect(untouched(b, OUT_HEADER, b.length)).toBe(true);
  });

  it('writes fuse_attr field by field, times as seconds and nanoseconds', () => {
    const b = poisoned(8 + ATTR_SIZE + 8);
    writeAttr(b, 8, stat);
    const f = (name: string) => get(b, 8, attr, name);
    expect([f('ino'), f('size'), f('blocks')]).toEqual([BigInt(stat.ino), BigInt(stat.size), 10_485_761n]);
    expect([f('atime'), f('atimensec')]).toEqual([1_700_000_000n, 123_456_000]);
    expect([f('mtime'), f('mtimensec')]).toEqual([1_600_000_000n, 0]);
    expect([f('ctime'), f('ctimensec')]).toEqual([0n, 999_999_000]);
    expect([f('mode'), f('nlink'), f('uid'), f('gid'), f('rdev'), f('blksize'), f('flags')]).toEqual([0o100640, 2, 1000, 1001, 0x0803, 8192, 0]);
    expect(untouched(b, 0, 8) && untouched(b, 8 + ATTR_SIZE, b.length)).toBe(true);
  });

  it('fills what FuseStat leaves out: 512-byte blocks from the size, 4096 blksize, rdev 0', () => {
    const b = poisoned(ATTR_SIZE);
    writeAttr(b, 0, { ...stat, size: 1025, blocks: undefined, blksize: undefined, rdev: undefined });
    expect([get(b, 0, attr, 'blocks'), get(b, 0, attr, 'blksize'), get(b, 0, attr, 'rdev')]).toEqual([3n, 4096, 0]);
  });

  it('writes fuse_entry_out with fractional timeouts, and a negative entry with no attributes', () => {
    const b = poisoned(ENTRY_OUT);
    writeEntryOut(b, 0, 42, stat, 1.5, 0.25);
    const f = (name: string) => get(b, 0, entryOut, name);
    expect([f('nodeid'), f('generation'), f('entry_valid'), f('entry_valid_nsec'), f('attr_valid'), f('attr_valid_nsec')]).toEqual([
      42n,
      0n,
      1n,
      500_000_000,
      0n,
      250_000_000,
    ]);
    expect(get(b, offsetOf(entryOut, 'attr'), attr, 'ino')).toBe(BigInt(stat.ino));

    const neg = poisoned(ENTRY_OUT);
    writeEntryOut(neg, 0, 0, null, 2, 1);
    expect([get(neg, 0, entryOut, 'nodeid'), get(neg, 0, entryOut, 'entry_valid'), get(neg, 0, entryOut, 'attr_valid')]).toEqual([0n, 2n, 0n]);
    expect(neg.subarray(offsetOf(entryOut, 'attr')).every((x) => x === 0)).toBe(true);
  });

  it('writes fuse_attr_out', () => {
    const b = poisoned(ATTR_OUT);
    writeAttrOut(b, 0, stat, 3);
    expect([get(b, 0, attrOut, 'attr_valid'), get(b, 0, attrOut, 'attr_valid_nsec'), get(b, 0, attrOut, 'dummy')]).toEqual([3n, 0, 0]);
    expect(get(b, offsetOf(attrOut, 'attr'), attr, 'mode')).toBe(stat.mode);
  });

  it('writes fuse_open_out', () => {
    const b = poisoned(OPEN_OUT);
    writeOpenOut(b, 0, 2 ** 35 + 1, FOPEN_DIRECT_IO);
    expect([get(b, 0, openOut, 'fh'), get(b, 0, openOut, 'open_flags'), get(b, 0, openOut, 'padding')]).toEqual([2n ** 35n + 1n, FOPEN_DIRECT_IO, 0]);
  });

  it('writes fuse_statfs_out with its spare words zeroed', () => {
    const s: FuseStatfs = {
      bsize: 4096,
      frsize: 4096,
      blocks: 2 ** 33,
      bfree: 2 ** 32 + 1,
      bavail: 2 ** 32,
      files: 1 << 20,
      ffree: 1000,
      favail: 1000,
      namemax: 143,
    };
    const b = poisoned(STATFS_OUT);
    writeStatfsOut(b, 0, s);
    const f = (name: string) => get(b, 0, kstatfs, name);
    expect([f('blocks'), f('bfree'), f('bavail'), f('files'), f('ffree'), f('bsize'), f('namelen'), f('frsize'), f('padding')]).toEqual([
      2n ** 33n,
      2n ** 32n + 1n,
      2n ** 32n,
      1n << 20n,
      1000n,
      4096,
      143,
      4096,
      0,
    ]);
    expect(b.subarray(offsetOf(kstatfs, 'spare')).every((x) => x === 0)).toBe(true);
  });

  it('writes fuse_dirent entries padded to 8 bytes, back to back', () => {
    const names = ['a', 'eight888', 'été'].map((n) => Buffer.from(n));
    const b = poisoned(200);
    let at = 0;
    const starts: number[] = [];
    for (const [i, name] of names.entries()) {
      starts.push(at);
      const size = writeDirent(b, at, 100 + i, i + 1, direntType(i === 1 ? 0o040755 : 0o100644), name);
      expect(size).toBe(direntSize(name.length));
      expect(size % 8).toBe(0);
      expect(size).toBeGreaterThanOrEqual(DIRENT_BASE + name.length);
      expect(size - (DIRENT_BASE + name.length)).toBeLessThan(8);
      at += size;
    }
    expect(starts).toEqual([0, 32, 64]);
    for (const [i, start] of starts.entries()) {
      const len = Number(get(b, start, dirent, 'namelen'));
      expect([get(b, start, dirent, 'ino'), get(b, start, dirent, 'off'), get(b, start, dirent, 'type')]).toEqual([
        BigInt(100 + i),
        BigInt(i + 1),
        i === 1 ? 4 : 8,
      ]); // DT_DIR, DT_REG
      expect(b.toString('utf8', start + DIRENT_BASE, start + DIRENT_BASE + len)).toBe(names[i].toString());
      const end = start + direntSize(len);
      expect(b.subarray(start + DIRENT_BASE + len, end).every((x) => x === 0)).toBe(true);
    }
    expect(untouched(b, at, b.length)).toBe(true);
    expect(direntType(0o120777)).toBe(10); // DT_LNK
  });
});

describe('times', () => {
  it('keeps microseconds exact through splitMs and joinMs', () => {
    for (const ms of [0, 1, 999.999, 1_700_000_000_123.456, 1_234_567_890_000.001]) {
      const [sec, nsec] = splitMs(ms);
      expect(nsec % 1000).toBe(0);
      expect(nsec).toBeLessThan(1e9);
      expect(Math.abs(joinMs(sec, nsec) - ms)).toBeLessThan(0.0006);
    }
  });

  it('carries a rounding up to the next second', () => {
    expect(splitMs(1999.9999)).toEqual([2, 0]);
  });
});
