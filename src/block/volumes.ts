// Opening and closing volumes by name, whichever backend: the operations the
// CLI's `block open/close/status` call. One volume is open at most once: an
// open is refused while the same device (by identity, not by path) or a volume
// with the same LUKS2 UUID is open under any name. A record left by a killed
// engine, a crash or an interrupted open is cleaned up before a volume is
// opened again. From the moment anything is started until the open is
// recorded as complete, Ctrl-C stops at a safe point and undoes the open.
import { existsSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InterruptedError, RefusedError, UsageError } from '../errors.js';
import { deferInterrupts, wasInterrupted } from '../os/interrupt.js';
import { Device, deviceIdentity } from './device.js';
import { dataSegment, keyslotsToTry, loadHeader, repairHeader, segmentLength, unlock } from './luks2-volume.js';
import { checkLuks2Work } from './luks2-kdf-limits.js';
import {
  checkName,
  listRecords,
  openerAlive,
  readRecord,
  removeRecord,
  stateDir,
  thisOpener,
  withStateLock,
  writeRecord,
  type OpenVolumeRecord,
} from './state.js';
import { closeUserspace, leftoversOf, openUserspace } from './userspace-backend.js';
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

/**
 * Whether a record describes something still working (engine running / mapping
 * present), or an open still under way. An open whose process died before it
 * finished is not live, whatever it started: it is cleaned up.
 */
export function recordIsLive(r: OpenVolumeRecord): boolean {
  if (r.opening) return openerAlive(r);
  if (r.backend === 'userspace') return engineAlive(r.pid);
  return Boolean(r.device) && existsSync(r.device);
}

export async function closeRecord(r: OpenVolumeRecord): Promise<void> {
  if (r.backend === 'userspace') await closeUserspace(r);
  else await closeDmcrypt(r);
}

/** Every identity of a record's source: as recorded at open, and as its path resolves now. */
function identityOf(r: OpenVolumeRecord): Set<string> {
  return new Set([...(r.identity ?? []), ...deviceIdentity(r.source)]);
}

/** How `r` is the volume about to be opened: the same device, or (only) the same LUKS2 UUID; null when neither. */
function sameVolume(r: OpenVolumeRecord, uuid: string, identity: string[]): 'device' | 'uuid' | null {
  const ids = identityOf(r);
  if (identity.some((i) => ids.has(i))) return 'device';
  if (r.uuid && r.uuid.toLowerCase() === uuid.toLowerCase()) return 'uuid';
  return null;
}

/**
 * Refuses (exit 8) when the name is taken or the volume is open under another
 * name; cleans up what dead engines and interrupted opens left behind.
 */
async function reclaim(name: string, source: string, uuid: string, identity: string[]): Promise<string[]> {
  const notes: string[] = [];
  for (const r of listRecords()) {
    const same = sameVolume(r, uuid, identity);
    if (r.name !== name && !same) continue;
    if (recordIsLive(r)) {
      if (r.opening)
        throw new RefusedError(`'${r.name}' (${r.source}) is being opened right now (pid ${r.opening.pid})`, { hint: 'wait for that open to finish' });
      const close = `homecrypt block close ${r.name}`;
      if (same === 'device') {
        throw new RefusedError(`${source} is already open as '${r.name}' (${r.device || r.source}); a second open would corrupt its filesystem`, {
          hint: `use '${r.name}' as it is, or close it first: ${close}`,
        });
      }
      if (same === 'uuid') {
        throw new RefusedError(
          `a volume with the same LUKS2 UUID (${uuid}) is already open as '${r.name}', from ${r.source}: the same volume, or a copy of it`,
          {
            hint: `close it first (${close}); a copy meant to be open beside it needs a UUID of its own (cryptsetup luksUUID --uuid "$(uuidgen)" DEVICE)`,
          },
        );
      }
      throw new RefusedError(`a volume named '${name}' is already open (${r.source})`, { hint: 'choose another name' });
    }
    const why = r.opening ? `an open that was interrupted (pid ${r.opening.pid})` : `an engine that stopped (pid ${r.pid ?? '-'})`;
    await closeRecord(r);
    notes.push(`cleaned up '${r.name}', left behind by ${why}`);
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

/** Thrown at a safe point of an open after Ctrl-C: what was started has been undone. */
function interruptedOpen(): InterruptedError {
  return new InterruptedError('interrupted; nothing was left open', { hint: 'run the same command again to open it' });
}

export async function openVolume(req: OpenRequest): Promise<OpenResult> {
  checkName(req.name);
  const backend = chooseBackend(req.backend);
  const source = realpathSync(resolve(req.source));
  const mountpoint = req.mountpoint ? resolve(req.mountpoint) : null;
  const dev = Device.open(source, true);
  try {
    const loaded = loadHeader(dev);
    const warnings = [...loaded.warnings];
    let header = loaded.header;
    const seg = dataSegment(header.metadata, source);
    const length = segmentLength(seg, dev.size, source);
    const uuid = header.binary.uuid;
    const identity = deviceIdentity(source);
    // said before the passphrase's KDF work; checked again under the lock below
    warnings.push(...(await withStateLock(() => reclaim(req.name, source, uuid, identity))));
    let volumeKey: Buffer | null = null;
    if (backend === 'userspace') {
      const unlocked = await unlock(dev, header, req.passphrase);
      volumeKey = unlocked.volumeKey;
      if (loaded.needsRepair) {
        header = repairHeader(dev, header);
        warnings.push(`${source}: rewrote both LUKS2 header copies from the good one`);
      }
    } else {
      // cryptsetup checks the passphrase itself (and repairs a damaged copy, as we would); the header's work limits are ours
      checkLuks2Work(source, keyslotsToTry(header.metadata), header.metadata.digests);
    }
    try {
      // from here on something gets started: Ctrl-C stops at a safe point, which undoes it
      deferInterrupts();
      if (wasInterrupted()) throw interruptedOpen();
      const record = await withStateLock(async () => {
        warnings.push(...(await reclaim(req.name, source, uuid, identity)));
        const r: OpenVolumeRecord = {
          version: 1,
          name: req.name,
          backend,
          source,
          uuid,
          device: backend === 'dm-crypt' ? `/dev/mapper/${req.name}` : '',
          mountpoint: null,
          ...(backend === 'userspace' ? { fuseDir: join(stateDir(), `${req.name}.fuse`) } : {}),
          openedAt: new Date().toISOString(),
          identity,
          opening: thisOpener(),
        };
        writeRecord(r);
        return r;
      });
      const stopIfInterrupted = () => {
        if (wasInterrupted()) throw interruptedOpen();
      };
      if (backend === 'dm-crypt') {
        await openDmcrypt(record, req.passphrase, mountpoint, stopIfInterrupted);
      } else {
        const config = { segment: seg, segmentLength: length, volumeKey: volumeKey!, mountpoint };
        // an engine stopped by the same Ctrl-C: what was started is undone by now, as at a safe point
        await openUserspace(record, config, stopIfInterrupted).catch((e: unknown) => {
          throw e instanceof InterruptedError ? interruptedOpen() : e;
        });
      }
      return { record, warnings };
    } finally {
      volumeKey?.fill(0);
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
    // no record, but an engine or FUSE mount of that name (an open killed before it recorded anything)
    const left = leftoversOf(name);
    if (left) {
      await closeUserspace(left);
      return;
    }
    throw new UsageError(`no open volume named '${name}'`);
  }
  if (r.opening && openerAlive(r))
    throw new RefusedError(`'${name}' is being opened right now (pid ${r.opening.pid})`, { hint: 'wait for the open to finish, then close it' });
  await closeRecord(r);
}

export interface VolumeStatus extends OpenVolumeRecord {
  state: 'open' | 'opening' | 'stale';
}

export function volumeStatus(): VolumeStatus[] {
  return listRecords().map((r) => ({ ...r, state: r.opening && openerAlive(r) ? 'opening' : recordIsLive(r) ? 'open' : 'stale' }));
}

/** The record (open, opening or stale) whose source is `path`'s device, if any: format and header-restore refuse it. */
export function openRecordOf(path: string): OpenVolumeRecord | null {
  const ids = deviceIdentity(path);
  if (!ids.length) return null;
  return listRecords().find((r) => [...identityOf(r)].some((i) => ids.includes(i))) ?? null;
}
