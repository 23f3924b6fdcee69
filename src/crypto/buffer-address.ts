// Raw addresses of Buffers, for the libcrypto calls made through koffi on the
// data path (gcm-blocks.ts, xts-sectors.ts). Handing koffi a Buffer costs an
// N-API buffer lookup per argument; with five EVP calls per 4 KiB block that
// was most of the overhead above the AES itself (1.53 against 1.37 us a block
// sealed, raw OpenSSL 1.07; docs/BENCHMARKS.md). An integer costs next to nothing.
//
// Why an address stays valid: a Buffer's bytes live in its ArrayBuffer's
// backing store, which V8 never moves once it exists off the V8 heap. Reading
// `.buffer` forces that (a small typed array otherwise lives on the heap and
// can move in a GC), and the caller holds the Buffer during the call. A raw
// pointer has no bounds: every caller checks its offsets and lengths first.
import { libc } from '../os/libc.js';

type AddrFn = (dst: Uint8Array, src: Uint8Array, n: number) => number | bigint;

let addrFn: AddrFn | null | undefined;
// base address of each ArrayBuffer seen (entries go with their ArrayBuffer)
const bases = new WeakMap<ArrayBufferLike, number>();
// the few buffers the data path uses block after block (key, AAD, request,
// output, scratch), checked by identity before the WeakMap; held strongly, so
// at worst a few buffers' memory lives until they are pushed out
const RECENT = 8;
const recentAb: (ArrayBufferLike | null)[] = new Array(RECENT).fill(null);
const recentBase = new Float64Array(RECENT);
let nextSlot = 0;
/** Addresses asked of libc so far (one per new ArrayBuffer): what a caller's allocations cost here. */
let lookups = 0;

function load(): AddrFn | null {
  try {
    // memmove(dst, src, 0) copies nothing and returns dst: the address koffi passed
    return libc().func('uintptr_t memmove(uint8_t *dst, const uint8_t *src, size_t n)') as unknown as AddrFn;
  } catch {
    return null;
  }
}

/** True when addresses can be taken (libc loads through koffi). */
export function addressesAvailable(): boolean {
  if (addrFn === undefined) addrFn = load();
  return addrFn !== null;
}

/**
 * The address of buf[0], valid while `buf` is alive. Throws when addresses are
 * unavailable (check addressesAvailable() first).
 */
export function addressOf(buf: Uint8Array): number {
  const ab = buf.buffer; // first: moves a small on-heap array off the heap for good
  for (let i = 0; i < RECENT; i++) if (recentAb[i] === ab) return recentBase[i]! + buf.byteOffset;
  let base = bases.get(ab);
  if (base === undefined) {
    if (!addressesAvailable()) throw new Error('buffer addresses are unavailable');
    if (ab.byteLength === 0) return 0; // nothing there to point at; never dereferenced
    const whole = new Uint8Array(ab, 0, ab.byteLength);
    lookups++;
    const a = addrFn!(whole, whole, 0);
    base = typeof a === 'bigint' ? Number(a) : a;
    if (!Number.isSafeInteger(base) || base <= 0) throw new Error('bad buffer address');
    bases.set(ab, base);
  }
  recentAb[nextSlot] = ab;
  recentBase[nextSlot] = base;
  nextSlot = (nextSlot + 1) % RECENT;
  return base + buf.byteOffset;
}

/** How many ArrayBuffers' addresses were asked of libc (each a koffi call and a WeakMap entry): for tests. */
export function addressLookups(): number {
  return lookups;
}
