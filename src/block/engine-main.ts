// The userspace engine daemon: `node engine-main.js` started detached by
// `block open`. It reads its configuration and the volume key from stdin (a
// pipe; never argv or the environment), serves the decrypted segment through
// FUSE, says "ready" on fd 3, and runs until SIGTERM or its FUSE mount goes.
import { closeSync, readSync, writeSync } from 'node:fs';
import { Device } from './device.js';
import { VolumeFile } from './volume-file.js';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { VOLUME_FILE_NAME, volumeFuseOps } from './fuse-ops.js';
import type { FuseMount } from '../fuse/index.js';
import { mountKernel } from '../fuse/kernel/kernel-bridge.js';
import { makeUndumpable } from '../os/no-dump.js';
import { ExitCode } from '../errors.js';

export interface EngineConfig {
  name: string;
  source: string;
  segmentOffset: number;
  size: number;
  sectorSize: number;
  ivTweak: number;
  keyBytes: number;
  fuseDir: string;
}

function readAllStdin(): Buffer {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw e;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  buf.fill(0);
  return Buffer.concat(chunks);
}

/** One status line to `block open` on fd 3, then closes it (synchronously: the error path exits right after). */
function say(line: string): void {
  try {
    writeSync(3, `${line}\n`);
    closeSync(3);
  } catch {
    /* parent gone */
  }
}

async function main(): Promise<void> {
  makeUndumpable();
  const input = readAllStdin();
  const nl = input.indexOf(0x0a);
  const config = JSON.parse(input.subarray(0, nl).toString('utf8')) as EngineConfig;
  const key = Buffer.from(input.subarray(nl + 1, nl + 1 + config.keyBytes));
  input.fill(0);
  if (key.length !== config.keyBytes) throw new Error('short key on stdin');
  if (process.argv[2] !== config.fuseDir) throw new Error('the FUSE directory in argv differs from the configuration');

  const dev = Device.open(config.source, true);
  const vf = new VolumeFile(dev, config.segmentOffset, config.size, key, config.sectorSize, config.ivTweak);
  const log = (msg: string) => process.stderr.write(`${new Date().toISOString()} ${config.name}: ${msg}\n`);
  let fuse: FuseMount | null = null;
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`stopping (${why})`);
    // with the writeback cache the kernel may still hold dirty pages of the
    // volume file (a loop device detached lazily, say): fsync it through the
    // mount first, from a pool thread (this thread must serve the writes)
    if (fuse) {
      const synced = (async () => {
        const fh = await open(join(config.fuseDir, VOLUME_FILE_NAME), 'r');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
      })();
      const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timed out')), 5_000).unref());
      try {
        await Promise.race([synced, timeout]);
      } catch (e) {
        log(`final fsync: ${(e as Error).message}`);
      }
    }
    try {
      vf.flush();
    } catch (e) {
      log(`flush failed: ${(e as Error).message}`);
    }
    try {
      await fuse?.unmount({ lazy: true });
    } catch (e) {
      log(`unmount: ${(e as Error).message}`);
    }
    key.fill(0);
    process.exit(ExitCode.OK);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void stop(sig));
  // The kernel bridge (src/fuse/kernel/) with 1 MiB requests and the kernel's
  // writeback cache: the loop device's writes land in the FUSE file's page
  // cache and reach the engine merged, in up to 1 MiB requests; a flush or FUA
  // from the filesystem above becomes fsync on the loop's backing file, which
  // writes the dirty pages back through the engine and then sends FSYNC
  // (measured in docs/BENCHMARKS.md, "Block mode"). Readahead stays at the
  // kernel's 128 KiB: the bridge's 1 MiB made streaming reads through the loop
  // device slower in the same benchmark (3.4-3.8 against 5.6 GB/s).
  fuse = await mountKernel(
    config.fuseDir,
    volumeFuseOps(vf, (e) => log(`flush failed: ${(e as Error).message}`)),
    {
      fsname: `homecrypt-block:${config.name}`,
      subtype: 'homecrypt-block',
      defaultPermissions: true,
      attrTimeout: 3600,
      entryTimeout: 3600,
      onUnexpectedError: (op, path, err) => log(`${op} ${path}: ${(err as Error)?.message ?? String(err)}`),
    },
    { maxIo: 1 << 20, readaheadKib: 0, writebackCache: process.env.HOMECRYPT_BLOCK_WRITEBACK !== '0' },
  );
  log(`serving ${config.source} (${config.size} bytes, ${config.sectorSize}-byte sectors) at ${config.fuseDir}`);
  say('ready');
  setInterval(() => undefined, 1 << 30);
}

main().catch((e) => {
  process.stderr.write(`engine failed: ${(e as Error)?.message ?? String(e)}\n`);
  say(`error ${(e as Error)?.message ?? String(e)}`);
  process.exit(ExitCode.FAILURE);
});
