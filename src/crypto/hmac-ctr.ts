// HMAC-SHA256 and AES-256-CTR over short inputs: the two halves of the SIV
// that seals every file name (src/format/names.ts). Node's crypto builds a
// new Hmac and a new Cipheriv object per call, which for a name of a few
// dozen bytes costs ~10-20 us each on this machine's 2 cores against ~1-2 us
// for the same OpenSSL work called directly (docs/BENCHMARKS.md, "Session 6"):
// a cold `ls -lR` decrypts every name it lists. So where the system's
// libcrypto (OpenSSL 3) loads through koffi, they go through it: HMAC() in one
// call, and CTR on one reused cipher context whose key schedule is kept while
// the key stays the same. Otherwise, or with HOMECRYPT_NODE_CRYPTO=1, through
// Node's crypto. Same OpenSSL, same bytes: checked against Node at load time.
import { createCipheriv, createHmac } from 'node:crypto';
import { secretsEqual } from './constant-time.js';
import { nativeLibrary } from '../os/libc.js';
import { addressesAvailable, addressOf } from './buffer-address.js';

export interface HmacCtr {
  readonly name: 'libcrypto' | 'node';
  /** HMAC-SHA256(key, data): 32 bytes. */
  hmacSha256(key: Buffer, data: Buffer): Buffer;
  /** AES-256-CTR(key, iv (16 bytes), data): data.length bytes. */
  aes256Ctr(key: Buffer, iv: Buffer, data: Buffer): Buffer;
}

const nodeHmacCtr: HmacCtr = {
  name: 'node',
  hmacSha256: (key, data) => createHmac('sha256', key).update(data).digest(),
  aes256Ctr(key, iv, data) {
    const c = createCipheriv('aes-256-ctr', key, iv);
    return Buffer.concat([c.update(data), c.final()]);
  },
};

type Fn = (...a: unknown[]) => unknown;

function loadLibcrypto(): HmacCtr | null {
  let lib;
  try {
    lib = nativeLibrary('libcrypto.so.3');
  } catch {
    return null;
  }
  if (!addressesAvailable()) return null;
  const f = (sig: string) => lib.func(sig) as unknown as Fn;
  // data pointers are plain integers (buffer-address.ts): every length is that of its Buffer
  const sha256 = f('const void *EVP_sha256()')();
  const ctr = f('const void *EVP_aes_256_ctr()')();
  const hmac = f('uintptr_t HMAC(const void *md, uintptr_t key, int keyLen, uintptr_t data, size_t n, uintptr_t md_out, uintptr_t md_len)');
  const ctx = f('void *EVP_CIPHER_CTX_new()')();
  const init = f('int EVP_EncryptInit_ex(void *ctx, const void *type, void *impl, uintptr_t key, uintptr_t iv)');
  const update = f('int EVP_EncryptUpdate(void *ctx, uintptr_t out, uintptr_t outl, uintptr_t in, int inl)');
  if (!sha256 || !ctr || !ctx || init(ctx, ctr, null, 0, 0) !== 1) return null;
  // HMAC's length out, CTR's outl (the closure keeps it alive: see gcm-blocks.ts)
  const scratch = Buffer.alloc(8);
  const ctrKey = Buffer.alloc(32);
  let ctrSet = false;
  // the results land in buffers made once and are copied out (Buffer.from: Node's
  // pooled slab): a new Buffer per call would cost the taking of its address (an
  // off-heap move and a native call, buffer-address.ts) more than the HMAC itself
  const mac = Buffer.alloc(32);
  const stream = Buffer.alloc(1024); // a name's bytes (255 at most) and a symlink target's (4 KiB: allocated)
  const impl: HmacCtr = {
    name: 'libcrypto',
    hmacSha256(key, data) {
      if (!hmac(sha256, addressOf(key), key.length, data.length ? addressOf(data) : 0, data.length, addressOf(mac), addressOf(scratch))) {
        throw new Error('HMAC failed');
      }
      return Buffer.from(mac);
    },
    aes256Ctr(key, iv, data) {
      if (key.length !== 32 || iv.length !== 16) throw new RangeError('aes-256-ctr: bad key or IV size');
      const into = data.length <= stream.length ? stream : Buffer.alloc(data.length);
      const out = into.subarray(0, data.length);
      const same = ctrSet && secretsEqual(ctrKey, key);
      if (init(ctx, null, null, same ? 0 : addressOf(key), addressOf(iv)) !== 1) throw new Error('EVP_EncryptInit_ex failed');
      if (!same) {
        key.copy(ctrKey);
        ctrSet = true;
      }
      if (data.length > 0 && update(ctx, addressOf(out), addressOf(scratch), addressOf(data), data.length) !== 1) {
        throw new Error('EVP_EncryptUpdate failed');
      }
      return into === stream ? Buffer.from(out) : out;
    },
  };
  // a self-test against Node's crypto before trusting it (two keys: the kept schedule must follow a change)
  try {
    for (const k of [Buffer.alloc(32, 7), Buffer.alloc(32, 9)]) {
      const iv = Buffer.alloc(16, 0xfe); // the counter wraps inside the second block
      for (const d of [Buffer.alloc(0), Buffer.from('a name'), Buffer.alloc(300, 0x41)]) {
        if (!impl.hmacSha256(k, d).equals(nodeHmacCtr.hmacSha256(k, d))) return null;
        if (!impl.aes256Ctr(k, iv, d).equals(nodeHmacCtr.aes256Ctr(k, iv, d))) return null;
      }
    }
  } catch {
    return null;
  }
  ctrSet = false; // the self-test's key is not kept
  return impl;
}

let chosen: HmacCtr | null = null;

/** The fastest working implementation (libcrypto through koffi, else Node). */
export function hmacCtr(): HmacCtr {
  if (!chosen) chosen = (process.env.HOMECRYPT_NODE_CRYPTO ? null : loadLibcrypto()) ?? nodeHmacCtr;
  return chosen;
}

export { nodeHmacCtr };
