// A LUKS2 volume on a device: read and choose the header copies, unlock a
// keyslot, format, add/replace keyslots, back up and restore the header.
// Updates write the secondary copy, then the primary, each with seqid+1, so an
// interrupted update leaves one valid copy (the newer one wins on read).
import { randomUUID } from 'node:crypto';
import { CorruptFileError, RefusedError, UnsupportedFormatError, UsageError, WrongPassphraseError } from '../errors.js';
import { randomBytes, randomKey } from '../crypto/random.js';
import { Device } from './device.js';
import { AF_STRIPES, BINARY_HEADER_BYTES, DEFAULT_DATA_OFFSET, DEFAULT_HEADER_SIZE, MAGIC_PRIMARY, VALID_HEADER_SIZES } from '../format/luks2/layout.js';
import { buildHeaderCopies, chooseHeader, tryParseHeaderCopy, type CopyResult, type HeaderCopy } from '../format/luks2/header.js';
import { MetadataError, allocateKeyslot, keyslotAreaSize, parseMetadata, type Keyslot, type Metadata, type Segment } from '../format/luks2/metadata.js';
import { deriveSlotKey, materialBytes, openKeyslot, sealKeyslot } from '../format/luks2/keyslot-area.js';
import { computeDigest, digestMatches } from '../format/luks2/digest.js';
import { checkLuks2Work } from './luks2-kdf-limits.js';
import { calibrateLuksArgon2id, digestIterations, DEFAULT_KDF_TIME_SECONDS, type Argon2Kdf } from './kdf-params.js';

export interface LoadedHeader {
  header: HeaderCopy;
  warnings: string[];
  /** copies that are damaged or stale and get rewritten on the next update */
  needsRepair: boolean;
}

/** What loadHeader reads from: a Device, or a header backup held in memory. */
export interface ByteSource {
  readonly path: string;
  readonly size: number;
  readIfPresent(offset: number, length: number): Buffer | null;
}

export function bufferSource(path: string, buf: Buffer): ByteSource {
  return {
    path,
    size: buf.length,
    readIfPresent: (offset, length) => (offset + length > buf.length ? null : Buffer.from(buf.subarray(offset, offset + length))),
  };
}

function readCopy(dev: ByteSource, offset: number): Buffer | null {
  const bin = dev.readIfPresent(offset, BINARY_HEADER_BYTES);
  if (!bin) return null;
  const size = bin.readBigUInt64BE(8);
  const n = VALID_HEADER_SIZES.includes(Number(size)) ? Number(size) : BINARY_HEADER_BYTES;
  return dev.readIfPresent(offset, n) ?? bin;
}

/** Reads both header copies and picks one; warns when it had to fall back. */
export function loadHeader(dev: ByteSource): LoadedHeader {
  const first = dev.readIfPresent(0, BINARY_HEADER_BYTES);
  if (first && first.subarray(0, 6).equals(MAGIC_PRIMARY) && first.readUInt16BE(6) === 1) {
    throw new UnsupportedFormatError(dev.path, 'a LUKS1 volume (convert it with cryptsetup convert --type luks2)');
  }
  const primary = tryParseHeaderCopy(readCopy(dev, 0), 0);
  // where the secondary sits depends on hdr_size; when the primary is unreadable,
  // probe every size cryptsetup allows, as cryptsetup does
  let secondary: CopyResult = { ok: false, reason: 'not found' };
  const offsets = primary.ok ? [primary.copy.binary.hdrSize] : VALID_HEADER_SIZES;
  for (const off of offsets) {
    const r = tryParseHeaderCopy(readCopy(dev, off), off);
    if (r.ok || off === offsets[0]) secondary = r;
    if (r.ok) break;
  }
  const chosen = chooseHeader(primary, secondary);
  if (!chosen) {
    const why = (r: CopyResult) => (r.ok ? 'ok' : r.reason);
    const absent = (r: CopyResult) => !r.ok && (r.reason === 'no LUKS magic' || r.reason === 'not found');
    if (absent(primary) && absent(secondary)) {
      throw new CorruptFileError(dev.path, 'not a LUKS2 volume (no LUKS header found)');
    }
    throw new CorruptFileError(dev.path, `no valid LUKS2 header: primary: ${why(primary)}; secondary: ${why(secondary)}`);
  }
  const warnings = chosen.damaged.map(
    (d) => `${dev.path}: ${d.which} LUKS2 header ${d.reason}; using the ${d.which === 'primary' ? 'secondary' : 'primary'} copy`,
  );
  return { header: chosen.header, warnings, needsRepair: chosen.damaged.length > 0 };
}

/** The one data segment this build can open (a reencryption in progress has two). */
export function dataSegment(md: Metadata, path: string): Segment {
  if (md.segments.length !== 1) throw new UnsupportedFormatError(path, `${md.segments.length} data segments (reencryption in progress?)`);
  return md.segments[0];
}

/** Bytes of plaintext the segment holds on a device of `deviceSize` bytes (`path` names it in the error). */
export function segmentLength(seg: Segment, deviceSize: number, path: string): number {
  const len = seg.size === 'dynamic' ? deviceSize - seg.offset : seg.size;
  const whole = len - (len % seg.sectorSize);
  if (whole <= 0 || seg.offset + len > deviceSize) {
    const where = seg.size === 'dynamic' ? `starts at byte ${seg.offset}` : `spans bytes ${seg.offset}..${seg.offset + seg.size}`;
    throw new CorruptFileError(path, `data segment lies outside the device (truncated image?): it ${where}, the device has ${deviceSize} bytes`);
  }
  return whole;
}

export interface Unlocked {
  volumeKey: Buffer;
  keyslot: Keyslot;
}

/** The keyslots a passphrase is tried on, in order (cryptsetup's): high priority first, then normal; priority 0 only when asked by id. */
export function keyslotsToTry(md: Metadata, slotId?: string): Keyslot[] {
  if (slotId !== undefined) return md.keyslots.filter((k) => k.id === slotId);
  return md.keyslots.filter((k) => k.priority > 0).sort((a, b) => b.priority - a.priority || Number(a.id) - Number(b.id));
}

/** Tries the passphrase on every keyslot (or only `slotId`); WrongPassphraseError when none opens. */
export async function unlock(dev: Device, h: HeaderCopy, passphrase: Buffer, slotId?: string): Promise<Unlocked> {
  const md = h.metadata;
  const slots = keyslotsToTry(md, slotId);
  if (slotId !== undefined && !slots.length) throw new UsageError(`${dev.path}: no keyslot ${slotId}`);
  checkLuks2Work(dev.path, slots, md.digests);
  for (const ks of slots) {
    const digest = md.digests.find((d) => d.keyslots.includes(ks.id));
    if (!digest) continue;
    const area = dev.read(ks.area.offset, materialBytes(ks.keySize, ks.afStripes));
    const slotKey = await deriveSlotKey(ks.kdf, passphrase, ks.area.keySize);
    const candidate = openKeyslot(ks, slotKey, area);
    slotKey.fill(0);
    if (await digestMatches(digest, candidate)) return { volumeKey: candidate, keyslot: ks };
    candidate.fill(0);
  }
  throw new WrongPassphraseError(`${dev.path}: no keyslot opens with this passphrase`);
}

function writeHeader(dev: Device, h: HeaderCopy, md: Metadata): HeaderCopy {
  const b = h.binary;
  const seqid = b.seqid + 1n;
  const copies = buildHeaderCopies(
    { hdrSize: b.hdrSize, label: b.label, checksumAlg: b.checksumAlg, salt: randomBytes(64), uuid: b.uuid, subsystem: b.subsystem },
    md,
    seqid,
  );
  dev.write(b.hdrSize, copies.secondary);
  dev.sync();
  dev.write(0, copies.primary);
  dev.sync();
  return { binary: { ...b, seqid, kind: 'primary', hdrOffset: 0 }, metadata: md };
}

/** cryptsetup's JSON area as parsed, edited by path below; parseMetadata validates the result again. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped JSON, checked after the edit
type RawJson = Record<string, any>;

function withRaw(md: Metadata, hdrSize: number, edit: (raw: RawJson) => void): Metadata {
  const raw = structuredClone(md.raw) as RawJson;
  edit(raw);
  try {
    return parseMetadata(raw, hdrSize);
  } catch (e) {
    if (e instanceof MetadataError) throw new RefusedError(`the change would make invalid metadata: ${e.message}`);
    throw e;
  }
}

function keyslotJson(ks: { keySize: number; offset: number; size: number; kdf: Argon2Kdf; priority?: number }): Record<string, unknown> {
  const out: Record<string, unknown> = {
    type: 'luks2',
    key_size: ks.keySize,
    af: { type: 'luks1', stripes: AF_STRIPES, hash: 'sha256' },
    area: { type: 'raw', offset: String(ks.offset), size: String(ks.size), encryption: 'aes-xts-plain64', key_size: 64 },
    kdf: { type: ks.kdf.type, time: ks.kdf.time, memory: ks.kdf.memory, cpus: ks.kdf.cpus, salt: ks.kdf.salt.toString('base64') },
  };
  if (ks.priority !== undefined && ks.priority !== 1) out.priority = ks.priority;
  return out;
}

/** Seals `volumeKey` under `passphrase` into a free area; returns the slot's JSON (not yet in the header). */
async function sealNewSlot(dev: Device, md: Metadata, hdrSize: number, volumeKey: Buffer, passphrase: Buffer, kdfSeconds: number) {
  const size = keyslotAreaSize(volumeKey.length);
  // the slot being replaced (rewrap) still counts as used, so its area stays intact until the header switches
  const at = allocateKeyslot(md, hdrSize, size);
  const kdf = await calibrateLuksArgon2id(kdfSeconds);
  const slotKey = await deriveSlotKey(kdf, passphrase, 64);
  const material = sealKeyslot(slotKey, volumeKey, AF_STRIPES, 'sha256');
  slotKey.fill(0);
  const padded = Buffer.alloc(size);
  material.copy(padded);
  randomBytes(size - material.length).copy(padded, material.length);
  dev.write(at.offset, padded);
  dev.sync();
  return { id: at.id, json: keyslotJson({ keySize: volumeKey.length, offset: at.offset, size, kdf }) };
}

function wipeArea(dev: Device, ks: Keyslot): void {
  dev.write(ks.area.offset, randomBytes(ks.area.size));
  dev.sync();
}

export interface FormatOptions {
  sectorSize?: 512 | 4096;
  kdfSeconds?: number;
  label?: string;
  uuid?: string;
  keyBytes?: 32 | 64;
  /** test vectors: a fixed volume key */
  volumeKey?: Buffer;
  /** LUKS2 subsystem label (UNFINISHED_FORMAT while a wipe is under way) */
  subsystem?: string;
}

/**
 * The LUKS2 subsystem of a volume whose `format --wipe` has not finished: such
 * a header is known to be homecrypt's own, half-made, so formatting again
 * needs no --force and no confirmation (docs/BLOCK.md).
 */
export const UNFINISHED_FORMAT = 'homecrypt-format-unfinished';

export function isUnfinishedFormat(h: HeaderCopy): boolean {
  return h.binary.subsystem === UNFINISHED_FORMAT;
}

/** The format is complete: the header loses its unfinished mark (both copies, atomically each). */
export function finishFormat(dev: Device, h: HeaderCopy): HeaderCopy {
  return writeHeader(dev, { ...h, binary: { ...h.binary, subsystem: '' } }, h.metadata);
}

/** Writes a fresh LUKS2 header (one keyslot) to `dev`; the data area is left as it is. */
export async function formatVolume(dev: Device, passphrase: Buffer, opts: FormatOptions = {}): Promise<{ header: HeaderCopy; volumeKey: Buffer }> {
  const sectorSize = opts.sectorSize ?? 4096;
  const kdfSeconds = opts.kdfSeconds ?? DEFAULT_KDF_TIME_SECONDS;
  const hdrSize = DEFAULT_HEADER_SIZE;
  const dataOffset = DEFAULT_DATA_OFFSET;
  if (dev.size < dataOffset + 1024 * 1024) {
    throw new RefusedError(`${dev.path} is too small for LUKS2 (${dev.size} bytes; the header alone takes 16 MiB)`);
  }
  const volumeKey = opts.volumeKey ? Buffer.from(opts.volumeKey) : randomKey(opts.keyBytes ?? 64);
  const digestSalt = randomBytes(32);
  const iterations = digestIterations(kdfSeconds);
  const keyslotsSize = dataOffset - 2 * hdrSize;
  const raw = {
    keyslots: {},
    tokens: {},
    segments: {
      0: { type: 'crypt', offset: String(dataOffset), size: 'dynamic', iv_tweak: '0', encryption: 'aes-xts-plain64', sector_size: sectorSize },
    },
    digests: {
      0: {
        type: 'pbkdf2',
        keyslots: [] as string[],
        segments: ['0'],
        hash: 'sha256',
        iterations,
        salt: digestSalt.toString('base64'),
        digest: (await computeDigest(volumeKey, 'sha256', digestSalt, iterations, 32)).toString('base64'),
      },
    },
    config: { json_size: String(hdrSize - BINARY_HEADER_BYTES), keyslots_size: String(keyslotsSize) },
  };
  let md = parseMetadata(raw, hdrSize);
  const base = {
    kind: 'primary' as const,
    checksum: Buffer.alloc(64),
    hdrOffset: 0,
    hdrSize,
    seqid: 0n,
    label: opts.label ?? '',
    checksumAlg: 'sha256',
    salt: randomBytes(64),
    uuid: opts.uuid ?? randomUUID(),
    subsystem: opts.subsystem ?? '',
  };
  // Before anything of the old volume is destroyed: a header of ours with no
  // keyslot yet, marked unfinished, so that a crash from here on leaves a
  // volume the same command formats again without asking, never an old header
  // whose keyslots are gone (docs/BLOCK.md). Until this write, nothing changed.
  const interim = writeHeader(dev, { binary: { ...base, subsystem: UNFINISHED_FORMAT }, metadata: md }, md);
  // as cryptsetup: no key material of an earlier volume survives in the keyslots area
  for (let off = 2 * hdrSize; off < dataOffset; off += 1 << 20) dev.write(off, randomBytes(Math.min(1 << 20, dataOffset - off)));
  const slot = await sealNewSlot(dev, md, hdrSize, volumeKey, passphrase, kdfSeconds);
  md = withRaw(md, hdrSize, (r) => {
    r.keyslots[slot.id] = slot.json;
    r.digests['0'].keyslots = [slot.id];
  });
  const header = writeHeader(dev, { ...interim, binary: { ...interim.binary, subsystem: base.subsystem } }, md);
  return { header, volumeKey };
}

/** Adds a keyslot for `newPassphrase`; returns its id. */
export async function addKeyslot(
  dev: Device,
  h: HeaderCopy,
  volumeKey: Buffer,
  newPassphrase: Buffer,
  kdfSeconds: number,
): Promise<{ header: HeaderCopy; id: string }> {
  const hdrSize = h.binary.hdrSize;
  const digest = h.metadata.digests.find((d) => d.segments.includes(dataSegment(h.metadata, dev.path).id));
  if (!digest) throw new CorruptFileError(dev.path, 'no digest for the data segment');
  const slot = await sealNewSlot(dev, h.metadata, hdrSize, volumeKey, newPassphrase, kdfSeconds);
  const md = withRaw(h.metadata, hdrSize, (r) => {
    r.keyslots[slot.id] = slot.json;
    r.digests[digest.id].keyslots = [...r.digests[digest.id].keyslots, slot.id];
  });
  return { header: writeHeader(dev, h, md), id: slot.id };
}

/**
 * Replaces keyslot `slot`'s passphrase (cryptsetup luksChangeKey): the new
 * material goes to a free area first, the header then points the same slot id
 * at it, and only after that is the old area wiped.
 */
export async function rewrapKeyslot(
  dev: Device,
  h: HeaderCopy,
  volumeKey: Buffer,
  slot: Keyslot,
  newPassphrase: Buffer,
  kdfSeconds: number,
): Promise<HeaderCopy> {
  const hdrSize = h.binary.hdrSize;
  const sealed = await sealNewSlot(dev, h.metadata, hdrSize, volumeKey, newPassphrase, kdfSeconds);
  const md = withRaw(h.metadata, hdrSize, (r) => {
    const old = r.keyslots[slot.id];
    const json = sealed.json as Record<string, unknown>;
    if (old.priority !== undefined) json.priority = old.priority;
    r.keyslots[slot.id] = json;
  });
  const next = writeHeader(dev, h, md);
  wipeArea(dev, slot);
  return next;
}

/** Removes keyslot `id` and wipes its area (refuses to remove the last one). */
export function removeKeyslot(dev: Device, h: HeaderCopy, id: string): HeaderCopy {
  const ks = h.metadata.keyslots.find((k) => k.id === id);
  if (!ks) throw new UsageError(`${dev.path}: no keyslot ${id}`);
  if (h.metadata.keyslots.length === 1) throw new RefusedError('refusing to remove the last keyslot (the volume would be lost)');
  const md = withRaw(h.metadata, h.binary.hdrSize, (r) => {
    delete r.keyslots[id];
    for (const d of Object.values(r.digests) as { keyslots: string[] }[]) d.keyslots = d.keyslots.filter((k) => k !== id);
  });
  const next = writeHeader(dev, h, md);
  wipeArea(dev, ks);
  return next;
}

/** Rewrites both copies from the chosen one (after a fallback). */
export function repairHeader(dev: Device, h: HeaderCopy): HeaderCopy {
  return writeHeader(dev, h, h.metadata);
}

/** The metadata region (both header copies and the keyslots area): what a header backup holds. */
export function metadataRegionBytes(h: HeaderCopy): number {
  return 2 * h.binary.hdrSize + h.metadata.keyslotsSize;
}

/** The bytes a header backup holds: both copies and the keyslots area, as on the device. */
export function readHeaderBackup(dev: Device): { bytes: Buffer; header: HeaderCopy; warnings: string[] } {
  const loaded = loadHeader(dev);
  const bytes = dev.read(0, metadataRegionBytes(loaded.header));
  return { bytes, header: loaded.header, warnings: loaded.warnings };
}

/**
 * Writes a header backup back onto `dev`. The backup must hold a valid header
 * whose data segment fits the device; replacing the header of a different
 * volume (another UUID) needs `force`.
 */
export function restoreHeaderBackup(dev: Device, backupPath: string, bytes: Buffer, force: boolean): HeaderCopy {
  const loaded = loadHeader(bufferSource(backupPath, bytes));
  const h = loaded.header;
  if (bytes.length !== metadataRegionBytes(h))
    throw new CorruptFileError(backupPath, `is ${bytes.length} bytes, the header it holds spans ${metadataRegionBytes(h)}`);
  const seg = dataSegment(h.metadata, backupPath);
  if (seg.offset >= dev.size) throw new RefusedError(`${dev.path} is too small for the volume in ${backupPath}`);
  let current: HeaderCopy | null = null;
  try {
    current = loadHeader(dev).header;
  } catch {
    /* no valid header on the device: nothing to compare */
  }
  if (current && current.binary.uuid !== h.binary.uuid && !force) {
    throw new RefusedError(`${dev.path} holds another LUKS2 volume (UUID ${current.binary.uuid}, backup is ${h.binary.uuid}); add --force to overwrite it`);
  }
  dev.write(0, bytes);
  dev.sync();
  return h;
}
