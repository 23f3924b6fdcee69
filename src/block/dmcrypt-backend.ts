// The dm-crypt backend: the kernel does the data path; cryptsetup opens the
// volume. The passphrase goes to cryptsetup on stdin (--key-file=-), never argv.
import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { release } from 'node:os';
import { basename } from 'node:path';
import { MountBusyError, RefusedError, WrongPassphraseError } from '../errors.js';
import { writeRecord, removeRecord, type OpenVolumeRecord } from './state.js';
import { ToolError, cryptsetup, mount, mountsOf, umount } from './os-tools.js';

/**
 * Whether the kernel has device-mapper. /dev/mapper/control alone does not
 * tell: libdevmapper (cryptsetup luksFormat) creates that node even on a
 * kernel without dm_mod. /proc/misc lists it once loaded; otherwise the
 * module must at least be installed for cryptsetup to autoload it.
 */
export function deviceMapperPresent(): boolean {
  try {
    if (/\bdevice-mapper\b/.test(readFileSync('/proc/misc', 'utf8'))) return true;
  } catch {
    /* no /proc/misc */
  }
  const mods = `/lib/modules/${release()}`;
  try {
    if (/\/dm-mod\.ko/.test(readFileSync(`${mods}/modules.builtin`, 'utf8'))) return true;
    return /\/dm-mod\.ko/.test(readFileSync(`${mods}/modules.dep`, 'utf8'));
  } catch {
    return false;
  }
}

/** Whether /dev/mapper/NAME is the mapping cryptsetup made for this LUKS2 volume (its DM UUID says so). */
function mappingIsOf(r: OpenVolumeRecord): boolean {
  try {
    const dm = basename(realpathSync(r.device));
    const dmUuid = readFileSync(`/sys/block/${dm}/dm/uuid`, 'utf8').trim();
    return dmUuid.startsWith(`CRYPT-LUKS2-${r.uuid.replace(/-/g, '').toLowerCase()}`);
  } catch {
    return false;
  }
}

/**
 * Opens the volume `record` (already written, with `opening` set) describes;
 * `stopIfInterrupted` is called at each safe point. On a failure, what was
 * opened is closed again and the record removed.
 */
export async function openDmcrypt(
  record: OpenVolumeRecord,
  passphrase: Buffer,
  mountpoint: string | null,
  stopIfInterrupted: () => void,
): Promise<OpenVolumeRecord> {
  try {
    await cryptsetup(['open', '--type', 'luks2', '--key-file=-', record.source, record.name], passphrase);
  } catch (e) {
    removeRecord(record.name); // nothing of ours to close: a mapping of that name that exists is someone else's
    // cryptsetup exits 2 for "No key available with this passphrase"
    if (e instanceof ToolError && /No key available/i.test(e.message))
      throw new WrongPassphraseError(`${record.source}: no keyslot opens with this passphrase`);
    throw e;
  }
  try {
    writeRecord(record);
    stopIfInterrupted();
    if (mountpoint) {
      mkdirSync(mountpoint, { recursive: true, mode: 0o700 });
      record.mountpoint = mountpoint;
      writeRecord(record);
      await mount(record.device, mountpoint);
      stopIfInterrupted();
    }
    delete record.opening;
    writeRecord(record);
  } catch (e) {
    await closeDmcrypt(record).catch(() => undefined);
    throw e;
  }
  return record;
}

export async function closeDmcrypt(r: OpenVolumeRecord): Promise<void> {
  if (r.opening && !mappingIsOf(r)) {
    // an open interrupted before or during cryptsetup: a mapping of that name, if any, is not this volume's
    removeRecord(r.name);
    return;
  }
  if (r.mountpoint && mountsOf({ source: r.device, mountPoint: r.mountpoint }).length) {
    try {
      await umount(r.mountpoint);
    } catch (e) {
      if (e instanceof MountBusyError) {
        throw new RefusedError(`'${r.name}' stays open: ${r.mountpoint} is in use (a file open or a working directory in it)`, {
          hint: `close what uses it (fuser -vm '${r.mountpoint}' lists the processes), then run homecrypt block close ${r.name} again`,
        });
      }
      throw e;
    }
  }
  if (existsSync(r.device)) {
    try {
      await cryptsetup(['close', r.name]);
    } catch (e) {
      if (e instanceof ToolError && /still in use|busy/i.test(e.message)) {
        throw new RefusedError(`'${r.name}': ${r.device} is still in use (mounted or held open elsewhere)`, {
          hint: `unmount it or close what holds it, then run homecrypt block close ${r.name} again`,
        });
      }
      throw e;
    }
  }
  removeRecord(r.name);
}
