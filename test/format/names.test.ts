// decodeName's strictness, stated once and fuzzed: a string decodes exactly
// when it is the base64url (no padding) encoding of some bytes, i.e. when
// re-encoding what Node decodes gives the string back.
import { describe, expect, it } from 'vitest';
import { randomBytes, randomInt } from 'node:crypto';
import { decodeName, encodeName } from '../../src/format/names.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const OTHERS = '+/=. ~\u00e9';

/** The definition: Node decodes it and re-encodes it to the same string, from the alphabet only. */
function canonical(s: string): boolean {
  if (s.length === 0 || ![...s].every((c) => ALPHABET.includes(c))) return false;
  return Buffer.from(s, 'base64url').toString('base64url') === s;
}

describe('decodeName', () => {
  it('decodes every encoding back to its bytes', () => {
    for (let n = 1; n < 300; n++) {
      const b = randomBytes(n);
      expect(decodeName(encodeName(b))?.equals(b)).toBe(true);
    }
  });

  it('accepts exactly the canonical strings (fuzzed: random strings, and encodings with one character changed)', () => {
    const strings: string[] = [];
    for (let i = 0; i < 5_000; i++) {
      const len = randomInt(1, 12);
      let s = '';
      for (let k = 0; k < len; k++) s += randomInt(40) === 0 ? OTHERS[randomInt(OTHERS.length)] : ALPHABET[randomInt(64)];
      strings.push(s);
      const enc = encodeName(randomBytes(randomInt(1, 40)));
      const at = enc.length - 1 - randomInt(Math.min(2, enc.length));
      strings.push(enc.slice(0, at) + ALPHABET[randomInt(64)] + enc.slice(at + 1));
    }
    for (const s of strings) expect(decodeName(s) !== null).toBe(canonical(s));
  });

  it('refuses the non-canonical twins of a short name', () => {
    expect(decodeName('QQ')?.toString()).toBe('A');
    for (const twin of ['QR', 'QS', 'QT', 'Qf']) expect(decodeName(twin)).toBeNull();
    expect(decodeName('QUI')?.toString()).toBe('AB');
    for (const twin of ['QUJ', 'QUK', 'QUL']) expect(decodeName(twin)).toBeNull();
    expect(decodeName('Q')).toBeNull();
    expect(decodeName('')).toBeNull();
  });
});
