// The KDF work limits: a key store asking for more than the budget of whoever
// opens it is refused before any Argon2id work, and calibration never makes a
// slot beyond what a login accepts.
import { writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { rewrapLogin, unwrapKeyStore } from '../../src/keys/key-store.js';
import { checkKdfBudget, COMMAND_KDF_BUDGET, kdfWork, LOGIN_KDF_BUDGET, SLOT_KDF_LIMITS, withinSlotLimits } from '../../src/keys/kdf-budget.js';
import { calibrateArgon2id } from '../../src/keys/kdf-calibration.js';
import { decodeKeyStore, encodeKeyStore, type KeySlot } from '../../src/format/key-store-layout.js';
import { KdfLimitError, WrongPassphraseError } from '../../src/errors.js';
import { TEST_KDF_TIME, tempDir, vectorBytes, vectors } from '../helpers/key-store-vectors.js';

const { dir, cleanup } = tempDir();
afterAll(cleanup);
const MIB = 1024;
const slot = (name: string, memoryKiB: number, iterations: number) => ({ name, kdf: { memoryKiB, iterations, parallelism: 1 } });

/** The three-slot vector with its slots' KDF parameters replaced (their seals no longer open: nothing must try). */
function withKdf(kdf: KeySlot['kdf'], count = 3): string {
  const data = decodeKeyStore(vectorBytes('v1-three-slots.hcks'), 'vector');
  const slots = Array.from({ length: count }, (_, i) => ({ ...data.slots[0], kind: 'passphrase' as const, name: `s${i}`, kdf, salt: randomBytes(16) }));
  const p = join(dir, `ks-${randomBytes(4).toString('hex')}`);
  writeFileSync(p, encodeKeyStore({ ...data, slots }));
  chmodSync(p, 0o600);
  return p;
}

describe('KDF work limits', () => {
  it('the login budget: up to 8 GiB·passes in total and 256 MiB per slot, one KiB·pass more is refused', () => {
    expect(LOGIN_KDF_BUDGET.maxWork).toBe(8 * 1024 * MIB);
    expect(() => checkKdfBudget('f', [slot('a', 256 * MIB, 16), slot('b', 256 * MIB, 16)], LOGIN_KDF_BUDGET)).not.toThrow();
    expect(() => checkKdfBudget('f', [slot('a', 256 * MIB, 16), slot('b', 256 * MIB, 16), slot('c', 1, 1)], LOGIN_KDF_BUDGET)).toThrow(KdfLimitError);
    expect(() => checkKdfBudget('f', [slot('a', 257 * MIB, 1)], LOGIN_KDF_BUDGET)).toThrow(/256 MiB per slot/);
    // a command (as the user) accepts every slot of any store homecrypt makes
    expect(() =>
      checkKdfBudget(
        'f',
        Array.from({ length: 16 }, (_, i) => slot(`s${i}`, 256 * MIB, 8)),
        COMMAND_KDF_BUDGET,
      ),
    ).not.toThrow();
    expect(() =>
      checkKdfBudget(
        'f',
        Array.from({ length: 16 }, (_, i) => slot(`s${i}`, 1024 * MIB, 1000)),
        COMMAND_KDF_BUDGET,
      ),
    ).toThrow(/16000 GiB·passes/);
  });

  it("calibration stays within one slot's limits: 256 MiB and 2 GiB·passes", async () => {
    expect(withinSlotLimits({ memoryKiB: 256 * MIB, iterations: 100, parallelism: 1 })).toEqual({ memoryKiB: 256 * MIB, iterations: 8, parallelism: 1 });
    expect(withinSlotLimits({ memoryKiB: 8 * MIB, iterations: 1000, parallelism: 1 })).toEqual({ memoryKiB: 8 * MIB, iterations: 256, parallelism: 1 });
    expect(withinSlotLimits({ memoryKiB: 64 * MIB, iterations: 3, parallelism: 1 }).iterations).toBe(3);
    const k = await calibrateArgon2id(TEST_KDF_TIME);
    expect(k.memoryKiB).toBeLessThanOrEqual(SLOT_KDF_LIMITS.memoryKiB);
    expect(kdfWork(k)).toBeLessThanOrEqual(SLOT_KDF_LIMITS.work);
  });

  it('unwrap and rewrap refuse a hostile store at once, naming the file, the work and the limit', async () => {
    const p = withKdf({ iterations: 1000, memoryKiB: 1024 * MIB, parallelism: 1 }, 16);
    const t0 = Date.now();
    await expect(unwrapKeyStore(p, Buffer.from('whatever'))).rejects.toThrow(KdfLimitError);
    await expect(unwrapKeyStore(p, Buffer.from('whatever'), { kdfBudget: LOGIN_KDF_BUDGET })).rejects.toThrow(
      new RegExp(`^${p}: refused without trying it: its 16 slot\\(s\\) to try ask for 16000 GiB·passes of Argon2id .*login \\(root\\) limit of 8 GiB·passes`),
    );
    await expect(rewrapLogin(p, Buffer.from('a'), Buffer.from('b'))).rejects.toThrow(KdfLimitError);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('counts only the slots the secret would try: recovery slots only for a recovery-shaped secret', async () => {
    // two passphrase slots within the login budget and one expensive recovery slot
    const data = decodeKeyStore(vectorBytes('v1-three-slots.hcks'), 'vector');
    const slots = data.slots.map((s) => (s.kind === 'recovery' ? { ...s, kdf: { iterations: 1000, memoryKiB: 1024 * MIB, parallelism: 1 } } : s));
    const p = join(dir, 'mixed');
    writeFileSync(p, encodeKeyStore({ ...data, slots }));
    chmodSync(p, 0o600);
    // a passphrase tries the passphrase slots only: no refusal, the real answer (their seals still open)
    const secrets = vectors.files['v1-three-slots.hcks'].secrets;
    const r = await unwrapKeyStore(p, Buffer.from(secrets.login), { kdfBudget: LOGIN_KDF_BUDGET });
    expect(r.slot).toBe('login');
    await expect(unwrapKeyStore(p, Buffer.from('wrong'), { kdfBudget: LOGIN_KDF_BUDGET })).rejects.toThrow(WrongPassphraseError);
    await expect(unwrapKeyStore(p, Buffer.from(vectors.recoveryKey), { kdfBudget: LOGIN_KDF_BUDGET })).rejects.toThrow(KdfLimitError);
  });
});
