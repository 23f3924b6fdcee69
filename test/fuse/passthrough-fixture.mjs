// A small passthrough filesystem over the FUSE bridge (dist/fuse), for
// test/fuse/bridge.test.ts. Special names exercise the bridge's contract:
// /boom throws a plain Error (→ EIO), /denied throws FuseError(EACCES),
// /slow answers through a Promise, /.stats reports what the bridge delivered.
import * as fs from 'node:fs';
import { mountFuse, FuseError } from '../../dist/fuse/index.js';

const [lower, mnt] = process.argv.slice(2);
const L = (p) => lower + p;
const stats = { maxWrite: 0, utimens: [], unexpected: 0 };
const xattrs = new Map();
const st = (s) => ({
  mode: s.mode,
  uid: s.uid,
  gid: s.gid,
  size: s.size,
  nlink: s.nlink,
  ino: s.ino,
  atimeMs: s.atimeMs,
  mtimeMs: s.mtimeMs,
  ctimeMs: s.ctimeMs,
});
const fds = new Map();
let n = 1;
// fixed size, padded: the kernel caches the size it saw first
const statsBuf = () => Buffer.from(JSON.stringify(stats).padEnd(4096, ' '));
const ops = {
  getattr(p) {
    if (p === '/boom') throw new Error('a bug');
    if (p === '/denied') throw new FuseError(13);
    if (p === '/slow') return new Promise((res) => setTimeout(() => res(st(fs.lstatSync(lower))), 20));
    if (p === '/.stats') return { ...st(fs.lstatSync(lower)), mode: 0o100644, size: statsBuf().length };
    return st(fs.lstatSync(L(p)));
  },
  fgetattr(p, fh) {
    return st(fs.fstatSync(fds.get(fh)));
  },
  readdir(p) {
    return ['.', '..', ...fs.readdirSync(L(p))];
  },
  open(p, f) {
    if (p === '/.stats') {
      fds.set(n, -1);
      return n++;
    }
    const fd = fs.openSync(L(p), f & 3);
    fds.set(n, fd);
    return n++;
  },
  create(p, m) {
    const fd = fs.openSync(L(p), 'wx+', m);
    fds.set(n, fd);
    return n++;
  },
  read(p, fh, buf, off) {
    if (p === '/.stats') return statsBuf().copy(buf, 0, off);
    return fs.readSync(fds.get(fh), buf, 0, buf.length, off);
  },
  async write(p, fh, buf, off) {
    stats.maxWrite = Math.max(stats.maxWrite, buf.length);
    return fs.writeSync(fds.get(fh), buf, 0, buf.length, off);
  },
  release(p, fh) {
    const fd = fds.get(fh);
    fds.delete(fh);
    if (fd >= 0) fs.closeSync(fd);
  },
  truncate(p, s) {
    fs.truncateSync(L(p), s);
  },
  utimens(p, a, m) {
    stats.utimens.push([a, m]);
    // null: that time is kept (UTIME_OMIT); Node's utimes cannot omit one, so it is read first
    const cur = a === null || m === null ? fs.statSync(L(p)) : null;
    fs.utimesSync(L(p), (a ?? cur.atimeMs) / 1000, (m ?? cur.mtimeMs) / 1000);
  },
  unlink(p) {
    fs.unlinkSync(L(p));
  },
  rename(a, b) {
    fs.renameSync(L(a), L(b));
  },
  setxattr(p, name, value) {
    xattrs.set(`${p}\0${name}`, Buffer.from(value));
  },
  getxattr(p, name) {
    const v = xattrs.get(`${p}\0${name}`);
    if (!v) throw new FuseError(61);
    return v;
  },
  listxattr(p) {
    return [...xattrs.keys()].filter((k) => k.startsWith(`${p}\0`)).map((k) => k.split('\0')[1]);
  },
};
const m = await mountFuse(mnt, ops, {
  bridge: 'fuse-native',
  fsname: `bridge-test:${lower}`,
  subtype: 'bridgetest',
  onUnexpectedError: () => {
    stats.unexpected++;
  },
});
process.stdout.write('ready\n');
process.on('SIGTERM', async () => {
  await m.unmount();
  process.exit(0);
});
