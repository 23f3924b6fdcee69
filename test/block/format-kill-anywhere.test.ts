// block format --wipe SIGKILLed at a random moment within its usual duration,
// round after round on one image that already holds a volume: whatever the
// kill left, running the same command again finishes the format (without
// --force when the header says its own format was interrupted, as docs/BLOCK.md
// promises), cryptsetup (the peer nobody here wrote) then opens the new volume
// with the new passphrase, and a volume left half-wiped is refused by
// `block open` with the reason, never opened. Nothing of the old volume is
// destroyed before a header of ours marked unfinished is written, and the mark
// is dropped after the wipe: so a kill leaves the old volume whole, or an
// unfinished one of ours, or the new one, never an old header whose keyslots
// are gone; this finds the moments between. HOMECRYPT_KILL_ROUNDS sets the rounds (default 6; a soak: 60).
import { afterAll, describe, expect, it } from 'vitest';
import { randomInt } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOMECRYPT, cryptsetup, hc, sh, tempDir, testPassphrase } from './helpers.js';
import { runKilledAfter } from '../helpers/kill-after.js';

const ROUNDS = Number(process.env.HOMECRYPT_KILL_ROUNDS ?? 6);
const tmp = tempDir('format-kill');
const env = { HOMECRYPT_BLOCK_STATE_DIR: join(tmp, 'state') };
const KDF = ['--kdf-time', '0.05'];
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const unfinished = (img: string) => cryptsetup(['luksDump', img]).out.includes('homecrypt-format-unfinished');

describe('block format --wipe killed at a random moment', () => {
  it(`${ROUNDS} rounds: the same command run again finishes the format, and a half-wiped volume is never opened`, async () => {
    const img = join(tmp, 'v.img');
    writeFileSync(img, '');
    sh(`truncate -s 64M '${img}'`);
    // how long an uninterrupted format with a wipe takes here: the kills fall inside it
    let t = Date.now();
    const whole = hc(['block', 'format', img, '--wipe', '--force', ...KDF], ['pass 0'], env);
    expect(whole.code, whole.stderr).toBe(0);
    const formatMs = Date.now() - t;
    let current = 'pass 0';
    const log: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const next = `pass ${round}`;
      // the header is written early and marked finished at the end: every other kill falls near one of the two
      const at = round % 2 ? randomInt(0, formatMs + 1) : randomInt(Math.floor(formatMs * 0.8), Math.ceil(formatMs * 1.05));
      t = Date.now();
      await runKilledAfter(HOMECRYPT, ['block', 'format', img, '--wipe', '--force', ...KDF, '--passphrase-fd', '0'], `${next}\n`, at, {
        ...process.env,
        ...env,
      });
      const where = `round ${round}: killed after ${at} ms (ran ${Date.now() - t} ms)`;
      const half = unfinished(img);
      const state = half ? 'unfinished' : testPassphrase(img, next) === 0 ? 'new' : testPassphrase(img, current) === 0 ? 'old' : 'neither';
      expect(state, `${where}: a volume no passphrase opens, not marked as ours`).not.toBe('neither');
      if (half) {
        // refused with the reason before any passphrase is asked
        const open = hc(['block', 'open', img, `hcfk${round}`], ['pass'], env);
        expect(open.code, where).not.toBe(0);
        expect(open.stderr, where).toMatch(/interrupted before it finished; run the same block format command again/);
      }
      if (state !== 'new') {
        // the same command again; without --force only for a format of our own left unfinished
        const again = hc(['block', 'format', img, '--wipe', ...KDF], [next], env);
        if (half) expect(again.code, `${where}: ${again.stderr}`).toBe(0);
        else {
          // the old volume, untouched: formatting it still needs the confirmation
          expect(again.code, `${where}: ${again.stderr}`).toBe(8);
          const forced = hc(['block', 'format', img, '--wipe', '--force', ...KDF], [next], env);
          expect(forced.code, `${where}: ${forced.stderr}`).toBe(0);
        }
      }
      expect(unfinished(img), where).toBe(false);
      expect(testPassphrase(img, next), `${where}: the new passphrase`).toBe(0);
      expect(cryptsetup(['luksDump', img]).code, where).toBe(0);
      log.push(`${at}/${state}`);
      current = next;
    }
    console.log(`format --wipe ${formatMs} ms; kills (ms/what was left): ${log.join(', ')}`);
  }, 600_000);
});
