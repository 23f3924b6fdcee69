// One keyslot: Argon2id turns a secret into a key-encryption key, and
// AES-256-GCM wraps the mount key under it with the slot's parameters as
// additional data. A wrong secret and a tampered slot both fail the tag.
import { argon2id, type Argon2idParams } from '../crypto/argon2id.js';
import { gcmOpen, gcmSeal, GCM_NONCE_BYTES } from '../crypto/aead.js';
import { randomBytes } from '../crypto/random.js';
import { AuthenticationError } from '../errors.js';
import { SALT_BYTES, slotAad, type KeySlot, type SlotKind } from '../format/key-store-layout.js';

export async function sealSlot(mountKey: Buffer, keyId: string, secret: Buffer, kind: SlotKind, name: string, kdf: Argon2idParams): Promise<KeySlot> {
  const slot: KeySlot = {
    kind,
    name,
    kdf: { ...kdf },
    salt: randomBytes(SALT_BYTES),
    nonce: randomBytes(GCM_NONCE_BYTES),
    sealed: Buffer.alloc(0),
  };
  const kek = await argon2id(secret, slot.salt, slot.kdf);
  try {
    slot.sealed = gcmSeal(kek, slot.nonce, mountKey, slotAad(keyId, slot));
  } finally {
    kek.fill(0);
  }
  return slot;
}

/** The mount key, or null when the secret does not open this slot. */
export async function openSlot(slot: KeySlot, keyId: string, secret: Buffer): Promise<Buffer | null> {
  const kek = await argon2id(secret, slot.salt, slot.kdf);
  try {
    return gcmOpen(kek, slot.nonce, slot.sealed, slotAad(keyId, slot));
  } catch (err) {
    if (err instanceof AuthenticationError) return null;
    throw err;
  } finally {
    kek.fill(0);
  }
}
