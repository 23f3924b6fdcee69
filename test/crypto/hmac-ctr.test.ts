// HMAC-SHA256 and AES-256-CTR through libcrypto (src/crypto/hmac-ctr.ts) give
// Node's bytes for every length a name, a symlink target or an xattr name can
// have, across key changes (the CTR context keeps a key schedule) and with
// the counter wrapping inside the data.
import { describe, expect, it } from 'vitest';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { hmacCtr } from '../../src/crypto/hmac-ctr.js';
import { addressLookups } from '../../src/crypto/buffer-address.js';

describe('hmacCtr', () => {
  it('is libcrypto on this machine (Debian libssl3), and agrees with Node for random inputs', () => {
    const impl = hmacCtr();
    expect(impl.name).toBe(process.env.HOMECRYPT_NODE_CRYPTO ? 'node' : 'libcrypto');
    const keys = [randomBytes(32), randomBytes(32)];
    for (let i = 0; i < 400; i++) {
      const key = keys[i % 2]!;
      const data = randomBytes(i % 7 === 0 ? 0 : Math.floor(Math.random() * 4200));
      const iv = i % 5 === 0 ? Buffer.alloc(16, 0xff) : randomBytes(16);
      expect(impl.hmacSha256(key, data).equals(createHmac('sha256', key).update(data).digest())).toBe(true);
      const c = createCipheriv('aes-256-ctr', key, iv);
      expect(impl.aes256Ctr(key, iv, data).equals(Buffer.concat([c.update(data), c.final()]))).toBe(true);
    }
  });

  it('follows a key changed in place in the caller’s buffer', () => {
    const impl = hmacCtr();
    const key = Buffer.alloc(32, 1);
    const iv = Buffer.alloc(16, 2);
    const data = Buffer.from('the same name');
    const first = impl.aes256Ctr(key, iv, data);
    key[0] = 9;
    const c = createCipheriv('aes-256-ctr', key, iv);
    const expected = Buffer.concat([c.update(data), c.final()]);
    expect(expected.equals(first)).toBe(false);
    expect(impl.aes256Ctr(key, iv, data).equals(expected)).toBe(true);
  });

  it('gives each caller a result of its own (the results are made in buffers it reuses)', () => {
    const impl = hmacCtr();
    const key = randomBytes(32);
    const iv = randomBytes(16);
    const a = impl.hmacSha256(key, Buffer.from('a'));
    const b = impl.hmacSha256(key, Buffer.from('b'));
    expect(a.equals(createHmac('sha256', key).update('a').digest())).toBe(true);
    expect(a.equals(b)).toBe(false);
    const x = impl.aes256Ctr(key, iv, Buffer.from('first name'));
    const y = impl.aes256Ctr(key, iv, Buffer.from('other text'));
    const c = createCipheriv('aes-256-ctr', key, iv);
    expect(x.equals(Buffer.concat([c.update('first name'), c.final()]))).toBe(true);
    expect(x.equals(y)).toBe(false);
    y.fill(0); // a caller wiping its result touches nothing of the next one
    const d = createCipheriv('aes-256-ctr', key, iv);
    expect(impl.aes256Ctr(key, iv, Buffer.from('third')).equals(Buffer.concat([d.update('third'), d.final()]))).toBe(true);
  });

  it('refuses a key or IV of the wrong size', () => {
    expect(() => hmacCtr().aes256Ctr(Buffer.alloc(16), Buffer.alloc(16), Buffer.alloc(1))).toThrow();
    expect(() => hmacCtr().aes256Ctr(Buffer.alloc(32), Buffer.alloc(12), Buffer.alloc(1))).toThrow();
  });
});

describe('hmacCtr, per name', () => {
  // a listing decrypts every name: an output in a new ArrayBuffer each time
  // made libc look up two addresses per name (docs/BENCHMARKS.md, "Session 8: md5 row")
  it('looks up no new buffer address per call (outputs come from Node’s pool)', () => {
    const impl = hmacCtr();
    if (impl.name !== 'libcrypto') return; // Node's crypto takes no addresses
    const key = randomBytes(32);
    const iv = randomBytes(16);
    const names = Array.from({ length: 1000 }, (_, i) => Buffer.from(`file-${i}.js`));
    const before = addressLookups();
    for (const n of names) {
      impl.hmacSha256(key, n);
      impl.aes256Ctr(key, iv, n);
    }
    // a new pool chunk every 8 KiB of small Buffers: ~60 bytes a name here
    expect(addressLookups() - before).toBeLessThan(50);
  });
});
