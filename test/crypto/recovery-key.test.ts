import { describe, expect, it } from 'vitest';
import { formatRecoveryKey, generateRecoveryKey, looksLikeRecoveryKey, parseRecoveryKey } from '../../src/crypto/recovery-key.js';
import { RecoveryKeyTypoError } from '../../src/errors.js';
import { vectors } from '../helpers/key-store-vectors.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

describe('recovery key', () => {
  it('matches the committed vector', () => {
    expect(formatRecoveryKey(Buffer.from(vectors.recoveryKeyBytesHex, 'hex'))).toBe(vectors.recoveryKey);
    expect(parseRecoveryKey(vectors.recoveryKey)!.toString('hex')).toBe(vectors.recoveryKeyBytesHex);
  });

  it('is 8 groups of 5 typable characters and round-trips', () => {
    for (let i = 0; i < 50; i++) {
      const { text, bytes } = generateRecoveryKey();
      expect(text).toMatch(/^([0-9A-HJKMNP-TV-Z]{5}-){7}[0-9A-HJKMNP-TV-Z]{5}$/);
      expect(parseRecoveryKey(text)!.equals(bytes)).toBe(true);
    }
  });

  it('accepts lower case, spaces instead of dashes, no separators, and I/L/O misreadings', () => {
    const { text, bytes } = generateRecoveryKey();
    expect(parseRecoveryKey(text.toLowerCase())!.equals(bytes)).toBe(true);
    expect(parseRecoveryKey(` ${text.replace(/-/g, ' ')} \n`)!.equals(bytes)).toBe(true);
    expect(parseRecoveryKey(text.replace(/-/g, ''))!.equals(bytes)).toBe(true);
    expect(parseRecoveryKey(text.replace(/1/g, 'l').replace(/0/g, 'O'))!.equals(bytes)).toBe(true);
  });

  it('catches every single mistyped character and names its group', () => {
    const { text } = generateRecoveryKey();
    const chars = [...text];
    let checked = 0;
    chars.forEach((c, pos) => {
      if (c === '-') return;
      const group = Math.floor(pos / 6) + 1;
      for (const sub of ALPHABET) {
        if (sub === c) continue;
        const typo = [...chars];
        typo[pos] = sub;
        expect(() => parseRecoveryKey(typo.join(''))).toThrowError(new RegExp(`typo in recovery key: group ${group}\\b`));
        checked++;
      }
    });
    expect(checked).toBe(40 * 31);
  });

  it('names a mistyped group by its number only, never its characters (the message reaches stderr and logs)', () => {
    const { text } = generateRecoveryKey();
    const groups = text.split('-');
    for (let g = 0; g < groups.length; g++) {
      const typo = [...groups];
      typo[g] = (typo[g][0] === 'A' ? 'B' : 'A') + typo[g].slice(1);
      let message = '';
      try {
        parseRecoveryKey(typo.join('-'));
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toBe(`typo in recovery key: group ${g + 1} of 8 does not match its check character`);
      for (const shown of [...groups, typo[g]]) expect(message.toUpperCase()).not.toContain(shown);
    }
  });

  it('catches most swaps of neighbouring characters', () => {
    let caught = 0;
    let swaps = 0;
    for (let i = 0; i < 20; i++) {
      const { text } = generateRecoveryKey();
      for (let pos = 0; pos + 1 < text.length; pos++) {
        const a = text[pos];
        const b = text[pos + 1];
        if (a === '-' || b === '-' || a === b) continue;
        swaps++;
        const t = text.slice(0, pos) + b + a + text.slice(pos + 2);
        try {
          parseRecoveryKey(t);
        } catch (e) {
          if (e instanceof RecoveryKeyTypoError) caught++;
        }
      }
    }
    expect(caught / swaps).toBeGreaterThan(0.95);
  });

  it('reports a missing character as a typo, and ordinary passphrases as not a recovery key', () => {
    const { text } = generateRecoveryKey();
    expect(() => parseRecoveryKey(text.slice(1))).toThrowError(/group 1 has 4 characters/);
    expect(looksLikeRecoveryKey('correct horse battery staple')).toBe(false);
    expect(parseRecoveryKey('hunter2')).toBeNull();
  });
});
