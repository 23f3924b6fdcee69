// Argon2id parameters for new LUKS2 keyslots, calibrated the way cryptsetup
// does it (so the volume behaves like one luksFormat made): at least 4 passes,
// memory up to 1 GiB (never more than a quarter of RAM), up to 4 lanes; memory
// grows first, then passes. A small target (tests use 0.05 s) shrinks memory.
import { cpus, totalmem } from 'node:os';
import { argon2id } from '../crypto/argon2id.js';
import { randomBytes } from '../crypto/random.js';
import { UsageError } from '../errors.js';
import type { Kdf } from '../format/luks2/metadata.js';

export const DEFAULT_KDF_TIME_SECONDS = 2; // cryptsetup's --iter-time default
const MIN_PASSES = 4;
const MIN_MEMORY_KIB = 1024;
const TRIAL_MEMORY_KIB = 16 * 1024;

export function checkKdfTime(seconds: number): void {
  if (!Number.isFinite(seconds) || seconds < 0.01 || seconds > 60) {
    throw new UsageError(`--kdf-time must be between 0.01 and 60 seconds (got ${seconds})`);
  }
}

async function timeMs(memoryKiB: number, iterations: number, parallelism: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  (await argon2id(Buffer.from('calibration'), Buffer.alloc(32), { memoryKiB, iterations, parallelism })).fill(0);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export type Argon2Kdf = Extract<Kdf, { type: 'argon2id' | 'argon2i' }>;

const cache = new Map<number, Omit<Argon2Kdf, 'salt'>>();

/** Fresh argon2id parameters (with a new salt) costing about `seconds` here. */
export async function calibrateLuksArgon2id(seconds = DEFAULT_KDF_TIME_SECONDS): Promise<Argon2Kdf> {
  checkKdfTime(seconds);
  let p = cache.get(seconds);
  if (!p) {
    const target = seconds * 1000;
    const lanes = Math.max(1, Math.min(4, cpus().length));
    const maxMem = Math.min(1024 * 1024, Math.floor(totalmem() / 1024 / 4));
    const trial = await timeMs(TRIAL_MEMORY_KIB, MIN_PASSES, lanes);
    // cost is about linear in memory × passes
    let memory = Math.floor((TRIAL_MEMORY_KIB * target) / trial / 1024) * 1024;
    let time = MIN_PASSES;
    if (memory > maxMem) {
      time = Math.max(MIN_PASSES, Math.floor((MIN_PASSES * memory) / maxMem));
      memory = maxMem;
    }
    memory = Math.max(MIN_MEMORY_KIB, memory);
    p = { type: 'argon2id', time, memory, cpus: lanes };
    cache.set(seconds, p);
  }
  return { ...p, salt: randomBytes(32) };
}

/** PBKDF2 iterations of the volume-key digest: a check, not the barrier (the keyslot KDF is); at least 1000. */
export function digestIterations(seconds: number): number {
  return Math.max(1000, Math.min(1_000_000, Math.floor((seconds * 1000 * 100) / 8)));
}
