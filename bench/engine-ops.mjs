#!/usr/bin/env node
// The engine alone, without FUSE (issue 19): what home.sh's untar and md5
// rows ask of src/engine per file, called directly on EncryptedFilesystem's
// operations in one process, against the same lower system calls made on a
// plain directory with node:fs ("plain"). The difference is the engine's own
// per-file cost (format, crypto, records, its extra lower calls); the rest of
// a row is FUSE round trips and the workload itself.
//   untar: mkdir of every folder, then per file create (with its reply's
//          attributes, as the kernel bridge asks), 10,240-byte writes (as
//          GNU tar's records), utimens of the mtime, chown, chmod, release
//   md5:   per file open, 128 KiB reads to the end, release
// The tree is /usr/lib/python3.11 (regular files only), read into memory first.
// Each round untars into a new folder and reads it back; the first rounds
// include V8's warm-up. A fresh volume with a throwaway key in a temp folder,
// removed at the end. Runs from dist/ (build first).
// The work folder is under TMPDIR (default /tmp). On ext4, creates made in the
// minutes after many deletions measure the inode allocator (it passes over
// inodes freed in the last 60-300 s: plain's create here went from 9 to
// 170-240 us a file): run it on a filesystem without recent mass deletions,
// and note that its own cleanup deletes ~2,800 files a round.
// Usage: node bench/engine-ops.mjs [ROUNDS]   (default 5; any user; writes bench/results/engine-ops-*.md)
import {
  closeSync,
  chmodSync,
  writeFileSync,
  fchownSync,
  futimesSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  writeSync,
  constants as fsc,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';

const ROUNDS = Number(process.argv[2] ?? 5);
const SRC = '/usr/lib/python3.11';
const dist = new URL('../dist/', import.meta.url);
const vol = await import(new URL('engine/volume.js', dist).href);
const { EncryptedFilesystem } = await import(new URL('engine/filesystem.js', dist).href);

const files = [];
const dirs = [];
(function walk(abs, rel) {
  for (const e of readdirSync(abs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.isDirectory()) {
      dirs.push(`${rel}/${e.name}`);
      walk(`${abs}/${e.name}`, `${rel}/${e.name}`);
    } else if (e.isFile()) files.push(`${rel}/${e.name}`);
  }
})(SRC, '');
const data = files.map((f) => readFileSync(SRC + f));
const bytes = data.reduce((n, d) => n + d.length, 0);

const work = mkdtempSync(`${tmpdir()}/hc-engine-ops-`);
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const lowerRoot = `${work}/lower`;
mkdirSync(lowerRoot);
vol.prepareLowerDir(lowerRoot);
const key = randomBytes(32);
vol.writeNewVolumeConfig(lowerRoot, key, { keystore: null });
const v = vol.openVolume(lowerRoot, [key]);
const ops = new EncryptedFilesystem({ lowerRoot: v.lowerRoot, format: v.format, log: () => {} }).ops();
const plainRoot = `${work}/plain`;
mkdirSync(plainRoot);

const now = () => Number(process.hrtime.bigint()) / 1e3; // µs
const settle = async (x) => (x && typeof x.then === 'function' ? await x : x);
const READ = 131072;
const buf = Buffer.alloc(READ);
const RECORD = 10240;
const MTIME = 1e12; // ms

// each variant: the same steps, timed per step into T
const engine = {
  mkdir: (p) => settle(ops.mkdir(p, 0o755)),
  // as the kernel bridge's CREATE: the handle and the attributes of its reply
  create: async (p) => {
    if (ops.createWithAttr) return (await settle(ops.createWithAttr(p, 0o644))).fh;
    const fh = await settle(ops.create(p, 0o644));
    await settle(ops.fgetattr(p, fh));
    return fh;
  },
  write: (p, fh, b, at) => settle(ops.write(p, fh, b, at)),
  utimens: (p, fh) => settle(ops.utimens(p, null, MTIME, fh)),
  chown: (p) => settle(ops.chown(p, process.getuid(), process.getgid())),
  chmod: (p) => settle(ops.chmod(p, 0o644)),
  release: (p, fh) => settle(ops.release(p, fh)),
  open: async (p) => (await settle(ops.openWithAttr(p, fsc.O_RDONLY))).fh,
  read: (p, fh, at) => settle(ops.read(p, fh, buf, at)),
};
const plain = {
  mkdir: (p) => mkdirSync(plainRoot + p, 0o755),
  create: (p) => openSync(plainRoot + p, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o644),
  write: (_p, fd, b, at) => writeSync(fd, b, 0, b.length, at),
  utimens: (_p, fd) => futimesSync(fd, MTIME / 1000, MTIME / 1000),
  chown: (_p, fd) => fchownSync(fd, process.getuid(), process.getgid()),
  chmod: (p) => chmodSync(plainRoot + p, 0o644),
  release: (_p, fd) => closeSync(fd),
  open: (p) => openSync(plainRoot + p, fsc.O_RDONLY),
  read: (_p, fd, at) => readSync(fd, buf, 0, READ, at),
};

async function round(x, top, T) {
  let t = now();
  const lap = (k) => {
    const n = now();
    T[k] = (T[k] ?? 0) + n - t;
    t = n;
  };
  await x.mkdir(top);
  for (const d of dirs) await x.mkdir(top + d);
  lap('mkdir');
  for (let i = 0; i < files.length; i++) {
    const p = top + files[i];
    t = now();
    const fh = await x.create(p);
    lap('create');
    for (let at = 0; at < data[i].length; at += RECORD) await x.write(p, fh, data[i].subarray(at, at + RECORD), at);
    lap('write');
    await x.utimens(p, fh);
    lap('utimens');
    await x.chown(p, fh);
    lap('chown');
    await x.chmod(p, fh);
    lap('chmod');
    await x.release(p, fh);
    lap('release');
  }
  let got = 0;
  for (let i = 0; i < files.length; i++) {
    const p = top + files[i];
    t = now();
    const fh = await x.open(p);
    lap('open');
    for (let at = 0; ; at += READ) {
      const n = await x.read(p, fh, at);
      got += n;
      if (n < READ) break;
    }
    lap('read');
    await x.release(p, fh);
    lap('close');
  }
  if (got !== bytes) throw new Error(`read back ${got} bytes of ${bytes}`);
}

const STEPS = ['create', 'write', 'utimens', 'chown', 'chmod', 'release', 'open', 'read', 'close'];
const rows = { engine: [], plain: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, x] of [
    ['engine', engine],
    ['plain', plain],
  ]) {
    const T = {};
    await round(x, `/r${r}`, T);
    rows[name].push(T);
  }
}
const per = (us) => (us / files.length).toFixed(1);
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const out = [];
out.push(
  `bench/engine-ops.mjs, ${new Date().toISOString().slice(0, 16)}Z, node ${process.version}, ${ROUNDS} rounds; ${files.length} files, ${(bytes / 1e6).toFixed(1)} MB of ${SRC}.`,
);
out.push('µs per file, median of the rounds after the first (the first includes V8 warm-up); the first round in brackets.');
out.push('');
out.push('| step | engine | plain | engine − plain |');
out.push('|---|---|---|---|');
for (const s of [...STEPS, 'untar', 'md5']) {
  const pick = (T) => (s === 'untar' ? STEPS.slice(0, 6).reduce((n, k) => n + T[k], 0) : s === 'md5' ? T.open + T.read + T.close : T[s]);
  const m = (name) => median(rows[name].slice(ROUNDS > 1 ? 1 : 0).map(pick));
  const e = m('engine');
  const p = m('plain');
  out.push(`| ${s} | ${per(e)} (${per(pick(rows.engine[0]))}) | ${per(p)} (${per(pick(rows.plain[0]))}) | ${per(e - p)} |`);
}
const text = `${out.join('\n')}\n`;
process.stdout.write(text);
const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 13);
const results = new URL(`results/engine-ops-${stamp}Z.md`, import.meta.url);
writeFileSync(results, text);
process.stderr.write(`(saved to bench/results/engine-ops-${stamp}Z.md)\n`);
