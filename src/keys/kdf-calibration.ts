// Calibrates Argon2id to a target unlock time on this machine: memory first
// (64 MiB, growing to 256 MiB when there is time), then passes. A small target
// (tests use 0.05 s) shrinks memory instead, down to 8 MiB. The result stays
// within one slot's work limit (kdf-budget.ts), so login accepts what setup makes.
import { totalmem } from 'node:os';
import { argon2id, type Argon2idParams } from '../crypto/argon2id.js';
import { UsageError } from '../errors.js';
import { withinSlotLimits } from './kdf-budget.js';

export const DEFAULT_KDF_TIME_SECONDS = 1;
const MIB = 1024;
const BASE_MEMORY_KIB = 64 * MIB;
const MAX_MEMORY_KIB = 256 * MIB;
const MIN_MEMORY_KIB = 8 * MIB;
const PARALLELISM = 1; // portable: the unlock time does not depend on the unlocking machine's cores

const cache = new Map<number, Argon2idParams>();

async function timeMs(params: Argon2idParams): Promise<number> {
  const t0 = process.hrtime.bigint();
  const out = await argon2id(Buffer.from('calibration'), Buffer.alloc(16), params);
  out.fill(0);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export function checkKdfTime(seconds: number): void {
  if (!Number.isFinite(seconds) || seconds < 0.01 || seconds > 60) {
    throw new UsageError(`--kdf-time must be between 0.01 and 60 seconds (got ${seconds})`);
  }
}

export async function calibrateArgon2id(targetSeconds = DEFAULT_KDF_TIME_SECONDS): Promise<Argon2idParams> {
  checkKdfTime(targetSeconds);
  const hit = cache.get(targetSeconds);
  if (hit) return { ...hit };
  const target = targetSeconds * 1000;
  const roundMiB = (kib: number) => Math.max(MIB, Math.round(kib / MIB) * MIB);
  const memCap = Math.min(MAX_MEMORY_KIB, roundMiB(totalmem() / 1024 / 8));
  let params: Argon2idParams = { iterations: 1, memoryKiB: Math.min(BASE_MEMORY_KIB, memCap), parallelism: PARALLELISM };
  const base = await timeMs(params);
  if (base >= target) {
    params.memoryKiB = Math.max(MIN_MEMORY_KIB, roundMiB((params.memoryKiB * target) / base));
  } else {
    const mem = Math.min(memCap, roundMiB((params.memoryKiB * target) / base));
    params = { ...params, memoryKiB: Math.max(mem, params.memoryKiB) };
    // the best of two runs: the first pays for faulting in fresh memory
    const oneMs = Math.min(await timeMs(params), await timeMs(params));
    params.iterations = Math.max(1, Math.min(1000, Math.round(target / oneMs)));
  }
  params = withinSlotLimits(params);
  cache.set(targetSeconds, params);
  return { ...params };
}
