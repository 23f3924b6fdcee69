// AES-256-GCM for many small blocks (the engine's 4 KiB content blocks).
// Node's crypto builds a new Cipheriv object (a stream) per block, which costs
// far more than the AES itself at 4 KiB (measured: ~20 us per block against
// ~6 us when OpenSSL's EVP calls are made directly on one reused context; see
// docs/BENCHMARKS.md). So where the system's libcrypto (OpenSSL 3, Debian's
// libssl3) can be loaded through koffi, blocks go through it; otherwise, or with
// HOMECRYPT_NODE_CRYPTO=1, through Node's crypto. Both are the same OpenSSL
// AES-256-GCM and produce identical bytes (tested against each other and
// against the committed vectors).
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { secretsEqual } from './constant-time.js';
import { nativeLibrary } from '../os/libc.js';
import { addressesAvailable, addressOf } from './buffer-address.js';

export interface BlockGcm {
  readonly name: 'libcrypto' | 'node';
  /** Writes ciphertext || tag (plain.length + 16 bytes) into `out` at `at`. */
  seal(key: Buffer, nonce: Buffer, aad: Buffer, plain: Buffer, out: Buffer, at: number): number;
  /** Decrypts `ct` (tag apart) into `out` at `at`; false when authentication fails. */
  open(key: Buffer, nonce: Buffer, aad: Buffer, ct: Buffer, tag: Buffer, out: Buffer, at: number): boolean;
  /**
   * open() of a box nonce (12) || ciphertext (ctLen) || tag (16) that starts at
   * src[srcAt]: the engine's read path, without a Buffer view per part.
   */
  openBox(key: Buffer, aad: Buffer, src: Buffer, srcAt: number, ctLen: number, out: Buffer, at: number): boolean;
}

/** openBox through open(): for implementations without a faster way. */
function openBoxVia(impl: Pick<BlockGcm, 'open'>, key: Buffer, aad: Buffer, src: Buffer, srcAt: number, ctLen: number, out: Buffer, at: number): boolean {
  if (!(srcAt >= 0) || !(ctLen >= 0) || src.length < srcAt + 28 + ctLen) throw new RangeError('gcm openBox: bad sizes');
  return impl.open(
    key,
    src.subarray(srcAt, srcAt + 12),
    aad,
    src.subarray(srcAt + 12, srcAt + 12 + ctLen),
    src.subarray(srcAt + 12 + ctLen, srcAt + 28 + ctLen),
    out,
    at,
  );
}

const nodeGcm: BlockGcm = {
  name: 'node',
  seal(key, nonce, aad, plain, out, at) {
    const c = createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(aad);
    let w = at;
    w += c.update(plain).copy(out, w);
    w += c.final().copy(out, w);
    w += c.getAuthTag().copy(out, w);
    return w - at;
  },
  open(key, nonce, aad, ct, tag, out, at) {
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(aad);
    d.setAuthTag(tag);
    const head = d.update(ct);
    try {
      d.final();
    } catch {
      return false;
    }
    head.copy(out, at);
    return true;
  },
  openBox(key, aad, src, srcAt, ctLen, out, at) {
    return openBoxVia(nodeGcm, key, aad, src, srcAt, ctLen, out, at);
  },
};

/** open()'s arguments up to this size in all are copied to one Buffer of known address. */
const STAGE_BYTES = 256;

const EVP_CTRL_GCM_GET_TAG = 0x10;
const EVP_CTRL_GCM_SET_TAG = 0x11;

type Fn = (...a: unknown[]) => number;

function loadLibcrypto(): BlockGcm | null {
  let lib;
  try {
    lib = nativeLibrary('libcrypto.so.3');
  } catch {
    return null;
  }
  if (!addressesAvailable()) return null;
  const f = (sig: string) => lib.func(sig) as unknown as Fn;
  // data pointers are plain integers (buffer-address.ts): each size below is
  // checked against its Buffer before any call, as a raw pointer has no bounds
  const ctxNew = lib.func('void *EVP_CIPHER_CTX_new()') as unknown as () => unknown;
  const gcm = (lib.func('const void *EVP_aes_256_gcm()') as unknown as () => unknown)();
  const encInit = f('int EVP_EncryptInit_ex(void *ctx, const void *type, void *impl, uintptr_t key, uintptr_t iv)');
  const encUpdate = f('int EVP_EncryptUpdate(void *ctx, uintptr_t out, uintptr_t outl, uintptr_t in, int inl)');
  const encFinal = f('int EVP_EncryptFinal_ex(void *ctx, uintptr_t out, uintptr_t outl)');
  const decInit = f('int EVP_DecryptInit_ex(void *ctx, const void *type, void *impl, uintptr_t key, uintptr_t iv)');
  const decUpdate = f('int EVP_DecryptUpdate(void *ctx, uintptr_t out, uintptr_t outl, uintptr_t in, int inl)');
  const decFinal = f('int EVP_DecryptFinal_ex(void *ctx, uintptr_t out, uintptr_t outl)');
  const ctrl = f('int EVP_CIPHER_CTX_ctrl(void *ctx, int type, int arg, uintptr_t ptr)');
  const enc = ctxNew();
  const dec = ctxNew();
  if (!enc || !dec || !gcm) return null;
  if (encInit(enc, gcm, null, 0, 0) !== 1 || decInit(dec, gcm, null, 0, 0) !== 1) return null;
  // outl (4 bytes) and the final's output (GCM writes none; 16 to spare).
  // Its address is taken at each call, so the closure keeps it alive: an
  // address kept alone would outlive a collected Buffer.
  const scratch = Buffer.alloc(32);
  // the key schedule is kept while the key stays the same (compared by value:
  // a caller may reuse or wipe its buffer; in constant time, as keys are
  // secrets: measured the same cost as Buffer.equals, ~45 ns). A new key is handed to OpenSSL
  // from these copies, whose addresses are known: each file has its own
  // content key in its own small Buffer, and taking the address of a new
  // ArrayBuffer costs more than the copy (buffer-address.ts)
  const encKey = { copy: Buffer.alloc(32), set: false };
  const decKey = { copy: Buffer.alloc(32), set: false };
  /** Sets the context's key (kept while it stays the same) and nonce. */
  const keyed = (init: Fn, ctx: unknown, kept: { copy: Buffer; set: boolean }, key: Buffer, nonce: number, what: string): void => {
    const same = kept.set && secretsEqual(kept.copy, key);
    if (!same) {
      kept.set = false;
      key.copy(kept.copy);
    }
    if (init(ctx, null, null, same ? 0 : addressOf(kept.copy), nonce) !== 1) throw new Error(`${what} failed`);
    kept.set = true;
  };
  // open()'s small arguments (a file header's unwrap: nonce, AAD, wrapped
  // key, tag and the key out, each a Buffer made for that one header) pass
  // through here for the same reason
  const stage = Buffer.alloc(STAGE_BYTES);
  /** The EVP calls of open and openBox, on addresses their callers have bounds-checked. */
  const decrypt = (key: Buffer, nonce: number, aad: number, aadLen: number, ct: number, ctLen: number, tag: number, out: number): boolean => {
    const outl = addressOf(scratch);
    keyed(decInit, dec, decKey, key, nonce, 'EVP_DecryptInit_ex');
    if (decUpdate(dec, 0, outl, aad, aadLen) !== 1) return false;
    if (ctLen > 0 && decUpdate(dec, out, outl, ct, ctLen) !== 1) return false;
    if (ctrl(dec, EVP_CTRL_GCM_SET_TAG, 16, tag) !== 1) return false;
    return decFinal(dec, outl + 16, outl) === 1;
  };
  const impl: BlockGcm = {
    name: 'libcrypto',
    seal(key, nonce, aad, plain, out, at) {
      if (nonce.length !== 12 || key.length !== 32 || !(at >= 0) || out.length < at + plain.length + 16) throw new RangeError('gcm seal: bad sizes');
      const outl = addressOf(scratch);
      const fin = outl + 16;
      keyed(encInit, enc, encKey, key, addressOf(nonce), 'EVP_EncryptInit_ex');
      if (encUpdate(enc, 0, outl, addressOf(aad), aad.length) !== 1) throw new Error('EVP_EncryptUpdate (AAD) failed');
      const o = addressOf(out) + at;
      if (plain.length > 0 && encUpdate(enc, o, outl, addressOf(plain), plain.length) !== 1) {
        throw new Error('EVP_EncryptUpdate failed');
      }
      if (encFinal(enc, fin, outl) !== 1) throw new Error('EVP_EncryptFinal_ex failed');
      if (ctrl(enc, EVP_CTRL_GCM_GET_TAG, 16, o + plain.length) !== 1) throw new Error('EVP_CTRL_GCM_GET_TAG failed');
      return plain.length + 16;
    },
    open(key, nonce, aad, ct, tag, out, at) {
      if (nonce.length !== 12 || key.length !== 32 || tag.length !== 16 || !(at >= 0) || out.length < at + ct.length)
        throw new RangeError('gcm open: bad sizes');
      const n = ct.length;
      if (12 + aad.length + 16 + 2 * n > STAGE_BYTES) {
        return decrypt(key, addressOf(nonce), addressOf(aad), aad.length, addressOf(ct), n, addressOf(tag), addressOf(out) + at);
      }
      // staged: nonce (12) | tag (16) | AAD | ciphertext | plaintext
      const base = addressOf(stage);
      nonce.copy(stage, 0);
      tag.copy(stage, 12);
      aad.copy(stage, 28);
      const ctAt = 28 + aad.length;
      ct.copy(stage, ctAt);
      const ok = decrypt(key, base, base + 28, aad.length, base + ctAt, n, base + 12, base + ctAt + n);
      if (ok) stage.copy(out, at, ctAt + n, ctAt + 2 * n);
      stage.fill(0, ctAt + n, ctAt + 2 * n); // no plaintext (a key) left behind
      return ok;
    },
    openBox(key, aad, src, srcAt, ctLen, out, at) {
      if (key.length !== 32 || !(srcAt >= 0) || !(ctLen >= 0) || src.length < srcAt + 28 + ctLen || !(at >= 0) || out.length < at + ctLen)
        throw new RangeError('gcm openBox: bad sizes');
      const box = addressOf(src) + srcAt;
      return decrypt(key, box, addressOf(aad), aad.length, box + 12, ctLen, box + 12 + ctLen, addressOf(out) + at);
    },
  };
  // a self-test against Node's crypto before trusting it
  try {
    const k = Buffer.alloc(32, 3);
    const n = Buffer.alloc(12, 5);
    const a = Buffer.from('aad');
    const p = Buffer.from('homecrypt self-test block');
    const x = Buffer.alloc(p.length + 16);
    const y = Buffer.alloc(p.length + 16);
    impl.seal(k, n, a, p, x, 0);
    nodeGcm.seal(k, n, a, p, y, 0);
    const back = Buffer.alloc(p.length);
    if (!x.equals(y) || !impl.open(k, n, a, x.subarray(0, p.length), x.subarray(p.length), back, 0) || !back.equals(p)) return null;
    x[0]! ^= 1;
    if (impl.open(k, n, a, x.subarray(0, p.length), x.subarray(p.length), back, 0)) return null;
  } catch {
    return null;
  }
  return impl;
}

let chosen: BlockGcm | null = null;

/** The fastest working implementation (libcrypto through koffi, else Node). */
export function blockGcm(): BlockGcm {
  if (!chosen) chosen = (process.env.HOMECRYPT_NODE_CRYPTO ? null : loadLibcrypto()) ?? nodeGcm;
  return chosen;
}

export { nodeGcm };
