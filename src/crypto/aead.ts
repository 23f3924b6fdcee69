// AES-256-GCM through OpenSSL (AES-NI). One function to seal, one to open; the
// caller supplies the nonce so formats can derive or store it as they document.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { AuthenticationError } from '../errors.js';

export const GCM_KEY_BYTES = 32;
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

/** Returns ciphertext || 16-byte tag. */
export function gcmSeal(key: Buffer, nonce: Buffer, plaintext: Buffer, aad?: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  if (aad) c.setAAD(aad);
  const head = c.update(plaintext);
  const tail = c.final();
  return Buffer.concat([head, tail, c.getAuthTag()]);
}

/** Opens ciphertext || tag; throws AuthenticationError when anything was altered. */
export function gcmOpen(key: Buffer, nonce: Buffer, sealed: Buffer, aad?: Buffer): Buffer {
  if (sealed.length < GCM_TAG_BYTES) throw new AuthenticationError('ciphertext shorter than its tag');
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  if (aad) d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
  const head = d.update(sealed.subarray(0, sealed.length - GCM_TAG_BYTES));
  try {
    return Buffer.concat([head, d.final()]);
  } catch {
    head.fill(0);
    throw new AuthenticationError('authentication failed');
  }
}
