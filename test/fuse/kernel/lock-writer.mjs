// One of two processes writing unaligned byte ranges of the same file on the
// mount under a lock, checking each time that the file still equals a model
// copy kept on a plain filesystem (updated in the same critical section).
//   node lock-writer.mjs FILE MODEL fcntl|flock ITERATIONS SEED
// Exits 0 when every read matched, 1 with a message at the first mismatch.
import koffi from 'koffi';
import { openSync, readSync, writeSync, fstatSync } from 'node:fs';

const [file, model, kind, iterations, seed] = process.argv.slice(2);
const libc = koffi.load('libc.so.6');
const flock = libc.func('int flock(int fd, int op)');
const fcntl = libc.func('int fcntl(int fd, int cmd, ...)');
const F_SETLKW = 7,
  F_WRLCK = 1,
  F_UNLCK = 2,
  LOCK_EX = 2,
  LOCK_UN = 8;

function posixLock(fd, type) {
  const fl = Buffer.alloc(32); // struct flock: l_type, l_whence, l_start, l_len (0 = to EOF), l_pid
  fl.writeInt16LE(type, 0);
  if (fcntl(fd, F_SETLKW, 'void *', fl) !== 0) throw new Error(`fcntl lock: errno ${koffi.errno()}`);
}
const lock = (fd) => (kind === 'flock' ? flock(fd, LOCK_EX) : posixLock(fd, F_WRLCK));
const unlock = (fd) => (kind === 'flock' ? flock(fd, LOCK_UN) : posixLock(fd, F_UNLCK));

let state = Number(seed) >>> 0;
const rand = (n) => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return state % n;
};

function readAll(fd) {
  const size = fstatSync(fd).size;
  const b = Buffer.alloc(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, b, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  return b.subarray(0, got);
}

const fd = openSync(file, 'r+');
const md = openSync(model, 'r+');
for (let i = 0; i < Number(iterations); i++) {
  lock(fd);
  try {
    const a = readAll(fd);
    const b = readAll(md);
    if (!a.equals(b)) {
      let at = 0;
      while (at < Math.min(a.length, b.length) && a[at] === b[at]) at++;
      process.stderr.write(`${kind} iteration ${i}: file differs from model at byte ${at} (sizes ${a.length}/${b.length})\n`);
      process.exit(1);
    }
    const off = rand(70000) + 1; // unaligned, sometimes past the end (a hole)
    const len = rand(9000) + 1;
    const data = Buffer.alloc(len, (Number(seed) + i) & 0xff);
    for (let k = 0; k < len; k += 97) data[k] = rand(256);
    writeSync(fd, data, 0, len, off);
    writeSync(md, data, 0, len, off);
  } finally {
    unlock(fd);
  }
}
process.exit(0);
