// The userspace backend: homecrypt's own LUKS2 data path where the kernel has
// no device-mapper. engine daemon (FUSE file) → losetup → mount.
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureStateDir, removeRecord, writeRecord, type OpenVolumeRecord } from './state.js';
import { engineAlive, startEngine, stopEngine } from './engine-process.js';
import { VOLUME_FILE_NAME } from './fuse-ops.js';
import { losetupAttach, losetupDetach, loopFor, mount, mountsOf, umount } from './os-tools.js';
import type { Segment } from '../format/luks2/metadata.js';
import { RefusedError } from '../errors.js';

export interface UserspaceOpen {
  name: string;
  source: string;
  uuid: string;
  segment: Segment;
  segmentLength: number;
  volumeKey: Buffer;
  mountpoint: string | null;
}

export async function openUserspace(o: UserspaceOpen): Promise<OpenVolumeRecord> {
  const dir = ensureStateDir();
  const fuseDir = join(dir, `${o.name}.fuse`);
  mkdirSync(fuseDir, { recursive: true, mode: 0o700 });
  const pid = await startEngine(
    {
      name: o.name,
      source: o.source,
      segmentOffset: o.segment.offset,
      size: o.segmentLength,
      sectorSize: o.segment.sectorSize,
      ivTweak: o.segment.ivTweak,
      keyBytes: o.volumeKey.length,
      fuseDir,
    },
    o.volumeKey,
    join(dir, `${o.name}.log`),
  );
  const record: OpenVolumeRecord = {
    version: 1,
    name: o.name,
    backend: 'userspace',
    source: o.source,
    uuid: o.uuid,
    device: '',
    mountpoint: null,
    pid,
    fuseDir,
    openedAt: new Date().toISOString(),
  };
  writeRecord(record); // from here on, a crash leaves something `close` can clean up
  try {
    record.device = await losetupAttach(join(fuseDir, VOLUME_FILE_NAME), o.segment.sectorSize);
    writeRecord(record);
    if (o.mountpoint) {
      mkdirSync(o.mountpoint, { recursive: true, mode: 0o700 });
      await mount(record.device, o.mountpoint);
      record.mountpoint = o.mountpoint;
      writeRecord(record);
    }
    return record;
  } catch (e) {
    await closeUserspace(record).catch(() => undefined);
    throw e;
  }
}

/**
 * Unmounts, detaches and stops the engine. Works on a live volume and on the
 * remains of a killed engine (FUSE mount "not connected", loop with I/O errors).
 */
export async function closeUserspace(r: OpenVolumeRecord): Promise<void> {
  const live = engineAlive(r.pid);
  // after a crash the recorded /dev/loopN may since belong to someone else: only
  // the loop device whose backing file is our FUSE file is ours to unmount and detach
  const file = r.fuseDir ? join(r.fuseDir, VOLUME_FILE_NAME) : '';
  const loop = file ? loopFor(file) : null;
  if (loop && r.mountpoint && mountsOf({ source: loop, mountPoint: r.mountpoint }).length) {
    // a dead engine cannot take the final writes: detach lazily instead of hanging
    await umount(r.mountpoint, !live);
  }
  if (live && loop) {
    // stopping the engine under a filesystem someone else mounted would lose its unflushed writes
    const other = mountsOf({ source: loop });
    if (other.length) throw new RefusedError(`${r.name}: ${loop} is still mounted at ${other[0].mountPoint}; unmount it first`);
  }
  if (loop) {
    await losetupDetach(loop).catch(async (e) => {
      if (live) throw e; // busy: something still uses the volume
    });
  }
  if (r.pid) await stopEngine(r.pid);
  if (r.fuseDir) {
    if (mountsOf({ mountPoint: r.fuseDir }).length) await umount(r.fuseDir, true).catch(() => undefined);
    try {
      rmdirSync(r.fuseDir);
    } catch {
      /* still mounted lazily, or gone */
    }
  }
  removeRecord(r.name);
}
