// Bounds on the work a LUKS2 header may ask for before a passphrase is tried.
// The header is checksummed, not authenticated: whoever hands over a disk or an
// image chooses its keyslot KDFs and digest, and the format allows Argon2 over
// 4 GiB × 2^32 passes and PBKDF2 over 2^32 iterations (hours, or more memory
// than the machine has). So, as for key stores (src/keys/kdf-budget.ts), the
// keyslots that would be tried are checked first and a header beyond the
// limits is refused without running anything (KdfLimitError: exit 8). Work is
// counted in units that do not depend on the machine: Argon2 in KiB·passes
// (memory × passes), PBKDF2 in iterations. The limits sit far above what
// cryptsetup writes (docs/BLOCK.md, "Work limits", gives the numbers and why).
import { totalmem } from 'node:os';
import { KdfLimitError } from '../errors.js';
import type { Digest, Keyslot } from '../format/luks2/metadata.js';

const MIB = 1024; // KiB
const GIB = 1024 * MIB; // KiB; also KiB·passes for one pass over 1 GiB

export const LUKS2_KDF_LIMITS = {
  /** cryptsetup's own ceiling for --pbkdf-memory (its default ceiling is 1 GiB) */
  argon2MemoryKiB: 4 * GIB,
  /** one keyslot: 16 passes over 4 GiB, 64 over 1 GiB (cryptsetup's 2 s default writes 4-10 over ≤ 1 GiB) */
  argon2Work: 64 * GIB,
  /** one keyslot (cryptsetup's 2 s benchmark writes about 1e6-1e7) */
  pbkdf2Iterations: 100_000_000,
  /** one digest, run once per keyslot tried (cryptsetup benchmarks it to 125 ms: about 1e5-1e6) */
  digestIterations: 10_000_000,
  /** every keyslot tried, together: this many keyslots at the limit */
  slotsAtLimit: 2,
  /** the digest runs summed over the keyslots tried */
  digestIterationsTotal: 40_000_000,
} as const;

/** What one keyslot's KDF costs, as a share of the most one keyslot may cost (1 = at the limit). */
function slotShare(ks: Keyslot): number {
  const k = ks.kdf;
  if (k.type === 'pbkdf2') return k.iterations / LUKS2_KDF_LIMITS.pbkdf2Iterations;
  return (k.memory * k.time) / LUKS2_KDF_LIMITS.argon2Work;
}

function describe(ks: Keyslot): string {
  const k = ks.kdf;
  if (k.type === 'pbkdf2') return `keyslot ${ks.id}: pbkdf2-${k.hash} × ${k.iterations} iterations`;
  const gibPasses = (k.memory * k.time) / GIB;
  return `keyslot ${ks.id}: ${k.type} ${(k.memory / MIB).toFixed(k.memory < MIB ? 2 : 0)} MiB × ${k.time} passes (${gibPasses.toFixed(gibPasses < 1 ? 2 : 0)} GiB·passes)`;
}

const HINT = 'a volume cryptsetup or homecrypt made with its defaults stays far within these limits; see docs/BLOCK.md, "Work limits"';

/**
 * Throws a KdfLimitError, doing no KDF work, when the keyslots to try (each
 * with the digest that checks it) ask for more than the limits, or for more
 * memory than this machine has.
 */
export function checkLuks2Work(path: string, slots: Keyslot[], digests: Digest[], ramKiB = Math.floor(totalmem() / 1024)): void {
  const refuse = (why: string) => new KdfLimitError(`${path}: refused without trying the passphrase: ${why}`, { hint: HINT });
  let shares = 0;
  let digestTotal = 0;
  for (const ks of slots) {
    const k = ks.kdf;
    if (k.type !== 'pbkdf2') {
      if (k.memory > LUKS2_KDF_LIMITS.argon2MemoryKiB) throw refuse(`${describe(ks)} asks for more than the 4 GiB LUKS2 allows`);
      if (k.memory > ramKiB) throw refuse(`${describe(ks)} asks for more memory than this machine has (${Math.floor(ramKiB / MIB)} MiB)`);
      if (k.memory * k.time > LUKS2_KDF_LIMITS.argon2Work) throw refuse(`${describe(ks)}, beyond the limit of 64 GiB·passes for one keyslot`);
    } else if (k.iterations > LUKS2_KDF_LIMITS.pbkdf2Iterations) {
      throw refuse(`${describe(ks)}, beyond the limit of ${LUKS2_KDF_LIMITS.pbkdf2Iterations} for one keyslot`);
    }
    const d = digests.find((x) => x.keyslots.includes(ks.id));
    if (d && d.iterations > LUKS2_KDF_LIMITS.digestIterations) {
      throw refuse(`digest ${d.id} asks for ${d.iterations} pbkdf2-${d.hash} iterations, beyond the limit of ${LUKS2_KDF_LIMITS.digestIterations}`);
    }
    shares += slotShare(ks);
    digestTotal += d?.iterations ?? 0;
  }
  if (shares > LUKS2_KDF_LIMITS.slotsAtLimit) {
    const shown = slots.slice(0, 3).map(describe).join('; ');
    throw refuse(
      `its ${slots.length} keyslots together ask for ${shares.toFixed(1)} times the work one keyslot may use ` +
        `(${shown}${slots.length > 3 ? '; …' : ''}), beyond the limit of ${LUKS2_KDF_LIMITS.slotsAtLimit}`,
    );
  }
  if (digestTotal > LUKS2_KDF_LIMITS.digestIterationsTotal) {
    throw refuse(
      `checking its ${slots.length} keyslots would take ${digestTotal} digest iterations, beyond the limit of ${LUKS2_KDF_LIMITS.digestIterationsTotal}`,
    );
  }
}
