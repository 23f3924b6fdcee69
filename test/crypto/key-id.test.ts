import { describe, expect, it } from 'vitest';
import { keyIdOf } from '../../src/crypto/key-id.js';
import { hkdfSha256 } from '../../src/crypto/hkdf.js';
import { vectors } from '../helpers/key-store-vectors.js';

describe('key ID', () => {
  it('is 16 lowercase hex characters, the committed vector for the vector key', () => {
    expect(keyIdOf(Buffer.from(vectors.mountKeyHex, 'hex'))).toBe(vectors.keyId);
    expect(vectors.keyId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('is HKDF-SHA256 of the mount key under its own label, not a prefix of the key or of other subkeys', () => {
    const key = Buffer.from(vectors.mountKeyHex, 'hex');
    expect(keyIdOf(key)).toBe(hkdfSha256(key, 'homecrypt key-id v1', 8).toString('hex'));
    expect(key.toString('hex')).not.toContain(keyIdOf(key));
    expect(hkdfSha256(key, 'homecrypt name-key v1', 8).toString('hex')).not.toBe(keyIdOf(key));
  });

  it('differs for different keys', () => {
    const a = Buffer.alloc(32, 1);
    const b = Buffer.from(a);
    b[31] ^= 1;
    expect(keyIdOf(a)).not.toBe(keyIdOf(b));
  });
});
