#!/usr/bin/env node
// Does moving block crypto off the JS thread pay? The engine seals and opens
// 4 KiB blocks with AES-256-GCM (Node's crypto, OpenSSL with AES-NI) inside a
// synchronous FUSE operation. This measures one 128 KiB request (32 blocks,
// what dd and readahead send) sealed (a) on the JS thread, (b) split over N
// worker threads that share the buffers (SharedArrayBuffer) while the JS
// thread waits on Atomics (what a synchronous operation would have to do).
//   node bench/bridge-crypto-offload.mjs [ROUNDS]
import { Worker } from 'node:worker_threads';
import { createCipheriv, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';

const ROUNDS = Number(process.argv[2] ?? 2000);
const BLOCK = 4096;
const BLOCKS = 32;
const key = randomBytes(32);

function sealRange(plain, out, from, to) {
  const nonce = Buffer.alloc(12);
  for (let b = from; b < to; b++) {
    nonce.writeUInt32LE(b, 0);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    const at = b * (BLOCK + 16);
    c.update(plain.subarray(b * BLOCK, (b + 1) * BLOCK)).copy(out, at);
    c.final();
    c.getAuthTag().copy(out, at + BLOCK);
  }
}

const plainSab = new SharedArrayBuffer(BLOCK * BLOCKS);
const outSab = new SharedArrayBuffer((BLOCK + 16) * BLOCKS);
const plain = Buffer.from(plainSab);
const out = Buffer.from(outSab);
randomBytes(BLOCK * BLOCKS).copy(plain);

function time(fn, n) {
  for (let i = 0; i < Math.min(200, n); i++) fn();
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t) / n / 1000;
}

sealRange(plain, out, 0, BLOCKS);
const expected = Buffer.from(out);
console.log(
  `cores: ${availableParallelism()}, load ${(await import('node:os'))
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);

function pool(n) {
  const ctl = new Int32Array(new SharedArrayBuffer(4 * (n + 1)));
  const code = `
    const { workerData } = require('node:worker_threads');
    const { createCipheriv } = require('node:crypto');
    const { ctl, idx, n, key, plainSab, outSab } = workerData;
    const plain = Buffer.from(plainSab), out = Buffer.from(outSab), k = Buffer.from(key);
    const BLOCK = ${BLOCK}, BLOCKS = ${BLOCKS};
    const nonce = Buffer.alloc(12);
    let seen = 0;
    for (;;) {
      Atomics.wait(ctl, 0, seen);
      seen = Atomics.load(ctl, 0);
      if (seen < 0) break;
      const per = Math.ceil(BLOCKS / n), from = idx * per, to = Math.min(BLOCKS, from + per);
      for (let b = from; b < to; b++) {
        nonce.writeUInt32LE(b, 0);
        const c = createCipheriv('aes-256-gcm', k, nonce);
        const at = b * (BLOCK + 16);
        c.update(plain.subarray(b * BLOCK, (b + 1) * BLOCK)).copy(out, at);
        c.final();
        c.getAuthTag().copy(out, at + BLOCK);
      }
      Atomics.store(ctl, idx + 1, seen);
      Atomics.notify(ctl, idx + 1);
    }`;
  const workers = Array.from(
    { length: n },
    (_, idx) => new Worker(code, { eval: true, workerData: { ctl, idx, n, key: new Uint8Array(key), plainSab, outSab } }),
  );
  let gen = 0;
  const run = () => {
    gen++;
    Atomics.store(ctl, 0, gen);
    Atomics.notify(ctl, 0);
    for (let i = 1; i <= n; i++) while (Atomics.load(ctl, i) !== gen) Atomics.wait(ctl, i, Atomics.load(ctl, i), 50);
  };
  const stop = () => {
    Atomics.store(ctl, 0, -1);
    Atomics.notify(ctl, 0);
    return Promise.all(workers.map((w) => w.terminate()));
  };
  return { run, stop };
}

const variants = [
  ['JS thread', { run: () => sealRange(plain, out, 0, BLOCKS), stop: async () => {} }],
  ['1 worker thread', pool(1)],
  ['2 worker threads', pool(2)],
];
await new Promise((r) => setTimeout(r, 200)); // workers started
for (const [name, v] of variants) {
  out.fill(0);
  v.run();
  if (!out.equals(expected)) throw new Error(`${name}: sealed something else`);
}
const results = new Map(variants.map(([name]) => [name, []]));
for (let trial = 0; trial < 5; trial++) {
  for (const [name, v] of variants) results.get(name).push(time(v.run, ROUNDS));
}
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
for (const [name, ts] of results) {
  const m = med(ts);
  console.log(`| ${name} | ${m.toFixed(0)} us | ${(128 / 1024 / (m / 1e6)).toFixed(0)} MB/s | ${ts.map((t) => t.toFixed(0)).join(' ')} |`);
}
await Promise.all(variants.map(([, v]) => v.stop()));
