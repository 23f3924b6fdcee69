// block rewrap SIGKILLed (a crash, a pulled plug as far as this process can
// tell) at a random moment within its usual duration, round after round on one
// volume: each time the old passphrase or the new one opens it, never neither,
// the other keyslot is untouched, and cryptsetup (the peer nobody here wrote)
// agrees. The header's two copies are written one after the other with the new
// keyslot in a free area (docs/BLOCK.md); this finds the moment that is not.
// HOMECRYPT_KILL_ROUNDS sets the rounds (default 6; a soak: 60).
import { afterAll, describe, expect, it } from 'vitest';
import { randomInt } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOMECRYPT, cryptsetup, hc, sh, tempDir, testPassphrase } from './helpers.js';
import { runKilledAfter } from '../helpers/kill-after.js';

const ROUNDS = Number(process.env.HOMECRYPT_KILL_ROUNDS ?? 6);
const tmp = tempDir('rewrap-kill');
const env = { HOMECRYPT_BLOCK_STATE_DIR: join(tmp, 'state') };
const KDF = ['--kdf-time', '0.05'];
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('block rewrap killed at a random moment', () => {
  it(`${ROUNDS} rounds: the old or the new passphrase opens, never neither; the other keyslot is untouched`, async () => {
    const img = join(tmp, 'v.img');
    writeFileSync(img, '');
    sh(`truncate -s 32M '${img}'`);
    expect(hc(['block', 'format', img, ...KDF], ['pass 0'], env).code).toBe(0);
    expect(hc(['block', 'add-passphrase', img, ...KDF], ['pass 0', 'the other', 'the other'], env).code).toBe(0);
    // how long an uninterrupted rewrap takes here: the kills fall inside it
    let t = Date.now();
    const whole = hc(['block', 'rewrap', img, ...KDF], ['pass 0', 'pass 1', 'pass 1'], env);
    expect(whole.code, whole.stderr).toBe(0);
    const rewrapMs = Date.now() - t;
    let current = 'pass 1';
    const log: string[] = [];
    for (let round = 2; round < ROUNDS + 2; round++) {
      const next = `pass ${round}`;
      // the header is written in the run's last milliseconds: every other kill falls near the end
      const at = round % 2 ? randomInt(Math.floor(rewrapMs * 0.85), Math.ceil(rewrapMs * 1.05)) : randomInt(0, rewrapMs + 1);
      t = Date.now();
      await runKilledAfter(HOMECRYPT, ['block', 'rewrap', img, ...KDF, '--passphrase-fd', '0'], `${current}\n${next}\n${next}\n`, at, {
        ...process.env,
        ...env,
      });
      const old = testPassphrase(img, current) === 0;
      const now = testPassphrase(img, next) === 0;
      const where = `round ${round}: killed after ${at} ms (ran ${Date.now() - t} ms)`;
      expect(old || now, `${where}: neither passphrase opens`).toBe(true);
      expect(old && now, `${where}: both open (the old keyslot kept)`).toBe(false);
      expect(testPassphrase(img, 'the other'), `${where}: the other keyslot`).toBe(0);
      // homecrypt reads the header cryptsetup reads, and a rewrap of it works from here
      const dump = hc(['block', 'dump', img], [], env);
      expect(dump.code, `${where}: ${dump.stderr}`).toBe(0);
      expect(cryptsetup(['luksDump', img]).code).toBe(0);
      log.push(`${at}/${now ? 'new' : 'old'}`);
      if (now) current = next;
    }
    const last = hc(['block', 'rewrap', img, ...KDF], [current, 'the end', 'the end'], env);
    expect(last.code, last.stderr).toBe(0);
    expect(testPassphrase(img, 'the end')).toBe(0);
    console.log(`rewrap ${rewrapMs} ms; kills (ms/which opens): ${log.join(', ')}`);
  }, 300_000);
});
