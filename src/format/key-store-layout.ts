// The key-store file (docs/FORMAT-KEYSTORE.md): a header naming the mount key
// by its key ID, keyslots that each wrap the same mount key, and a SHA-256 of
// everything before it. Pure functions over bytes; every field is validated
// before use so a corrupt or hostile file gives a CorruptFileError naming what
// is wrong, never a crash or a huge allocation.
import { createHash } from 'node:crypto';
import { CorruptFileError, UnsupportedFormatError } from '../errors.js';
import type { Argon2idParams } from '../crypto/argon2id.js';
import { secretsEqual } from '../crypto/constant-time.js';
import { GCM_NONCE_BYTES, GCM_TAG_BYTES } from '../crypto/aead.js';
import { KEY_ID_BYTES } from '../crypto/key-id.js';

export const KEYSTORE_MAGIC = Buffer.from('HCKS', 'ascii');
export const KEYSTORE_VERSION = 1;
export const MOUNT_KEY_BYTES = 32;
export const SALT_BYTES = 16;
export const SEALED_BYTES = MOUNT_KEY_BYTES + GCM_TAG_BYTES;
export const MAX_SLOTS = 16;
export const MAX_NAME_BYTES = 32;
const HEADER_BYTES = 16;
const CHECKSUM_BYTES = 32;
const KDF_ARGON2ID = 1;

/** Bounds a reader accepts, so a hostile file cannot demand absurd work or memory. */
export const KDF_LIMITS = {
  iterations: { min: 1, max: 1000 },
  memoryKiB: { min: 64, max: 1024 * 1024 },
  parallelism: { min: 1, max: 16 },
} as const;

export type SlotKind = 'passphrase' | 'recovery';
const KIND_CODES: Record<SlotKind, number> = { passphrase: 1, recovery: 2 };

export interface KeySlot {
  kind: SlotKind;
  name: string;
  kdf: Argon2idParams;
  salt: Buffer;
  nonce: Buffer;
  /** the wrapped mount key: AES-256-GCM ciphertext || tag */
  sealed: Buffer;
}

export interface KeyStoreData {
  version: number;
  /** 16 hex characters */
  keyId: string;
  slots: KeySlot[];
}

export function isValidSlotName(name: string): boolean {
  return /^[a-z0-9][a-z0-9._-]{0,31}$/.test(name);
}

/** The slot's fields up to and including its nonce (everything but the sealed key). */
function slotDescriptor(slot: KeySlot): Buffer {
  const name = Buffer.from(slot.name, 'ascii');
  const b = Buffer.alloc(1 + 1 + name.length + 1 + 4 + 4 + 1 + SALT_BYTES + GCM_NONCE_BYTES);
  let o = 0;
  b[o++] = KIND_CODES[slot.kind];
  b[o++] = name.length;
  name.copy(b, o);
  o += name.length;
  b[o++] = KDF_ARGON2ID;
  b.writeUInt32BE(slot.kdf.iterations, o);
  o += 4;
  b.writeUInt32BE(slot.kdf.memoryKiB, o);
  o += 4;
  b[o++] = slot.kdf.parallelism;
  slot.salt.copy(b, o);
  o += SALT_BYTES;
  slot.nonce.copy(b, o);
  return b;
}

/**
 * Additional data of a slot's AEAD: magic, version, key ID and the slot's own
 * descriptor (kind, name, KDF parameters, salt, nonce). Changing any of them —
 * e.g. weakening the KDF parameters — makes the slot fail to open.
 */
export function slotAad(keyId: string, slot: KeySlot, version = KEYSTORE_VERSION): Buffer {
  const head = Buffer.alloc(6);
  KEYSTORE_MAGIC.copy(head, 0);
  head.writeUInt16BE(version, 4);
  return Buffer.concat([head, Buffer.from(keyId, 'hex'), slotDescriptor(slot)]);
}

function checkSlot(slot: KeySlot): void {
  if (!isValidSlotName(slot.name)) throw new RangeError(`invalid slot name ${JSON.stringify(slot.name)}`);
  if (slot.salt.length !== SALT_BYTES || slot.nonce.length !== GCM_NONCE_BYTES || slot.sealed.length !== SEALED_BYTES) {
    throw new RangeError('slot salt, nonce or sealed key has the wrong length');
  }
  for (const k of ['iterations', 'memoryKiB', 'parallelism'] as const) {
    const v = slot.kdf[k];
    if (!Number.isInteger(v) || v < KDF_LIMITS[k].min || v > KDF_LIMITS[k].max) throw new RangeError(`KDF ${k} out of range: ${v}`);
  }
}

export function encodeKeyStore(data: KeyStoreData): Buffer {
  if (!/^[0-9a-f]{16}$/.test(data.keyId)) throw new RangeError('key ID must be 16 hex characters');
  if (data.slots.length < 1 || data.slots.length > MAX_SLOTS) throw new RangeError(`a key store holds 1 to ${MAX_SLOTS} slots`);
  const names = new Set<string>();
  const parts: Buffer[] = [];
  const head = Buffer.alloc(HEADER_BYTES);
  KEYSTORE_MAGIC.copy(head, 0);
  head.writeUInt16BE(KEYSTORE_VERSION, 4);
  head[6] = data.slots.length;
  head[7] = 0;
  Buffer.from(data.keyId, 'hex').copy(head, 8);
  parts.push(head);
  for (const slot of data.slots) {
    checkSlot(slot);
    if (names.has(slot.name)) throw new RangeError(`duplicate slot name ${slot.name}`);
    names.add(slot.name);
    const body = Buffer.concat([slotDescriptor(slot), slot.sealed]);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(body.length);
    parts.push(len, body);
  }
  const bytes = Buffer.concat(parts);
  return Buffer.concat([bytes, createHash('sha256').update(bytes).digest()]);
}

/** Parses and validates a key store; `file` names it in errors. */
export function decodeKeyStore(bytes: Buffer, file: string): KeyStoreData {
  const corrupt = (what: string) => new CorruptFileError(file, what);
  if (bytes.length < 4 || !bytes.subarray(0, 4).equals(KEYSTORE_MAGIC)) {
    throw corrupt(bytes.length === 0 ? 'empty file, not a homecrypt key store' : 'not a homecrypt key store (bad magic)');
  }
  if (bytes.length < HEADER_BYTES) throw corrupt(`truncated: ${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const version = bytes.readUInt16BE(4);
  if (version !== KEYSTORE_VERSION) {
    throw new UnsupportedFormatError(file, `key store version ${version}; this build reads version ${KEYSTORE_VERSION}`);
  }
  const count = bytes[6];
  if (count < 1 || count > MAX_SLOTS) throw corrupt(`slot count ${count} out of range 1..${MAX_SLOTS}`);
  if (bytes[7] !== 0) throw corrupt('reserved header byte is not zero');
  const keyId = bytes.subarray(8, 8 + KEY_ID_BYTES).toString('hex');

  const slots: KeySlot[] = [];
  const names = new Set<string>();
  let o = HEADER_BYTES;
  const need = (n: number, what: string) => {
    if (o + n > bytes.length - CHECKSUM_BYTES) throw corrupt(`truncated in ${what} of slot ${slots.length + 1}`);
  };
  for (let i = 0; i < count; i++) {
    need(2, 'the length');
    const len = bytes.readUInt16BE(o);
    o += 2;
    need(len, 'the body');
    const end = o + len;
    const body = bytes.subarray(o, end);
    const fixed = 1 + 1 + 1 + 4 + 4 + 1 + SALT_BYTES + GCM_NONCE_BYTES + SEALED_BYTES;
    if (len < fixed + 1) throw corrupt(`slot ${i + 1}: record length ${len} too short`);
    let p = 0;
    const kindCode = body[p++];
    const kind = (Object.keys(KIND_CODES) as SlotKind[]).find((k) => KIND_CODES[k] === kindCode);
    if (!kind) throw corrupt(`slot ${i + 1}: unknown slot kind ${kindCode}`);
    const nameLen = body[p++];
    if (nameLen < 1 || nameLen > MAX_NAME_BYTES || len !== fixed + nameLen) {
      throw corrupt(`slot ${i + 1}: name length ${nameLen} does not fit record length ${len}`);
    }
    const name = body.subarray(p, p + nameLen).toString('latin1');
    p += nameLen;
    if (!isValidSlotName(name)) throw corrupt(`slot ${i + 1}: invalid slot name`);
    if (names.has(name)) throw corrupt(`duplicate slot name ${name}`);
    names.add(name);
    const kdfId = body[p++];
    if (kdfId !== KDF_ARGON2ID) throw new UnsupportedFormatError(file, `slot ${name}: unknown KDF ${kdfId}`);
    const kdf: Argon2idParams = {
      iterations: body.readUInt32BE(p),
      memoryKiB: body.readUInt32BE(p + 4),
      parallelism: body[p + 8],
    };
    p += 9;
    for (const k of ['iterations', 'memoryKiB', 'parallelism'] as const) {
      if (kdf[k] < KDF_LIMITS[k].min || kdf[k] > KDF_LIMITS[k].max) {
        throw corrupt(`slot ${name}: KDF ${k} ${kdf[k]} out of range ${KDF_LIMITS[k].min}..${KDF_LIMITS[k].max}`);
      }
    }
    if (kdf.memoryKiB < 8 * kdf.parallelism) throw corrupt(`slot ${name}: KDF memory below 8 KiB per lane`);
    const salt = Buffer.from(body.subarray(p, p + SALT_BYTES));
    p += SALT_BYTES;
    const nonce = Buffer.from(body.subarray(p, p + GCM_NONCE_BYTES));
    p += GCM_NONCE_BYTES;
    const sealed = Buffer.from(body.subarray(p, p + SEALED_BYTES));
    slots.push({ kind, name, kdf, salt, nonce, sealed });
    o = end;
  }
  if (bytes.length - o !== CHECKSUM_BYTES) {
    throw corrupt(
      bytes.length - o < CHECKSUM_BYTES ? 'truncated in the checksum' : `${bytes.length - o - CHECKSUM_BYTES} unexpected bytes after the last slot`,
    );
  }
  const digest = createHash('sha256').update(bytes.subarray(0, o)).digest();
  if (!secretsEqual(digest, bytes.subarray(o))) throw corrupt('checksum mismatch (the file was damaged or altered)');
  return { version, keyId, slots };
}
