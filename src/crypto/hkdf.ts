// HKDF-SHA256 (RFC 5869): derives independent subkeys (name key, key ID, …)
// from one mount key, each bound to its own `info` label.
import { hkdfSync } from 'node:crypto';

export function hkdfSha256(ikm: Buffer, info: string, length = 32, salt: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info, 'utf8'), length));
}
