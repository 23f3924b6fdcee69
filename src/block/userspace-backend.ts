// The userspace backend: homecrypt's own LUKS2 data path where the kernel has
// no device-mapper. engine daemon (FUSE file) → losetup → mount. Each step is
// written to the volume's record before the next, so whatever an interrupted or
// killed open started is found and undone by `close` or the next `open`.
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeRecord, stateDir, writeRecord, type OpenVolumeRecord } from './state.js';
import { engineAlive, enginesFor, startEngine, stopEngine } from './engine-process.js';
import { VOLUME_FILE_NAME } from './fuse-ops.js';
import { losetupAttach, losetupDetach, loopFor, mount, mountsOf, umount } from './os-tools.js';
import type { Segment } from '../format/luks2/metadata.js';
import { MountBusyError, RefusedError } from '../errors.js';

export interface UserspaceOpen {
  segment: Segment;
  segmentLength: number;
  volumeKey: Buffer;
  mountpoint: string | null;
}

/**
 * Opens the volume `record` (already written, with `opening` set) describes;
 * `stopIfInterrupted` is called at each safe point. On any failure, what was
 * started is undone and the record removed.
 */
export async function openUserspace(record: OpenVolumeRecord, o: UserspaceOpen, stopIfInterrupted: () => void): Promise<OpenVolumeRecord> {
  const fuseDir = record.fuseDir!;
  try {
    // an engine or FUSE mount left there without a record (a killed open) would stack under the new one
    await clearFuseDir(record.name, fuseDir);
    mkdirSync(fuseDir, { recursive: true, mode: 0o700 });
    await startEngine(
      {
        name: record.name,
        source: record.source,
        segmentOffset: o.segment.offset,
        size: o.segmentLength,
        sectorSize: o.segment.sectorSize,
        ivTweak: o.segment.ivTweak,
        keyBytes: o.volumeKey.length,
        fuseDir,
      },
      o.volumeKey,
      join(stateDir(), `${record.name}.log`),
      (pid) => {
        record.pid = pid;
        writeRecord(record); // from here on, a crash leaves something `close` can clean up
      },
    );
    stopIfInterrupted();
    record.device = await losetupAttach(join(fuseDir, VOLUME_FILE_NAME), o.segment.sectorSize);
    writeRecord(record);
    stopIfInterrupted();
    if (o.mountpoint) {
      mkdirSync(o.mountpoint, { recursive: true, mode: 0o700 });
      // recorded first: close unmounts it only where it finds the loop device mounted
      record.mountpoint = o.mountpoint;
      writeRecord(record);
      await mount(record.device, o.mountpoint);
      stopIfInterrupted();
    }
    delete record.opening;
    writeRecord(record);
    return record;
  } catch (e) {
    await closeUserspace(record).catch(() => undefined); // if even that fails, the record stays: close or the next open retries
    throw e;
  }
}

/** Engines serving `fuseDir`: the recorded one and any other started for it. */
function enginesOf(r: OpenVolumeRecord): number[] {
  const pids = new Set(r.fuseDir ? enginesFor(r.fuseDir) : []);
  if (engineAlive(r.pid)) pids.add(r.pid!);
  return [...pids];
}

/**
 * Unmounts, detaches and stops the engine. Works on a live volume, on the
 * remains of a killed engine (FUSE mount "not connected", loop with I/O
 * errors), and on what an interrupted open left (an engine with no loop device,
 * FUSE mounts stacked on the directory).
 */
export async function closeUserspace(r: OpenVolumeRecord, keepRecord = false): Promise<void> {
  const engines = enginesOf(r);
  const live = engines.length > 0;
  // after a crash the recorded /dev/loopN may since belong to someone else: only
  // the loop device whose backing file is our FUSE file is ours to unmount and detach
  const file = r.fuseDir ? join(r.fuseDir, VOLUME_FILE_NAME) : '';
  const loop = file ? loopFor(file) : null;
  if (loop && r.mountpoint && mountsOf({ source: loop, mountPoint: r.mountpoint }).length) {
    // a dead engine cannot take the final writes: detach lazily instead of hanging
    try {
      await umount(r.mountpoint, !live);
    } catch (e) {
      if (e instanceof MountBusyError) {
        throw new RefusedError(`'${r.name}' stays open: ${r.mountpoint} is in use (a file open or a working directory in it)`, {
          hint: `close what uses it (fuser -vm '${r.mountpoint}' lists the processes), then run homecrypt block close ${r.name} again`,
        });
      }
      throw e;
    }
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
  for (const pid of engines) await stopEngine(pid);
  if (r.fuseDir) {
    // stacked mounts (older interrupted opens) come off one per umount
    for (let i = 0; i < 16 && mountsOf({ mountPoint: r.fuseDir }).length; i++) {
      if (
        !(await umount(r.fuseDir, true).then(
          () => true,
          () => false,
        ))
      )
        break;
    }
    try {
      rmdirSync(r.fuseDir);
    } catch {
      /* still mounted lazily, or gone */
    }
  }
  if (!keepRecord) removeRecord(r.name);
}

/** A volume `name`'s remains that no record describes (an engine, FUSE mounts on its directory), as a record to close, or null. */
export function leftoversOf(name: string): OpenVolumeRecord | null {
  const fuseDir = join(stateDir(), `${name}.fuse`);
  if (!enginesFor(fuseDir).length && !mountsOf({ mountPoint: fuseDir }).length) return null;
  return { version: 1, name, backend: 'userspace', source: '', uuid: '', device: '', mountpoint: null, fuseDir, openedAt: '' };
}

async function clearFuseDir(name: string, fuseDir: string): Promise<void> {
  const left = leftoversOf(name);
  if (left && left.fuseDir === fuseDir) await closeUserspace(left, true);
}
