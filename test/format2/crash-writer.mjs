// The writer of the crash test (crash.test.ts): appends to and overwrites
// files under a mount in a loop, fsyncing some writes, until the mount dies.
// Each write is logged before it is issued and each fsync after it returned,
// so the checker knows what may have landed and what must have.
// Usage: node crash-writer.mjs, then one line "MNT LOG SEED MAX FILE..." per run
// on stdin (MAX: the largest file size the writer makes)
import { closeSync, fstatSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { createCipheriv, createHash } from 'node:crypto';
import { join } from 'node:path';

/** The bytes of write `id`: a keystream, so each write's bytes are its own. */
export function dataOf(id, len) {
  const key = createHash('sha256').update(id).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(len));
}

/** One run: writes until the mount dies (ENOTCONN). */
function run(mnt, logPath, seedArg, MAX_SIZE, names) {
  let s = Number(seedArg.replace('.', '')) >>> 0;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const log = openSync(logPath, 'a');
  const fds = [];
  try {
    for (const n of names) fds.push(openSync(join(mnt, n), 'r+'));
    const sizes = fds.map((fd) => fstatSync(fd).size);
    for (let op = 0; ; op++) {
      const i = Math.floor(rnd() * fds.length);
      // large writes half the time: the daemon then spends much of its time in the lower pwrite
      let len = Math.min(MAX_SIZE, 1 + Math.floor(rnd() * (rnd() < 0.5 ? 300000 : 6000)));
      const append = sizes[i] + len <= MAX_SIZE && (sizes[i] < 4096 || rnd() < 0.5);
      let off = append ? sizes[i] : Math.floor(rnd() * Math.max(1, Math.min(sizes[i], MAX_SIZE - len)));
      if (!append && sizes[i] >= 4096 && rnd() < 0.4) {
        // whole 4 KiB blocks in place (a database's pages, fio): the redo-record path
        const blocks = Math.floor(sizes[i] / 4096);
        off = 4096 * Math.floor(rnd() * blocks);
        len = 4096 * Math.min(blocks - off / 4096, 1 + Math.floor(rnd() * 4));
      }
      const id = `${seedArg}-${op}`;
      writeSync(log, `op ${id} ${i} ${off} ${len}\n`);
      const data = dataOf(id, len);
      for (let done = 0; done < len;) done += writeSync(fds[i], data, done, len - done, off + done);
      sizes[i] = Math.max(sizes[i], off + len);
      if (rnd() < 0.25) {
        fsyncSync(fds[i]);
        writeSync(log, `fsync ${i}\n`);
      }
    }
  } catch {
    // the mount died (ENOTCONN): that is the point
  } finally {
    for (const fd of fds)
      try {
        closeSync(fd);
      } catch {
        /* the mount is gone */
      }
    closeSync(log);
  }
}

// One process for all the runs of a lane (a node start costs ~1 s on a
// loaded machine): each line "MNT LOG SEED FILE..." on stdin is one run,
// answered by "stopped" on stdout when the mount has died.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  let buf = '';
  process.stdin.on('data', (d) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const [mnt, logPath, seed, max, ...names] = buf.slice(0, nl).split(' ');
      buf = buf.slice(nl + 1);
      run(mnt, logPath, seed, Number(max), names);
      process.stdout.write('stopped\n');
    }
  });
}
