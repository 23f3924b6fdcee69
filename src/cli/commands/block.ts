// `homecrypt block …`: whole-disk / partition encryption in the LUKS2 format.
// Parsing and printing only; the work is in src/block.
import { Command, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { readSecrets, parseFdOption, wipe, withSecretTries, withSecrets } from '../secret-input.js';
import { formatRecoveryKey, generateRecoveryKey, looksLikeRecoveryKey, parseRecoveryKey } from '../../crypto/recovery-key.js';
import { RefusedError, UsageError, WrongPassphraseError } from '../../errors.js';
import { writeFileAtomic } from '../../os/atomic-file.js';
import { secretsEqual } from '../../crypto/constant-time.js';
import { Device } from '../../block/device.js';
import {
  addKeyslot,
  dataSegment,
  finishFormat,
  formatVolume,
  isUnfinishedFormat,
  UNFINISHED_FORMAT,
  loadHeader,
  readHeaderBackup,
  removeKeyslot,
  repairHeader,
  restoreHeaderBackup,
  rewrapKeyslot,
  segmentLength,
  unlock,
  type Unlocked,
} from '../../block/luks2-volume.js';
import type { HeaderCopy } from '../../format/luks2/header.js';
import { checkKdfTime, DEFAULT_KDF_TIME_SECONDS } from '../../block/kdf-params.js';
import { chooseBackend, closeVolume, openRecordOf, openVolume, volumeStatus } from '../../block/volumes.js';
import { wipeSegment } from '../../block/wipe.js';
import { existingSignatures, mkfs } from '../../block/os-tools.js';
import { confirmTyped } from '../confirm.js';
import { deferInterrupts } from '../../os/interrupt.js';
import { writeCrypttab } from '../../block/crypttab.js';
import { randomBytes } from '../../crypto/random.js';
import { note, outputFlags, reporting, result } from '../output.js';
import { progressReporter } from '../progress.js';
import { dumpJson, dumpText } from '../../format/luks2/dump.js';

interface SecretOpts {
  passphraseFd?: number;
  kdfTime?: string;
}

function kdfSeconds(o: SecretOpts): number {
  const s = o.kdfTime === undefined ? DEFAULT_KDF_TIME_SECONDS : Number(o.kdfTime);
  checkKdfTime(s);
  return s;
}

const err = (line: string) => process.stderr.write(`${line}\n`);
const out = (line: string) => process.stdout.write(`${line}\n`);

/** A wipe's progress in the one progress style (bytes only). */
function wipeProgress(): (done: number, total: number) => void {
  const report = progressReporter('Wiping');
  return (done, total) => report({ bytes: done, totalBytes: total });
}

/**
 * Formatting destroys what is there: any signature blkid knows (a filesystem,
 * a LUKS header, RAID, a partition table) is shown and must be confirmed by
 * typing YES, or by --force from a script. A homecrypt format that was
 * interrupted is homecrypt's own and is formatted again without asking.
 */
async function guardExistingData(dev: Device, force: boolean, scripted: boolean): Promise<void> {
  let ours = false;
  try {
    ours = isUnfinishedFormat(loadHeader(dev).header);
  } catch {
    /* not LUKS2 */
  }
  if (ours) {
    note(`an earlier format of ${dev.path} was interrupted before it finished; formatting it again`);
    return;
  }
  if (force) return;
  const found = existingSignatures(dev.path);
  if (!found.length) return;
  const what = found.map((x) => `${x.type}${x.label ? ` "${x.label}"` : ''} at offset ${x.offset}`).join(', ');
  await confirmTyped(`${dev.path} holds ${what}; formatting destroys it`, 'YES', '--force', scripted);
}

function openDevice(path: string, writable: boolean): Device {
  return Device.open(resolve(path), writable);
}

function refuseIfOpen(device: string): void {
  const r = openRecordOf(resolve(device)); // by identity: a symlink, the image behind a loop device…
  if (r) throw new RefusedError(`${device} is open as '${r.name}'; close it first`, { hint: `homecrypt block close ${r.name}` });
}

function loadAndWarn(dev: Device): HeaderCopy {
  const loaded = loadHeader(dev);
  for (const w of loaded.warnings) note(`warning: ${w}`);
  return loaded.needsRepair ? repairHeader(dev, loaded.header) : loaded.header;
}

/**
 * The canonical form (upper case, dashes) of a recovery passphrase typed in
 * another case or grouping, which is what its keyslot holds; null when the
 * secret is not shaped like one or already canonical. A typo throws
 * RecoveryKeyTypoError naming the group.
 */
function canonicalRecovery(secret: Buffer): Buffer | null {
  const text = secret.toString('utf8');
  if (!looksLikeRecoveryKey(text)) return null;
  const bytes = parseRecoveryKey(text);
  if (!bytes) return null;
  const canonical = Buffer.from(formatRecoveryKey(bytes));
  bytes.fill(0);
  return secretsEqual(canonical, secret) ? null : canonical;
}

/** Runs `attempt` with the secret as typed, then (on a wrong passphrase) with its canonical recovery form. */
async function withSecret<T>(secret: Buffer, attempt: (s: Buffer) => Promise<T>): Promise<T> {
  try {
    return await attempt(secret);
  } catch (e) {
    if (!(e instanceof WrongPassphraseError)) throw e;
    const canonical = canonicalRecovery(secret);
    if (!canonical) throw e;
    try {
      return await attempt(canonical);
    } finally {
      canonical.fill(0);
    }
  }
}

const unlockAny = (dev: Device, h: HeaderCopy, secret: Buffer): Promise<Unlocked> => withSecret(secret, (s) => unlock(dev, h, s));

async function newRecoveryKey(): Promise<{ text: string; secret: Buffer }> {
  const { text, bytes } = generateRecoveryKey();
  bytes.fill(0);
  return { text, secret: Buffer.from(text) };
}

function recoveryText(text: string): string {
  return `Recovery passphrase (shown only this once; write it down and keep it apart from the device):\n  ${text}\n`;
}

function withFd(cmd: Command): Command {
  return cmd.option('--passphrase-fd <n>', 'read secrets from this file descriptor, one line each', parseFdOption);
}

function withKdf(cmd: Command): Command {
  return cmd.option('--kdf-time <seconds>', `argon2id calibration target per keyslot (default ${DEFAULT_KDF_TIME_SECONDS})`);
}

const backendOption = () =>
  new Option('--backend <backend>', 'auto (dm-crypt where device-mapper exists), dm-crypt or userspace')
    .choices(['auto', 'dm-crypt', 'userspace'])
    .default('auto');

export function registerBlockCommands(program: Command): void {
  const block = program.command('block').description('whole-disk / partition encryption in the LUKS2 format (cryptsetup compatible)');

  reporting(
    withKdf(
      withFd(
        block
          .command('format')
          .argument('<device>', 'block device or image file')
          .description('write a new LUKS2 header (aes-xts-plain64); optionally create a filesystem inside')
          .addOption(new Option('--mkfs <fstype>', 'create this filesystem inside (ext4)').choices(['ext4', 'ext3', 'ext2']))
          .addOption(new Option('--sector-size <bytes>', '512 or 4096').choices(['512', '4096']).default('4096'))
          .option('--label <label>', 'LUKS2 label')
          .option('--recovery', 'also add a recovery passphrase (shown once)')
          .option('--wipe', 'fill the data area with encrypted zeros first (progress shown)')
          .option('--force', 'format even though the device holds data (a filesystem, a LUKS header…) without asking YES')
          .addOption(backendOption()),
      ),
    ),
    { progress: true },
  ).action(
    async (
      device: string,
      o: SecretOpts & { mkfs?: string; sectorSize: string; label?: string; recovery?: boolean; wipe?: boolean; force?: boolean; backend: string },
    ) => {
      const seconds = kdfSeconds(o);
      const sectorSize = Number(o.sectorSize);
      if (sectorSize !== 512 && sectorSize !== 4096) throw new UsageError('--sector-size must be 512 or 4096');
      if (o.mkfs && !/^(ext4|ext3|ext2)$/.test(o.mkfs)) throw new UsageError(`--mkfs ${o.mkfs}: supported is ext4 (or ext2/ext3)`);
      const backend = o.mkfs ? chooseBackend(o.backend) : null;
      refuseIfOpen(device);
      const dev = Device.open(resolve(device), true, true);
      let passphrase: Buffer | undefined;
      let recovery: { text: string; secret: Buffer } | undefined;
      try {
        await guardExistingData(dev, !!o.force, o.passphraseFd !== undefined);
        deferInterrupts();
        [passphrase] = await readSecrets({ fd: o.passphraseFd, count: 1, prompts: ['New passphrase:'], confirmNew: true });
        if (!passphrase.length) throw new UsageError('the passphrase is empty');
        if (!outputFlags().quiet && !outputFlags().json) err(`Formatting ${dev.path} (LUKS2, aes-xts-plain64, ${sectorSize}-byte sectors)…`);
        // a wipe takes long: until it is done the header says "unfinished", so a rerun needs no --force
        const { header, volumeKey } = await formatVolume(dev, passphrase, {
          sectorSize,
          kdfSeconds: seconds,
          label: o.label,
          subsystem: o.wipe ? UNFINISHED_FORMAT : undefined,
        });
        let h = header;
        try {
          if (o.recovery) {
            recovery = await newRecoveryKey();
            h = (await addKeyslot(dev, h, volumeKey, recovery.secret, seconds)).header;
          }
          if (o.wipe) {
            const seg = dataSegment(h.metadata, dev.path);
            await wipeSegment(dev, seg.offset, segmentLength(seg, dev.size, dev.path), volumeKey, seg.sectorSize, seg.ivTweak, wipeProgress());
            h = finishFormat(dev, h);
          }
        } finally {
          volumeKey.fill(0);
        }
        result(
          {
            device: dev.path,
            uuid: h.binary.uuid,
            cipher: 'aes-xts-plain64',
            sectorSize,
            label: o.label ?? null,
            wiped: !!o.wipe,
            recoveryPassphrase: recovery?.text ?? null,
            mkfs: o.mkfs ?? null,
          },
          `UUID ${h.binary.uuid}\n${recovery ? recoveryText(recovery.text) : ''}`,
        );
      } finally {
        dev.close();
      }
      try {
        if (o.mkfs && passphrase) {
          const name = `homecrypt-format-${randomBytes(4).toString('hex')}`;
          note(`creating ${o.mkfs} inside (backend ${backend})…`);
          const { record } = await openVolume({ source: device, name, passphrase, backend: backend! });
          try {
            await mkfs(o.mkfs, record.device, o.label);
          } finally {
            await closeVolume(name);
          }
          note('done');
        }
      } finally {
        wipe(passphrase, recovery?.secret);
      }
    },
  );

  reporting(
    withFd(
      block
        .command('open')
        .argument('<device>', 'block device or image file')
        .argument('<name>', 'a name for the open volume')
        .description('unlock a LUKS2 volume and attach its plaintext (/dev/mapper/NAME or a loop device); --mount mounts it')
        .option('--mount <dir>', 'mount the filesystem inside at this directory')
        .addOption(backendOption()),
    ),
  ).action(async (device: string, name: string, o: SecretOpts & { mount?: string; backend: string }) => {
    // a missing or unreadable device, or no LUKS2 header, is said before the passphrase is asked
    const probe = openDevice(device, false);
    try {
      if (isUnfinishedFormat(loadHeader(probe).header)) {
        throw new RefusedError(`${device}: its format was interrupted before it finished; run the same block format command again`);
      }
    } finally {
      probe.close();
    }
    await withSecrets({ fd: o.passphraseFd, count: 1, prompts: [`Passphrase for ${device}:`] }, async ([secret]) => {
      const { record, warnings } = await withSecret(secret, (passphrase) =>
        openVolume({ source: device, name, passphrase, mountpoint: o.mount, backend: o.backend }),
      );
      for (const w of warnings) note(`warning: ${w}`);
      result(
        { name, device: record.device, mountpoint: record.mountpoint ?? null, backend: record.backend, source: record.source, uuid: record.uuid, warnings },
        `${name}: ${record.device}${record.mountpoint ? ` mounted at ${record.mountpoint}` : ''} (${record.backend})\n`,
      );
    });
  });

  reporting(block.command('close').argument('<name>').description('unmount, detach and stop the engine (or close the dm-crypt mapping)')).action(
    async (name: string) => {
      await closeVolume(name);
      if (outputFlags().json) result({ name, closed: true }, '');
      else note(`${name}: closed`);
    },
  );

  reporting(block.command('status').argument('[name]').option('--json', 'machine-readable output').description('list open volumes')).action(
    (name: string | undefined, o: { json?: boolean }) => {
      const all = volumeStatus().filter((v) => !name || v.name === name);
      if (name && !all.length) throw new UsageError(`no open volume named '${name}'`);
      if (o.json) {
        out(
          JSON.stringify(
            all.map((v) => ({
              name: v.name,
              state: v.state,
              backend: v.backend,
              source: v.source,
              uuid: v.uuid,
              device: v.device,
              mountpoint: v.mountpoint,
              pid: v.pid ?? null,
              openedAt: v.openedAt,
            })),
            null,
            2,
          ),
        );
        return;
      }
      if (!all.length) {
        out('no open volumes');
        return;
      }
      for (const v of all) {
        out(`${v.name}: ${v.state} (${v.backend})`);
        out(`  source:     ${v.source}`);
        out(`  uuid:       ${v.uuid}`);
        out(`  device:     ${v.device || '-'}`);
        out(`  mountpoint: ${v.mountpoint ?? '-'}`);
        if (v.pid) out(`  engine pid: ${v.pid}`);
      }
    },
  );

  reporting(
    withKdf(
      withFd(block.command('add-passphrase').argument('<device>').description('add a keyslot for another passphrase (asks an existing passphrase first)')),
    ),
  ).action(async (device: string, o: SecretOpts) => {
    const seconds = kdfSeconds(o);
    const dev = openDevice(device, true);
    const secrets = await readSecrets({ fd: o.passphraseFd, count: 2, prompts: ['Existing passphrase:', 'New passphrase:'], confirmNew: true });
    try {
      if (!secrets[1].length) throw new UsageError('the new passphrase is empty');
      const h = loadAndWarn(dev);
      const u = await unlockAny(dev, h, secrets[0]);
      try {
        const r = await addKeyslot(dev, h, u.volumeKey, secrets[1], seconds);
        result({ device, keyslot: r.id }, `added keyslot ${r.id}\n`);
      } finally {
        u.volumeKey.fill(0);
      }
    } finally {
      wipe(...secrets);
      dev.close();
    }
  });

  reporting(
    withKdf(withFd(block.command('add-recovery').argument('<device>').description('add a keyslot for a random recovery passphrase, shown once in groups'))),
  ).action(async (device: string, o: SecretOpts) => {
    const seconds = kdfSeconds(o);
    const dev = openDevice(device, true);
    const [secret] = await readSecrets({ fd: o.passphraseFd, count: 1, prompts: ['Existing passphrase:'] });
    const rec = await newRecoveryKey();
    try {
      const h = loadAndWarn(dev);
      const u = await unlockAny(dev, h, secret);
      try {
        const r = await addKeyslot(dev, h, u.volumeKey, rec.secret, seconds);
        if (!outputFlags().json) note(`added keyslot ${r.id}`);
        result({ device, keyslot: r.id, recoveryPassphrase: rec.text }, recoveryText(rec.text));
      } finally {
        u.volumeKey.fill(0);
      }
    } finally {
      wipe(secret, rec.secret);
      dev.close();
    }
  });

  reporting(
    withKdf(
      withFd(block.command('rewrap').argument('<device>').description('change a passphrase: the keyslot the old one opens gets the new one (data untouched)')),
    ),
  ).action(async (device: string, o: SecretOpts) => {
    const seconds = kdfSeconds(o);
    const dev = openDevice(device, true);
    const secrets: Buffer[] = [];
    try {
      const h = loadAndWarn(dev);
      // the old passphrase is checked (on a terminal: a few tries) before the new one is asked for
      const u = await withSecretTries({ fd: o.passphraseFd, count: 1, prompts: ['Old passphrase:'] }, ([s]) => unlockAny(dev, h, s!));
      try {
        secrets.push(...(await readSecrets({ fd: o.passphraseFd, count: 1, prompts: ['New passphrase:'], confirmNew: true })));
        if (!secrets[0]!.length) throw new UsageError('the new passphrase is empty');
        await rewrapKeyslot(dev, h, u.volumeKey, u.keyslot, secrets[0]!, seconds);
        result({ device, keyslot: u.keyslot.id, changed: true }, `keyslot ${u.keyslot.id}: passphrase changed\n`);
      } finally {
        u.volumeKey.fill(0);
      }
    } finally {
      wipe(...secrets);
      dev.close();
    }
  });

  reporting(
    withFd(
      block
        .command('remove-slot')
        .argument('<device>')
        .argument('<slot>', 'keyslot number (see cryptsetup luksDump)')
        .description('remove a keyslot (a lost or revoked passphrase); asks the passphrase of another keyslot, so the volume stays openable'),
    ),
  ).action(async (device: string, slot: string, o: SecretOpts) => {
    if (!/^\d{1,2}$/.test(slot)) throw new UsageError(`invalid keyslot '${slot}'`);
    const dev = openDevice(device, true);
    const [secret] = await readSecrets({ fd: o.passphraseFd, count: 1, prompts: ['Passphrase of a keyslot that stays:'] });
    try {
      const h = loadAndWarn(dev);
      if (!h.metadata.keyslots.some((k) => k.id === slot)) throw new UsageError(`${device}: no keyslot ${slot}`);
      const others = h.metadata.keyslots.filter((k) => k.id !== slot);
      if (!others.length) throw new RefusedError('refusing to remove the last keyslot (the volume would be lost)');
      let proven = false;
      for (const k of others) {
        try {
          const u = await withSecret(secret, (s) => unlock(dev, h, s, k.id));
          u.volumeKey.fill(0);
          proven = true;
          break;
        } catch (e) {
          if (!(e instanceof WrongPassphraseError)) throw e;
        }
      }
      if (!proven) throw new WrongPassphraseError(`${device}: the passphrase opens no keyslot other than ${slot}`);
      removeKeyslot(dev, h, slot);
      result({ device, removed: slot }, `removed keyslot ${slot}\n`);
    } finally {
      wipe(secret);
      dev.close();
    }
  });

  reporting(
    block
      .command('dump')
      .argument('<device>', 'block device, image file or header backup')
      .option('--json', 'the header as JSON (keyslots, digests, segments)')
      .description('print the LUKS2 header: keyslots, digests, segments (the text of cryptsetup luksDump; no secret needed)'),
  ).action((device: string) => {
    const dev = openDevice(device, false);
    try {
      const loaded = loadHeader(dev);
      for (const w of loaded.warnings) note(`warning: ${w}`);
      result({ device: dev.path, ...dumpJson(loaded.header), warnings: loaded.warnings }, () => dumpText(loaded.header));
    } finally {
      dev.close();
    }
  });

  reporting(
    block
      .command('header-backup')
      .argument('<device>')
      .argument('<file>', 'where to write the backup (created 0600)')
      .description('save the LUKS2 headers and keyslots (anyone with it and a passphrase that was valid then can open the volume)'),
  ).action((device: string, file: string) => {
    const dev = openDevice(device, false);
    try {
      const b = readHeaderBackup(dev);
      for (const w of b.warnings) note(`warning: ${w}`);
      if (existsSync(resolve(file)))
        throw new RefusedError(`${file} already exists; refusing to overwrite it`, { hint: 'choose another name, or remove it first' });
      writeFileAtomic(resolve(file), b.bytes, { mode: 0o600 });
      result(
        { device, file: resolve(file), bytes: b.bytes.length, uuid: b.header.binary.uuid },
        `saved ${b.bytes.length} bytes of header (UUID ${b.header.binary.uuid}) to ${file}\n`,
      );
    } finally {
      dev.close();
    }
  });

  reporting(
    block
      .command('header-restore')
      .argument('<device>')
      .argument('<file>', 'a backup made by header-backup or cryptsetup luksHeaderBackup')
      .option('--force', 'overwrite the header of a different volume')
      .description('write a header backup back onto the device'),
  ).action((device: string, file: string, o: { force?: boolean }) => {
    refuseIfOpen(device);
    let bytes: Buffer;
    try {
      bytes = readFileSync(resolve(file));
    } catch (e) {
      throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
    }
    const dev = Device.open(resolve(device), true, true);
    try {
      const h = restoreHeaderBackup(dev, resolve(file), bytes, !!o.force);
      result({ device, file: resolve(file), uuid: h.binary.uuid }, `restored the header of ${h.binary.uuid} onto ${device}\n`);
    } finally {
      dev.close();
    }
  });

  block
    .command('crypttab')
    .argument('<device>', 'the LUKS2 device (its UUID goes into crypttab)')
    .argument('<name>', 'the mapping name (/dev/mapper/NAME)')
    .requiredOption('--target <root>', 'the root of the system that will boot (/ for this one)')
    .option('--mount <dir>', 'also add an fstab line mounting it here (e.g. / or /home)')
    .option('--fstype <type>', 'filesystem type for fstab', 'ext4')
    .option('--options <opts>', 'crypttab options', 'luks,discard')
    .description('write /etc/crypttab (and /etc/fstab) lines on a target root so systemd-cryptsetup unlocks it at boot')
    .action((device: string, name: string, o: { target: string; mount?: string; fstype: string; options: string }) => {
      const dev = openDevice(device, false);
      let uuid: string;
      try {
        uuid = loadHeader(dev).header.binary.uuid;
      } finally {
        dev.close();
      }
      const r = writeCrypttab({ targetRoot: resolve(o.target), name, uuid, mountpoint: o.mount, fstype: o.fstype, options: o.options });
      out(`crypttab: ${r.crypttab}`);
      if (r.fstab) out(`fstab:    ${r.fstab}`);
    });
}
