// AES in ECB mode without padding. eCryptfs uses it where it wraps one key with
// another (file keys in tag 3 packets, wrapped-passphrase files) and, a quirk of
// the kernel's cipher cache, for file names too ("ecb(aes)" with a zero "IV").
import { createCipheriv, createDecipheriv } from 'node:crypto';

function algo(key: Buffer): string {
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) throw new RangeError(`bad AES key length ${key.length}`);
  return `aes-${key.length * 8}-ecb`;
}

export function aesEcbEncrypt(key: Buffer, data: Buffer): Buffer {
  if (data.length % 16 !== 0) throw new RangeError('AES-ECB input must be whole blocks');
  const c = createCipheriv(algo(key), key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

export function aesEcbDecrypt(key: Buffer, data: Buffer): Buffer {
  if (data.length % 16 !== 0) throw new RangeError('AES-ECB input must be whole blocks');
  const d = createDecipheriv(algo(key), key, null);
  d.setAutoPadding(false);
  return Buffer.concat([d.update(data), d.final()]);
}
