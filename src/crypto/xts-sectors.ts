// AES-XTS for runs of sectors (the LUKS2 block engine's aes-xts-plain64).
// Node's crypto has no way to re-IV a cipher object, so per-sector XTS there
// is either a new object per sector (~45 us at 4 KiB) or the ECB composition
// in src/format/luks2/sector-cipher.ts (bounded by its JS XOR passes). Where
// the system's libcrypto (OpenSSL 3) can be loaded through koffi, the sectors
// go through OpenSSL's own XTS on one reused EVP context per direction: the key
// schedule is set once, and each sector costs one EVP_CipherInit_ex with only
// its 16-byte IV plus one EVP_CipherUpdate, in place. Otherwise (or with
// HOMECRYPT_NODE_CRYPTO=1) callers use their Node path. Same bytes (tested).
import { nativeLibrary } from '../os/libc.js';
import { addressesAvailable, addressOf } from './buffer-address.js';
import { secretsEqual } from './constant-time.js';

export interface XtsSectors {
  /**
   * Encrypts or decrypts `data` in place, sector by sector; sector s gets the
   * 16-byte IV whose first 8 bytes are (firstIv + s * ivStep) little-endian.
   * Returns false when this key is refused (e.g. OpenSSL's equal-halves check):
   * the caller then uses its own path; `data` is untouched in that case.
   * With `out` (as long as `data`, not overlapping it) the result goes there
   * and `data` is left as it was.
   */
  crypt(key: Buffer, sectorSize: number, firstIv: bigint, ivStep: number, data: Buffer, encrypt: boolean, out?: Buffer): boolean;
}

type Fn = (...a: unknown[]) => number;

interface Dir {
  ctx: unknown;
  key: Buffer;
  keyLen: number;
}

function loadLibcrypto(): XtsSectors | null {
  let lib;
  try {
    lib = nativeLibrary('libcrypto.so.3');
  } catch {
    return null;
  }
  let ctxNew: () => unknown, init: Fn, update: Fn, x256: unknown, x128: unknown;
  try {
    ctxNew = lib.func('void *EVP_CIPHER_CTX_new()') as unknown as () => unknown;
    x256 = (lib.func('const void *EVP_aes_256_xts()') as unknown as () => unknown)();
    x128 = (lib.func('const void *EVP_aes_128_xts()') as unknown as () => unknown)();
    // data pointers as plain integers (buffer-address.ts); sizes are checked first
    init = lib.func('int EVP_CipherInit_ex(void *ctx, const void *type, void *impl, uintptr_t key, uintptr_t iv, int enc)') as unknown as Fn;
    update = lib.func('int EVP_CipherUpdate(void *ctx, uintptr_t out, uintptr_t outl, uintptr_t in, int inl)') as unknown as Fn;
  } catch {
    return null;
  }
  if (!addressesAvailable()) return null;
  const mk = (): Dir | null => {
    const ctx = ctxNew();
    return ctx ? { ctx, key: Buffer.alloc(64), keyLen: 0 } : null;
  };
  const enc = mk();
  const dec = mk();
  if (!enc || !dec || !x256 || !x128) return null;
  // IV (16) and outl (4); addresses taken per call so the closure keeps it alive
  const scratch = Buffer.alloc(32);
  const iv = scratch.subarray(0, 16);
  const LIMIT = 2n ** 64n;

  return {
    crypt(key, sectorSize, firstIv, ivStep, data, encrypt, out) {
      if (
        (key.length !== 64 && key.length !== 32) ||
        sectorSize % 16 !== 0 ||
        data.length % sectorSize !== 0 ||
        sectorSize <= 0 ||
        (out !== undefined && out.length !== data.length)
      ) {
        throw new RangeError('xts: bad sizes');
      }
      if (
        out &&
        out.buffer === data.buffer &&
        out.byteOffset < data.byteOffset + data.length &&
        data.byteOffset < out.byteOffset + out.length &&
        out.byteOffset !== data.byteOffset
      ) {
        throw new RangeError('xts: out overlaps data');
      }
      const d = encrypt ? enc : dec;
      // the key schedule is kept while the key stays the same (compared by
      // value, in constant time: a caller may reuse or wipe its buffer)
      if (d.keyLen !== key.length || !secretsEqual(d.key.subarray(0, key.length), key)) {
        d.keyLen = 0;
        if (init(d.ctx, key.length === 64 ? x256 : x128, null, addressOf(key), 0, encrypt ? 1 : 0) !== 1) return false;
        key.copy(d.key);
        d.keyLen = key.length;
      }
      // IV words as plain numbers while they stay below 2^53 (always, for real
      // volumes); BigInt only at the edge
      const sectors = data.length / sectorSize;
      const last = firstIv + BigInt(ivStep) * BigInt(Math.max(0, sectors - 1));
      const small = firstIv >= 0n && last < 2n ** 53n;
      let n = small ? Number(firstIv) : 0;
      const ivAt = addressOf(scratch);
      const outl = ivAt + 16;
      const src = addressOf(data);
      const dst = out ? addressOf(out) : src;
      for (let s = 0, off = 0; s < sectors; s++, off += sectorSize) {
        if (small) {
          iv.writeUInt32LE(n % 0x100000000, 0);
          iv.writeUInt32LE(Math.floor(n / 0x100000000), 4);
          n += ivStep;
        } else {
          iv.writeBigUInt64LE((((firstIv + BigInt(ivStep) * BigInt(s)) % LIMIT) + LIMIT) % LIMIT, 0);
        }
        if (init(d.ctx, null, null, 0, ivAt, -1) !== 1) throw new Error('EVP_CipherInit_ex (IV) failed');
        if (update(d.ctx, dst + off, outl, src + off, sectorSize) !== 1) throw new Error('EVP_CipherUpdate (XTS) failed');
      }
      return true;
    },
  };
}

let chosen: XtsSectors | null | undefined;

/** OpenSSL's XTS through koffi, or null when libcrypto is unavailable (or HOMECRYPT_NODE_CRYPTO is set). */
export function xtsSectors(): XtsSectors | null {
  if (chosen === undefined) chosen = process.env.HOMECRYPT_NODE_CRYPTO ? null : loadLibcrypto();
  return chosen;
}

/** For tests: force the choice (null = Node path). */
export function setXtsSectorsForTest(x: XtsSectors | null | undefined): void {
  chosen = x;
}
