// The kernel bridge's handlers (src/fuse/kernel/handlers/) driven with
// synthetic request bytes, laid out from the kernel's own fuse.h (fuse-h.ts),
// against a fake filesystem: no root, no /dev/fuse. The session's replies go
// to a temporary file standing in for the connection and are read back.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { constants } from 'node:os';
import type { FuseOps, FuseStat } from '../../../src/fuse/bridge.js';
import { FuseError } from '../../../src/fuse/bridge.js';
import { KernelSession } from '../../../src/fuse/kernel/kernel-bridge.js';
import { FUSE_SETXATTR_ACL_KILL_SGID, Init, Op } from '../../../src/fuse/kernel/protocol.js';
import { get, request, set, struct } from './fuse-h.js';

const E = constants.errno;
const outHeader = struct('fuse_out_header');
const initIn = struct('fuse_init_in');
const initOut = struct('fuse_init_out');
const entryOut = struct('fuse_entry_out');
const attrOut = struct('fuse_attr_out');
const attr = struct('fuse_attr');
const mkdirIn = struct('fuse_mkdir_in');
const readIn = struct('fuse_read_in');
const writeIn = struct('fuse_write_in');
const getxattrIn = struct('fuse_getxattr_in');
const interruptIn = struct('fuse_interrupt_in');
const getattrIn = struct('fuse_getattr_in');

const cstr = (s: string) => Buffer.from(`${s}\0`);

/** A request from caller 1000:1001, thread 0 (outside our pid namespace: never "dying"). */
const req = (opcode: number, unique: bigint, nodeid: bigint, b: Buffer = Buffer.alloc(0)) => request(opcode, nodeid, b, unique, 0);

function body(s: ReturnType<typeof struct>, fields: Record<string, number | bigint>, tail: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(s.size);
  for (const [k, v] of Object.entries(fields)) set(b, 0, s, k, v);
  return Buffer.concat([b, tail]);
}

interface Reply {
  error: number;
  unique: bigint;
  payload: Buffer;
}

const stat = (over: Partial<FuseStat> = {}): FuseStat => ({
  mode: 0o100644,
  uid: 1000,
  gid: 1001,
  size: 5,
  nlink: 1,
  ino: 77,
  atimeMs: 1_000,
  mtimeMs: 2_000,
  ctimeMs: 3_000,
  ...over,
});

describe('kernel bridge handlers, from request bytes to reply bytes', () => {
  let dir: string;
  let fd: number;
  let read = 0;
  const calls: string[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(join(tmpdir(), 'hc-handlers-'));
    fd = fs.openSync(join(dir, 'connection'), 'w+');
    read = 0;
    calls.length = 0;
  });
  afterEach(() => {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Replies written since the last call. */
  function replies(): Reply[] {
    const all = fs.readFileSync(join(dir, 'connection'));
    const out: Reply[] = [];
    let at = read;
    while (at + outHeader.size <= all.length) {
      const len = Number(get(all, at, outHeader, 'len'));
      out.push({
        error: Number(get(all, at, outHeader, 'error')),
        unique: get(all, at, outHeader, 'unique') as bigint,
        payload: all.subarray(at + outHeader.size, at + len),
      });
      at += len;
    }
    read = at;
    return out;
  }

  /** `offer`: INIT flags the kernel offers beyond the usual ones. */
  function session(ops: Partial<FuseOps>, offer = 0): KernelSession {
    const full: FuseOps = {
      getattr: () => {
        throw new FuseError(E.ENOENT);
      },
      ...ops,
    };
    const s = new KernelSession(
      fd,
      full,
      {
        fsname: 'test',
        onUnexpectedError: (op, p, e) => {
          throw e;
        },
      },
      {},
    );
    const flags = Init.ASYNC_READ | Init.MAX_PAGES | Init.POSIX_ACL | Init.DONT_MASK | Init.DO_READDIRPLUS | offer;
    s.dispatch(req(Op.INIT, 1n, 0n, body(initIn, { major: 7, minor: 38, max_readahead: 131072, flags })), 999);
    return s;
  }

  it('INIT: agrees on the version, max_write, and asks for POSIX ACLs and DONT_MASK only for a filesystem that keeps ACLs', () => {
    session({ posixAcl: true });
    const [r] = replies();
    expect(r).toMatchObject({ error: 0, unique: 1n });
    expect(get(r!.payload, 0, initOut, 'major')).toBe(7);
    expect(get(r!.payload, 0, initOut, 'minor')).toBe(33);
    expect(get(r!.payload, 0, initOut, 'max_write')).toBe(1 << 20);
    const flags = Number(get(r!.payload, 0, initOut, 'flags'));
    expect(flags & Init.POSIX_ACL).toBeTruthy();
    expect(flags & Init.DONT_MASK).toBeTruthy();
    expect(flags & Init.WRITEBACK_CACHE).toBe(0); // not offered, not asked
    session({});
    const plain = Number(get(replies()[0]!.payload, 0, initOut, 'flags'));
    expect(plain & (Init.POSIX_ACL | Init.DONT_MASK)).toBe(0);
  });

  it('LOOKUP answers an entry with the attributes, a missing name a negative entry; GETATTR the attributes', () => {
    const s = session({
      getattr: (p) => {
        calls.push(p);
        if (p === '/a') return stat();
        throw new FuseError(E.ENOENT);
      },
    });
    replies();
    s.dispatch(req(Op.LOOKUP, 10n, 1n, cstr('a')), 999);
    s.dispatch(req(Op.LOOKUP, 11n, 1n, cstr('missing')), 999);
    const [hit, miss] = replies();
    expect(hit!.error).toBe(0);
    const node = get(hit!.payload, 0, entryOut, 'nodeid') as bigint;
    expect(node).toBeGreaterThan(1n);
    const at = entryOut.fields.get('attr')!.offset;
    expect(get(hit!.payload, at, attr, 'mode')).toBe(0o100644);
    expect(get(hit!.payload, at, attr, 'size')).toBe(5n);
    expect(miss!.error).toBe(0);
    expect(get(miss!.payload, 0, entryOut, 'nodeid')).toBe(0n);
    s.dispatch(req(Op.GETATTR, 12n, node, body(getattrIn, {})), 999);
    const [g] = replies();
    expect(g!.error).toBe(0);
    expect(get(g!.payload, attrOut.fields.get('attr')!.offset, attr, 'ino')).toBe(77n);
    expect(calls).toEqual(['/a', '/missing', '/a']);
  });

  it('MKDIR under DONT_MASK applies the umask unless the parent has a default ACL', () => {
    let acl = false;
    const made: Array<[string, number]> = [];
    const s = session({
      posixAcl: true,
      getattr: (p) => (p === '/' ? stat({ mode: 0o40755, ino: 1 }) : stat({ mode: 0o40700, ino: 50 + made.length })),
      getxattr: () => {
        if (acl) return Buffer.alloc(4);
        throw new FuseError(E.ENODATA);
      },
      mkdir: (p, mode) => {
        made.push([p, mode]);
      },
    });
    replies();
    s.dispatch(req(Op.MKDIR, 20n, 1n, body(mkdirIn, { mode: 0o777, umask: 0o027 }, cstr('d1'))), 999);
    acl = true;
    s.dispatch(req(Op.MKDIR, 21n, 1n, body(mkdirIn, { mode: 0o777, umask: 0o027 }, cstr('d2'))), 999);
    expect(replies().map((r) => r.error)).toEqual([0, 0]);
    expect(made).toEqual([
      ['/d1', 0o750],
      ['/d2', 0o777],
    ]);
  });

  it('READ and WRITE carry offset, size and data; an errno thrown becomes the reply; an unknown opcode ENOSYS', () => {
    const written: Array<[number, string]> = [];
    const s = session({
      getattr: () => stat(),
      open: () => 9,
      read: (_p, fh, buf, off) => {
        expect(fh).toBe(9);
        return buf.write(`at ${off} of ${buf.length}`);
      },
      write: (_p, _fh, buf, off) => {
        written.push([off, buf.toString()]);
        return buf.length;
      },
      readlink: () => {
        throw new FuseError(E.EACCES);
      },
    });
    replies();
    s.dispatch(req(Op.READ, 30n, 1n, body(readIn, { fh: 9n, offset: 4096n, size: 100 })), 999);
    const data = Buffer.from('hello');
    s.dispatch(req(Op.WRITE, 31n, 1n, body(writeIn, { fh: 9n, offset: 7n, size: data.length }, data)), 999);
    s.dispatch(req(Op.READLINK, 32n, 1n), 999);
    s.dispatch(req(Op.IOCTL, 33n, 1n, Buffer.alloc(32)), 999);
    const [r, w, l, io] = replies();
    expect(r!.payload.toString()).toBe('at 4096 of 100');
    expect(written).toEqual([[7, 'hello']]);
    expect(w!.payload.readUInt32LE(0)).toBe(5);
    expect(l!.error).toBe(-E.EACCES);
    expect(io!.error).toBe(-E.ENOSYS);
  });

  it('SETXATTR: the 16-byte fuse_setxattr_in once SETXATTR_EXT is agreed; ACL_KILL_SGID on an access ACL then drops set-group-ID', () => {
    const setxattrIn = struct('fuse_setxattr_in');
    const stored: string[] = [];
    const chmods: Array<[string, number]> = [];
    const ops: Partial<FuseOps> = {
      posixAcl: true,
      getattr: (p) => (p === '/' ? stat({ mode: 0o40755, ino: 1 }) : stat({ mode: 0o102775, ino: 60 })),
      setxattr: (p, name, value, flags) => {
        stored.push(`${p} ${name} ${value.toString()} ${flags}`);
      },
      chmod: (p, mode) => {
        chmods.push([p, mode]);
      },
    };
    const lookup = (s: KernelSession): bigint => {
      s.dispatch(req(Op.LOOKUP, 50n, 1n, cstr('f')), 999);
      return get(replies()[0]!.payload, 0, entryOut, 'nodeid') as bigint;
    };
    const tail = (name: string, value: string) => Buffer.concat([cstr(name), Buffer.from(value)]);

    const s = session(ops, Init.SETXATTR_EXT);
    expect(Number(get(replies()[0]!.payload, 0, initOut, 'flags')) & Init.SETXATTR_EXT).toBeTruthy();
    expect(setxattrIn.size).toBe(16);
    const node = lookup(s);
    const x = (unique: bigint, name: string, value: string, setxattrFlags: number) =>
      req(Op.SETXATTR, unique, node, body(setxattrIn, { size: value.length, flags: 1, setxattr_flags: setxattrFlags }, tail(name, value)));
    s.dispatch(x(51n, 'system.posix_acl_access', 'acl-a', FUSE_SETXATTR_ACL_KILL_SGID), 999);
    s.dispatch(x(52n, 'system.posix_acl_access', 'acl-b', 0), 999); // a group member, or CAP_FSETID
    s.dispatch(x(53n, 'user.k', 'v', FUSE_SETXATTR_ACL_KILL_SGID), 999);
    expect(replies().map((r) => r.error)).toEqual([0, 0, 0]);
    expect(stored).toEqual(['/f system.posix_acl_access acl-a 1', '/f system.posix_acl_access acl-b 1', '/f user.k v 1']);
    expect(chmods).toEqual([['/f', 0o775]]);

    // not offered (an older kernel): the 8-byte form, no flags
    stored.length = 0;
    const old = session(ops);
    expect(Number(get(replies()[0]!.payload, 0, initOut, 'flags')) & Init.SETXATTR_EXT).toBe(0);
    const n2 = lookup(old);
    const short = Buffer.alloc(8);
    short.writeUInt32LE(3, 0);
    old.dispatch(req(Op.SETXATTR, 54n, n2, Buffer.concat([short, tail('user.k', 'old')])), 999);
    expect(replies().map((r) => r.error)).toEqual([0]);
    expect(stored).toEqual(['/f user.k old 0']);
  });

  it('READDIRPLUS gives attributes only for names the kernel holds no node for', () => {
    const direntplus = struct('fuse_direntplus');
    const dirent = struct('fuse_dirent');
    const openOut = struct('fuse_open_out');
    const s = session({
      getattr: (p) => {
        calls.push(p);
        return p === '/' ? stat({ mode: 0o40755, ino: 1 }) : stat({ ino: p === '/a' ? 70 : 71 });
      },
      readdir: () => [
        { name: '.', ino: 1, type: 4 },
        { name: '..', ino: 1, type: 4 },
        { name: 'a', ino: 70, type: 8 },
        { name: 'b', ino: 71, type: 8 },
      ],
    });
    replies();
    s.dispatch(req(Op.LOOKUP, 50n, 1n, cstr('a')), 999);
    s.dispatch(req(Op.OPENDIR, 51n, 1n, Buffer.alloc(struct('fuse_open_in').size)), 999);
    const opened = replies()[1]!.payload;
    const fh = get(opened, 0, openOut, 'fh') as bigint;
    // the kernel may keep the listing, across opens too (FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE)
    expect(Number(get(opened, 0, openOut, 'open_flags'))).toBe(8 | 2);
    calls.length = 0;
    s.dispatch(req(Op.READDIRPLUS, 52n, 1n, body(readIn, { fh, offset: 0n, size: 4096 })), 999);
    const [r] = replies();
    const seen: Array<[string, bigint, bigint]> = [];
    const direntAt = direntplus.fields.get('dirent')!.offset;
    for (let at = 0; at < r!.payload.length;) {
      const d = at + direntAt;
      const len = Number(get(r!.payload, d, dirent, 'namelen'));
      const name = r!.payload.subarray(d + dirent.size, d + dirent.size + len).toString();
      seen.push([name, get(r!.payload, at, entryOut, 'nodeid') as bigint, get(r!.payload, d, dirent, 'ino') as bigint]);
      at += Math.ceil((direntAt + dirent.size + len) / 8) * 8;
    }
    // '.' and '..' plain; 'a' plain too (looked up: the kernel has it), 'b' with a new node
    expect(seen.map(([n, id]) => [n, id > 0n])).toEqual([
      ['.', false],
      ['..', false],
      ['a', false],
      ['b', true],
    ]);
    expect(seen.map(([, , ino]) => ino)).toEqual([1n, 1n, 70n, 71n]);
    expect(calls).toEqual(['/b']);
    // an entry the kernel was given long ago (past half its timeout) is renewed
    s.nodes.atPath('/a')!.freshUntil = 0;
    calls.length = 0;
    s.dispatch(req(Op.READDIRPLUS, 53n, 1n, body(readIn, { fh, offset: 0n, size: 4096 })), 999);
    expect(replies()[0]!.error).toBe(0);
    expect(calls).toEqual(['/a']);
  });

  it('where the kernel may open directories alone: OPENDIR is ENOSYS, READDIR with handle 0 lists, resumes and starts afresh', () => {
    const dirent = struct('fuse_dirent');
    let names = ['.', '..', 'a', 'b', 'c'];
    const s = session(
      { getattr: () => stat({ mode: 0o40755, ino: 1 }), readdir: () => names.map((name) => ({ name, ino: 5, type: 8 })) },
      Init.NO_OPENDIR_SUPPORT,
    );
    expect(Number(get(replies()[0]!.payload, 0, initOut, 'flags')) & Init.NO_OPENDIR_SUPPORT).toBeTruthy();
    s.dispatch(req(Op.OPENDIR, 70n, 1n, Buffer.alloc(struct('fuse_open_in').size)), 999);
    expect(replies()[0]!.error).toBe(-E.ENOSYS);
    /** READDIR of the root with handle 0: [name, offset] of each entry. */
    const list = (unique: bigint, offset: bigint, size = 4096): Array<[string, bigint]> => {
      s.dispatch(req(Op.READDIR, unique, 1n, body(readIn, { fh: 0n, offset, size })), 999);
      const [r] = replies();
      expect(r!.error).toBe(0);
      const seen: Array<[string, bigint]> = [];
      for (let at = 0; at < r!.payload.length;) {
        const len = Number(get(r!.payload, at, dirent, 'namelen'));
        seen.push([r!.payload.subarray(at + dirent.size, at + dirent.size + len).toString(), get(r!.payload, at, dirent, 'off') as bigint]);
        at += Math.ceil((dirent.size + len) / 8) * 8;
      }
      return seen;
    };
    // two entries fit in 64 bytes: a reader goes on from the last offset it got
    const first = list(71n, 0n, 64);
    expect(first.map(([n]) => n)).toEqual(['.', '..']);
    const rest = list(72n, first[1]![1]);
    expect(rest.map(([n]) => n)).toEqual(['a', 'b', 'c']);
    // no RELEASEDIR will come: the listing is let go once a reader is at its end
    const root = s.nodes.get(1)!;
    expect(s.listingOf(root).names).not.toBeNull();
    expect(list(77n, rest[2]![1])).toEqual([]);
    expect(s.listingOf(root).names).toBeNull();
    // offset 0 reads the directory again; a reader resuming after 'a' gets what is there past it
    names = ['.', '..', 'a', 'c', 'd'];
    const again = list(73n, 0n);
    expect(again.map(([n]) => n)).toEqual(['.', '..', 'a', 'c', 'd']);
    expect(list(74n, again[2]![1]).map(([n]) => n)).toEqual(['c', 'd']);
    // a handle the kernel never got is still refused
    s.dispatch(req(Op.READDIR, 75n, 1n, body(readIn, { fh: 9n, offset: 0n, size: 4096 })), 999);
    expect(replies()[0]!.error).toBe(-E.EBADF);
    // a filesystem that keeps directory handles is asked at every open, offered or not
    const withHandles = session({ getattr: () => stat({ mode: 0o40755 }), opendir: () => 4, readdir: () => names }, Init.NO_OPENDIR_SUPPORT);
    expect(Number(get(replies()[0]!.payload, 0, initOut, 'flags')) & Init.NO_OPENDIR_SUPPORT).toBe(0);
    withHandles.dispatch(req(Op.OPENDIR, 76n, 1n, Buffer.alloc(struct('fuse_open_in').size)), 999);
    expect(replies()[0]!.error).toBe(0);
  });

  it('OPEN keeps the cached pages of a file unchanged since its last open, and of no other', () => {
    const openIn = struct('fuse_open_in');
    const openOut = struct('fuse_open_out');
    let mtimeMs = 2_000;
    const s = session({ getattr: () => stat(), fgetattr: () => stat({ mtimeMs }), open: () => 9, release: () => {} });
    replies();
    s.dispatch(req(Op.LOOKUP, 60n, 1n, cstr('f')), 999);
    const node = get(replies()[0]!.payload, 0, entryOut, 'nodeid') as bigint;
    const open = (unique: bigint, flags: number): number => {
      s.dispatch(req(Op.OPEN, unique, node, body(openIn, { flags })), 999);
      s.dispatch(req(Op.RELEASE, unique + 100n, node, body(struct('fuse_release_in'), { fh: 9n })), 999);
      return Number(get(replies()[0]!.payload, 0, openOut, 'open_flags'));
    };
    const [KEEP, DIRECT] = [2, 1];
    expect(open(61n, 0) & KEEP).toBe(0); // first open: nothing known of the pages
    expect(open(62n, 0) & KEEP).toBe(KEEP); // unchanged
    mtimeMs = 2_500;
    expect(open(63n, 2) & KEEP).toBe(0); // changed since
    expect(open(64n, 0) & KEEP).toBe(KEEP);
    s.directIo = true;
    expect(open(65n, 1)).toBe(DIRECT); // a lone write-only open: direct, its writes bypass the pages
    expect(open(66n, 0) & KEEP).toBe(0);
  });

  it('LISTXATTR passes the caller; a size query gets the size', () => {
    const s = session({ getattr: () => stat(), listxattr: (_p, caller) => [`user.uid${caller?.uid}`] });
    replies();
    s.dispatch(req(Op.LISTXATTR, 40n, 1n, body(getxattrIn, { size: 0 })), 999);
    s.dispatch(req(Op.LISTXATTR, 41n, 1n, body(getxattrIn, { size: 64 })), 999);
    const [q, v] = replies();
    expect(q!.payload.readUInt32LE(0)).toBe('user.uid1000\0'.length);
    expect(v!.payload.toString()).toBe('user.uid1000\0');
  });

  it('INTERRUPT of a pending read-only request answers EINTR at once and drops the late result', async () => {
    let settle: (st: FuseStat) => void = () => {};
    const s = session({
      getattr: (p) =>
        p === '/'
          ? new Promise<FuseStat>((res) => {
              settle = res;
            })
          : stat(),
    });
    replies();
    s.dispatch(req(Op.GETATTR, 50n, 1n, body(getattrIn, {})), 999);
    expect(replies()).toEqual([]);
    s.dispatch(req(Op.INTERRUPT, 51n, 0n, body(interruptIn, { unique: 50n })), 999);
    expect(replies()).toMatchObject([{ unique: 50n, error: -E.EINTR }]);
    settle(stat({ mode: 0o40755, ino: 1 }));
    await new Promise((r) => setTimeout(r, 10));
    expect(replies()).toEqual([]); // one answer per request
    expect(s.interrupts.size).toBe(0);
  });
});
