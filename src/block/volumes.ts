// Opening and closing volumes by name, whichever backend: the operations the
// CLI's `block open/close/status` call. A record left by a killed engine or a
// crash is cleaned up before a volume is opened again.
import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { RefusedError, UsageError } from '../errors.js';
import { Device } from './device.js';
import { dataSegment, loadHeader, repairHeader, segmentLength, unlock } from './luks2-volume.js';
import { checkName, listRecords, readRecord, removeRecord, type OpenVolumeRecord } from './state.js';
import { closeUserspace, openUserspace } from './userspace-backend.js';
import { closeDmcrypt, deviceMapperPresent, openDmcrypt } from './dmcrypt-backend.js';
import { engineAlive } from './engine-process.js';

export type Backend = 'userspace' | 'dm-crypt';

export function chooseBackend(requested?: string): Backend {
  if (requested === undefined || requested === 'auto') return deviceMapperPresent() ? 'dm-crypt' : 'userspace';
  if (requested === 'userspace') return 'userspace';
  if (requested === 'dm-crypt') {
    if (!deviceMapperPresent()) throw new UsageError('--backend dm-crypt: this kernel has no device-mapper (not in /proc/misc, no dm-mod module)');
    return 'dm-crypt';
  }
  throw new UsageError(`unknown --backend '${requested}' (auto, dm-crypt or userspace)`);
}

/** Whether a record describes something still working (engine running / mapping present). */
export function recordIsLive(r: OpenVolumeRecord): boolean {
  if (r.backend === 'userspace') return engineAlive(r.pid);
  return Boolean(r.device) && existsSync(r.device);
}

export async function closeRecord(r: OpenVolumeRecord): Promise<void> {
  if (r.backend === 'userspace') await closeUserspace(r);
  else await closeDmcrypt(r);
}

/** Cleans up after a crashed engine; refuses when the name is in live use. */
async function reclaim(name: string, source: string): Promise<string[]> {
  const notes: string[] = [];
  for (const r of listRecords()) {
    if (r.name !== name && r.source !== source) continue;
    if (recordIsLive(r)) {
      throw new RefusedError(r.name === name ? `a volume named '${name}' is already open (${r.source})` : `${source} is already open as '${r.name}'`);
    }
    await closeRecord(r);
    notes.push(`cleaned up '${r.name}', left behind by an engine that stopped (pid ${r.pid ?? '-'})`);
  }
  return notes;
}

export interface OpenRequest {
  source: string;
  name: string;
  passphrase: Buffer;
  mountpoint?: string;
  backend?: string;
}

export interface OpenResult {
  record: OpenVolumeRecord;
  warnings: string[];
}

export async function openVolume(req: OpenRequest): Promise<OpenResult> {
  checkName(req.name);
  const backend = chooseBackend(req.backend);
  const source = realpathSync(resolve(req.source));
  const warnings = await reclaim(req.name, source);
  const mountpoint = req.mountpoint ? resolve(req.mountpoint) : null;
  const dev = Device.open(source, true);
  try {
    const loaded = loadHeader(dev);
    warnings.push(...loaded.warnings);
    let header = loaded.header;
    const seg = dataSegment(header.metadata, source);
    const length = segmentLength(seg, dev.size);
    const uuid = header.binary.uuid;
    if (backend === 'dm-crypt') {
      // cryptsetup checks the passphrase itself (and repairs a damaged copy, as we would)
      const record = await openDmcrypt({ name: req.name, source, uuid, passphrase: req.passphrase, mountpoint });
      return { record, warnings };
    }
    const unlocked = await unlock(dev, header, req.passphrase);
    if (loaded.needsRepair) {
      header = repairHeader(dev, header);
      warnings.push(`${source}: rewrote both LUKS2 header copies from the good one`);
    }
    try {
      const record = await openUserspace({ name: req.name, source, uuid, segment: seg, segmentLength: length, volumeKey: unlocked.volumeKey, mountpoint });
      return { record, warnings };
    } finally {
      unlocked.volumeKey.fill(0);
    }
  } finally {
    dev.close();
  }
}

export async function closeVolume(name: string): Promise<void> {
  checkName(name);
  const r = readRecord(name);
  if (!r) {
    removeRecord(name);
    throw new UsageError(`no open volume named '${name}'`);
  }
  await closeRecord(r);
}

export interface VolumeStatus extends OpenVolumeRecord {
  state: 'open' | 'stale';
}

export function volumeStatus(): VolumeStatus[] {
  return listRecords().map((r) => ({ ...r, state: recordIsLive(r) ? 'open' : 'stale' }));
}
