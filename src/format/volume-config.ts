// The volume config LOWER/homecrypt.conf (format v1 and v2, docs/FORMAT-FILES.md):
// UTF-8 JSON naming how the volume is laid out. Its "mac" field is an
// HMAC-SHA256 over the canonical JSON of every other field, keyed from the
// name key's mount key, so a tampered config (say, switching names to
// plaintext) is refused once the key is known.
import { createHmac } from 'node:crypto';
import { CorruptFileError, UnsupportedFormatError } from '../errors.js';
import { hkdfSha256 } from '../crypto/hkdf.js';
import { secretsEqual } from '../crypto/constant-time.js';

export const VOLUME_CONFIG_NAME = 'homecrypt.conf';
/** A config longer than this is refused unread (docs/FORMAT-FILES.md). */
export const VOLUME_CONFIG_MAX_BYTES = 65536;
export const DEFAULT_KEYSTORE_NAME = 'homecrypt.keys';
export const VOLUME_FORMAT = 'homecrypt-volume';
/** Volume format versions: 1 (names not bound to their directory, contents torn by a crash), 2 (docs/FORMAT-FILES.md). */
export type VolumeVersion = 1 | 2;
/** The version new volumes get; older ones keep opening read-write as they are. */
export const VOLUME_VERSION: VolumeVersion = 2;
const VOLUME_VERSIONS: readonly number[] = [1, 2];

export interface VolumeConfig {
  format: typeof VOLUME_FORMAT;
  version: VolumeVersion;
  /** 'encrypted' or 'plaintext' names */
  names: 'encrypted' | 'plaintext';
  /** key ID of the mount key the name key derives from */
  nameKeyId: string;
  /** key ID new files are created under */
  currentKeyId: string;
  /** every key ID files of this volume may be under */
  keyIds: string[];
  /** key store path: relative to the lower dir, absolute, or null (give --keystore) */
  keystore: string | null;
  blockSize: 4096;
  created: string;
}

const KEY_ID = /^[0-9a-f]{16}$/;

function canonical(c: VolumeConfig): string {
  const o: Record<string, unknown> = {
    format: c.format,
    version: c.version,
    names: c.names,
    nameKeyId: c.nameKeyId,
    currentKeyId: c.currentKeyId,
    keyIds: c.keyIds,
    keystore: c.keystore,
    blockSize: c.blockSize,
    created: c.created,
  };
  return JSON.stringify(o);
}

export function configMac(c: VolumeConfig, nameMountKey: Buffer): string {
  const k = hkdfSha256(nameMountKey, 'homecrypt volume config mac v1');
  return createHmac('sha256', k).update(canonical(c), 'utf8').digest('hex');
}

export function serializeVolumeConfig(c: VolumeConfig, nameMountKey: Buffer): Buffer {
  const o = { ...JSON.parse(canonical(c)), mac: configMac(c, nameMountKey) };
  return Buffer.from(`${JSON.stringify(o, null, 2)}\n`, 'utf8');
}

/** Parses and validates the shape; the MAC is checked by verifyVolumeConfig. */
export function parseVolumeConfig(bytes: Buffer, file: string): VolumeConfig & { mac: string } {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new CorruptFileError(file, 'volume config is not valid JSON');
  }
  if (!o || typeof o !== 'object' || o.format !== VOLUME_FORMAT) throw new CorruptFileError(file, 'not a homecrypt volume config');
  if (typeof o.version !== 'number' || !VOLUME_VERSIONS.includes(o.version)) {
    // never String() of what the file holds: a deeply nested array overflows the stack
    const v =
      typeof o.version === 'number' ? String(o.version) : `of type ${o.version === null ? 'null' : Array.isArray(o.version) ? 'list' : typeof o.version}`;
    throw new UnsupportedFormatError(file, `volume config version ${v} is not supported`);
  }
  const bad = (what: string): never => {
    throw new CorruptFileError(file, `volume config: ${what}`);
  };
  if (o.names !== 'encrypted' && o.names !== 'plaintext') bad('names must be "encrypted" or "plaintext"');
  if (typeof o.nameKeyId !== 'string' || !KEY_ID.test(o.nameKeyId)) bad('bad nameKeyId');
  if (typeof o.currentKeyId !== 'string' || !KEY_ID.test(o.currentKeyId)) bad('bad currentKeyId');
  if (!Array.isArray(o.keyIds) || o.keyIds.length === 0 || !o.keyIds.every((k) => typeof k === 'string' && KEY_ID.test(k))) bad('bad keyIds');
  if (!(o.keyIds as string[]).includes(o.currentKeyId as string) || !(o.keyIds as string[]).includes(o.nameKeyId as string))
    bad('keyIds must list nameKeyId and currentKeyId');
  if (o.keystore !== null && typeof o.keystore !== 'string') bad('bad keystore');
  if (o.blockSize !== 4096) bad('blockSize must be 4096');
  if (typeof o.created !== 'string') bad('bad created');
  if (typeof o.mac !== 'string' || !/^[0-9a-f]{64}$/.test(o.mac)) bad('bad mac');
  return o as unknown as VolumeConfig & { mac: string };
}

export function verifyVolumeConfig(c: VolumeConfig & { mac: string }, nameMountKey: Buffer, file: string): void {
  const want = Buffer.from(configMac(c, nameMountKey), 'hex');
  if (!secretsEqual(want, Buffer.from(c.mac, 'hex')))
    throw new CorruptFileError(file, "volume config failed authentication (tampered, or not this key's volume)");
}
