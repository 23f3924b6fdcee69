// Argon2id (RFC 9106), the memory-hard KDF of keyslots and LUKS2. Node 20's
// crypto has none, so this wraps the `argon2` package (the reference C code)
// in raw mode.
import argon2 from 'argon2';

export interface Argon2idParams {
  /** passes (t) */
  iterations: number;
  /** memory in KiB (m) */
  memoryKiB: number;
  /** lanes (p) */
  parallelism: number;
}

export async function argon2id(password: Buffer, salt: Buffer, params: Argon2idParams, length = 32): Promise<Buffer> {
  return argon2.hash(password, {
    type: argon2.argon2id,
    raw: true,
    salt,
    timeCost: params.iterations,
    memoryCost: params.memoryKiB,
    parallelism: params.parallelism,
    hashLength: length,
    version: 0x13,
  });
}
