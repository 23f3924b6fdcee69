// The dm-crypt backend: the kernel does the data path; cryptsetup opens the
// volume. The passphrase goes to cryptsetup on stdin (--key-file=-), never argv.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { WrongPassphraseError } from '../errors.js';
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

export async function openDmcrypt(o: { name: string; source: string; uuid: string; passphrase: Buffer; mountpoint: string | null }): Promise<OpenVolumeRecord> {
  try {
    await cryptsetup(['open', '--type', 'luks2', '--key-file=-', o.source, o.name], o.passphrase);
  } catch (e) {
    // cryptsetup exits 2 for "No key available with this passphrase"
    if (e instanceof ToolError && /No key available/i.test(e.message)) throw new WrongPassphraseError(`${o.source}: no keyslot opens with this passphrase`);
    throw e;
  }
  const record: OpenVolumeRecord = {
    version: 1,
    name: o.name,
    backend: 'dm-crypt',
    source: o.source,
    uuid: o.uuid,
    device: `/dev/mapper/${o.name}`,
    mountpoint: null,
    openedAt: new Date().toISOString(),
  };
  writeRecord(record);
  try {
    if (o.mountpoint) {
      mkdirSync(o.mountpoint, { recursive: true, mode: 0o700 });
      await mount(record.device, o.mountpoint);
      record.mountpoint = o.mountpoint;
      writeRecord(record);
    }
  } catch (e) {
    await closeDmcrypt(record).catch(() => undefined);
    throw e;
  }
  return record;
}

export async function closeDmcrypt(r: OpenVolumeRecord): Promise<void> {
  if (r.mountpoint && mountsOf({ source: r.device, mountPoint: r.mountpoint }).length) await umount(r.mountpoint);
  if (existsSync(r.device)) await cryptsetup(['close', r.name]);
  removeRecord(r.name);
}
