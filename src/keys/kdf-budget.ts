// Bounds on the Argon2id work a key store may ask for, checked before any of
// it is done. The key store belongs to its user, who can write any parameters
// the format allows (16 slots × 1 GiB × 1000 passes: hours of work); the root
// login hook must not run that for them, nor should a command run it for hours.
// Work is counted in KiB·passes (memory × iterations), which does not depend on
// the machine; slots run one after another, so memory peaks at the largest.
// docs/FORMAT-KEYSTORE.md, "Work limits", gives the numbers and why.
import type { Argon2idParams } from '../crypto/argon2id.js';
import { KdfLimitError } from '../errors.js';

const MIB = 1024; // KiB
const GIB_PASSES = 1024 * MIB; // KiB·passes

/** What calibration may give one slot: its largest memory, and 8 passes over it. */
export const SLOT_KDF_LIMITS = { memoryKiB: 256 * MIB, work: 2 * GIB_PASSES } as const;

export interface KdfBudget {
  /** who pays, for the message */
  name: string;
  /** the most memory one slot may use */
  maxMemoryKiB: number;
  /** the most work (KiB·passes) over every slot that would be tried */
  maxWork: number;
}

/** Root opening a user's store (the PAM hook; setup, migrate): four of the largest slots calibration makes, and no more memory than it uses. */
export const LOGIN_KDF_BUDGET: KdfBudget = { name: 'login (root)', maxMemoryKiB: SLOT_KDF_LIMITS.memoryKiB, maxWork: 4 * SLOT_KDF_LIMITS.work };

/** A command run by the user (key unwrap, mount, rewrap…): every slot of a store homecrypt can make. */
export const COMMAND_KDF_BUDGET: KdfBudget = { name: 'command', maxMemoryKiB: 4 * SLOT_KDF_LIMITS.memoryKiB, maxWork: 16 * SLOT_KDF_LIMITS.work };

export function kdfWork(kdf: Argon2idParams): number {
  return kdf.memoryKiB * kdf.iterations;
}

const gib = (work: number) => `${(work / GIB_PASSES).toFixed(work < GIB_PASSES ? 2 : 0)} GiB·passes`;

/** Throws a KdfLimitError when the slots to try ask for more than the budget; does no Argon2 work. */
export function checkKdfBudget(file: string, slots: { name: string; kdf: Argon2idParams }[], budget: KdfBudget): void {
  const total = slots.reduce((sum, s) => sum + kdfWork(s.kdf), 0);
  const biggest = slots.reduce((m, s) => Math.max(m, s.kdf.memoryKiB), 0);
  if (total <= budget.maxWork && biggest <= budget.maxMemoryKiB) return;
  const shown = slots
    .slice(0, 4)
    .map((s) => `${s.name} ${s.kdf.memoryKiB / MIB} MiB × ${s.kdf.iterations}`)
    .join(', ');
  throw new KdfLimitError(
    `${file}: refused without trying it: its ${slots.length} slot(s) to try ask for ${gib(total)} of Argon2id ` +
      `(${shown}${slots.length > 4 ? ', …' : ''}), beyond the ${budget.name} limit of ${gib(budget.maxWork)} ` +
      `and ${budget.maxMemoryKiB / MIB} MiB per slot (a key store homecrypt makes stays within it; see docs/FORMAT-KEYSTORE.md, "Work limits")`,
  );
}

/** Clamps calibrated parameters to what one slot may use. */
export function withinSlotLimits(kdf: Argon2idParams): Argon2idParams {
  const memoryKiB = Math.min(kdf.memoryKiB, SLOT_KDF_LIMITS.memoryKiB);
  const iterations = Math.max(1, Math.min(kdf.iterations, Math.floor(SLOT_KDF_LIMITS.work / memoryKiB)));
  return { ...kdf, memoryKiB, iterations };
}
