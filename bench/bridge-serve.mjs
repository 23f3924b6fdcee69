#!/usr/bin/env node
// Serves a filesystem through a chosen FUSE bridge until unmounted or signalled:
//   node bench/bridge-serve.mjs BRIDGE FS LOWER MOUNTPOINT
// BRIDGE: fuse-native | kernel;  FS: passthrough (no crypto: measures the bridge
// alone) | homecrypt (the engine; LOWER is initialised with a fresh random key
// when it holds no volume yet). Prints "ready" on stdout once mounted; on exit
// prints the kernel bridge's request counts to stderr when HOMECRYPT_BRIDGE_STATS
// is set. Runs from dist/ (build first). Used by bench/bridges.sh and
// test/fuse/kernel/.
import {
  accessSync,
  chmodSync,
  closeSync,
  constants as fsc,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  renameSync,
  rmdirSync,
  statfsSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeSync,
  existsSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';

const [bridge, kind, lower, mnt] = process.argv.slice(2);
if (!bridge || !kind || !lower || !mnt) {
  process.stderr.write('usage: bridge-serve.mjs fuse-native|kernel passthrough|homecrypt LOWER MOUNTPOINT\n');
  process.exit(2);
}
const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);
const { fuseStatfsOf } = await imp('fuse/bridge.js');

function toStat(st) {
  return {
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    nlink: st.nlink,
    ino: st.ino,
    rdev: st.rdev,
    blksize: st.blksize,
    blocks: st.blocks,
    atimeMs: st.atimeMs,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
  };
}

/**
 * Test hook (test/fuse/kernel/killed-caller.test.ts): with HOMECRYPT_TEST_STALL set
 * to a path, an fsync waits while that path exists (a device that takes its
 * time to flush), after creating PATH.hit to say it is waiting. Only this
 * bench/test script has it; the product's filesystems do not.
 */
const STALL = process.env.HOMECRYPT_TEST_STALL;
function stalled(fn) {
  if (!STALL || !existsSync(STALL)) return fn();
  writeFileSync(`${STALL}.hit`, '');
  return new Promise((done, failed) => {
    const t = setInterval(() => {
      if (existsSync(STALL)) return;
      clearInterval(t);
      try {
        done(fn());
      } catch (e) {
        failed(e);
      }
    }, 20);
  });
}

/** A synchronous passthrough to `root`, the cheapest FuseOps there is. */
function passthrough(root) {
  const at = (p) => (p === '/' ? root : root + p);
  const fds = new Map();
  return {
    getattr: (p) => toStat(lstatSync(at(p))),
    fgetattr: (p, fh) => toStat(fstatSync(fh)),
    access: (p, m) => accessSync(at(p), m),
    statfs: () => fuseStatfsOf(statfsSync(root)),
    readdir: (p) => ['.', '..', ...readdirSync(at(p))],
    open: (p, flags) => {
      const fd = openSync(at(p), flags & 3);
      fds.set(fd, p);
      return fd;
    },
    create: (p, mode) => {
      const fd = openSync(at(p), fsc.O_CREAT | fsc.O_EXCL | fsc.O_RDWR, mode);
      fds.set(fd, p);
      return fd;
    },
    read: (p, fh, buf, off) => readSync(fh, buf, 0, buf.length, off),
    write: (p, fh, buf, off) => writeSync(fh, buf, 0, buf.length, off),
    fsync: (p, ds, fh) => stalled(() => (ds ? fdatasyncSync(fh) : fsyncSync(fh))),
    release: (p, fh) => {
      fds.delete(fh);
      closeSync(fh);
    },
    truncate: (p, size) => truncateSync(at(p), size),
    ftruncate: (p, fh, size) => ftruncateSync(fh, size),
    // null: that time kept (the kernel bridge's UTIME_OMIT); Node's lutimes cannot omit one, so it is read first
    utimens: (p, a, m) => {
      const cur = a === null || m === null ? lstatSync(at(p)) : null;
      lutimesSync(at(p), (a ?? cur.atimeMs) / 1000, (m ?? cur.mtimeMs) / 1000);
    },
    chmod: (p, mode) => chmodSync(at(p), mode),
    chown: (p, u, g) => lchownSync(at(p), u, g),
    readlink: (p) => readlinkSync(at(p)),
    symlink: (t, p) => symlinkSync(t, at(p)),
    link: (a, b) => linkSync(at(a), at(b)),
    mkdir: (p, mode) => mkdirSync(at(p), mode),
    rmdir: (p) => rmdirSync(at(p)),
    unlink: (p) => unlinkSync(at(p)),
    rename: (a, b) => renameSync(at(a), at(b)),
  };
}

let afterReply;
async function homecrypt(root) {
  const vol = await imp('engine/volume.js');
  const { EncryptedFilesystem } = await imp('engine/filesystem.js');
  let key;
  const keyFile = `${root}.key`; // beside the lower dir, for bench re-use only (a throwaway key)
  const { readFileSync } = await import('node:fs');
  if (!existsSync(`${root}/${(await imp('format/volume-config.js')).VOLUME_CONFIG_NAME}`)) {
    vol.prepareLowerDir(root);
    key = randomBytes(32);
    vol.writeNewVolumeConfig(root, key, { keystore: null });
    writeFileSync(keyFile, key, { mode: 0o600 });
  } else {
    key = readFileSync(keyFile);
  }
  const v = vol.openVolume(root, [key]);
  // the kernel bridge runs the engine's after-reply work (as `homecrypt mount` does);
  // HOMECRYPT_BRIDGE_INLINE_WRITES=1 keeps every lower write before its reply
  const { AfterReply } = await imp('engine/after-reply.js');
  afterReply = bridge === 'kernel' && !process.env.HOMECRYPT_BRIDGE_INLINE_WRITES ? new AfterReply() : undefined;
  const fs = new EncryptedFilesystem({ lowerRoot: v.lowerRoot, format: v.format, log: (l) => process.stderr.write(`${l}\n`), afterReply });
  return { ops: fs.ops(), close: () => fs.closeAll() };
}

const target = kind === 'homecrypt' ? await homecrypt(lower) : { ops: passthrough(lower), close() {} };
const timeout = process.env.HOMECRYPT_BRIDGE_TIMEOUT ? Number(process.env.HOMECRYPT_BRIDGE_TIMEOUT) : 1;
const options = {
  fsname: `${kind}:${lower}`,
  subtype: kind,
  attrTimeout: timeout,
  entryTimeout: timeout,
  negativeTimeout: timeout,
  allowOther: !!process.env.HOMECRYPT_BRIDGE_ALLOW_OTHER,
  onUnexpectedError: (op, p, e) => process.stderr.write(`${op} ${p}: ${e?.stack ?? e}\n`),
  afterReply: afterReply && (() => afterReply.run()),
};
let mount;
if (bridge === 'kernel') {
  const { mountKernel } = await imp('fuse/kernel/kernel-bridge.js');
  const readers = process.env.HOMECRYPT_BRIDGE_READERS ? Number(process.env.HOMECRYPT_BRIDGE_READERS) : undefined;
  const readdirPlus = process.env.HOMECRYPT_BRIDGE_NOPLUS ? false : undefined;
  const spinUs = process.env.HOMECRYPT_BRIDGE_SPIN ? Number(process.env.HOMECRYPT_BRIDGE_SPIN) : undefined;
  const writebackCache = !!process.env.HOMECRYPT_BRIDGE_WRITEBACK;
  const directWriters = process.env.HOMECRYPT_BRIDGE_NODIRECT ? false : undefined;
  mount = await mountKernel(mnt, target.ops, options, { readers, readdirPlus, spinUs, writebackCache, directWriters });
} else {
  const { mountFuseNative } = await imp('fuse/fuse-native-bridge.js');
  mount = await mountFuseNative(mnt, target.ops, options);
}
process.stdout.write('ready\n');

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  try {
    await mount.unmount();
  } catch {
    try {
      await mount.unmount({ lazy: true });
    } catch {
      /* gone */
    }
  }
  finish();
};
function finish() {
  target.close();
  if (process.env.HOMECRYPT_BRIDGE_STATS && mount.session) {
    process.stderr.write(`${JSON.stringify(Object.fromEntries(mount.session.counts))}\n`);
  }
  process.exit(0);
}
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => void stop());
if (mount.ended)
  mount.ended.then(() => {
    if (!stopping) finish();
  });
else {
  const { isFuseMountedAt } = await imp('os/mounts.js');
  const t = setInterval(() => {
    if (!isFuseMountedAt(mnt)) {
      clearInterval(t);
      void stop();
    }
  }, 300);
}
