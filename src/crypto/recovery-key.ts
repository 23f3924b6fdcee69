// The recovery key: 160 random bits a person can copy onto paper and type back.
// Crockford base32 (no I, L, O, U; case-insensitive; I/L read as 1 and O as 0),
// 8 groups of 5 characters: 4 data characters and one check character per
// group (Luhn mod 32 over the group's index and data). The check catches every
// single mistyped character and most swaps, and names the group that is wrong,
// so a typo is told apart from a key that is simply not the right one.
import { RecoveryKeyTypoError } from '../errors.js';
import { randomBytes } from './random.js';

export const RECOVERY_KEY_BYTES = 20;
export const RECOVERY_GROUPS = 8;
const DATA_PER_GROUP = 4;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const N = ALPHABET.length;

function valueOf(ch: string): number {
  const c = ch.toUpperCase();
  if (c === 'I' || c === 'L') return 1;
  if (c === 'O') return 0;
  return ALPHABET.indexOf(c);
}

function checkValue(groupIndex: number, data: number[]): number {
  // Luhn mod N, processed right to left, the rightmost data value doubled.
  const seq = [groupIndex, ...data];
  let factor = 2;
  let sum = 0;
  for (let i = seq.length - 1; i >= 0; i--) {
    const addend = factor * seq[i];
    sum += Math.floor(addend / N) + (addend % N);
    factor = factor === 2 ? 1 : 2;
  }
  return (N - (sum % N)) % N;
}

function toBase32(bytes: Buffer): number[] {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out.push((acc >> (bits - 5)) & 31);
      bits -= 5;
      acc &= (1 << bits) - 1;
    }
  }
  return out; // 20 bytes = 160 bits = exactly 32 values
}

function fromBase32(values: number[]): Buffer {
  const out = Buffer.alloc(RECOVERY_KEY_BYTES);
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const v of values) {
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out[o++] = (acc >> (bits - 8)) & 0xff;
      bits -= 8;
      acc &= (1 << bits) - 1;
    }
  }
  return out;
}

/** Formats 20 bytes as `XXXXX-XXXXX-…` (8 groups). */
export function formatRecoveryKey(bytes: Buffer): string {
  if (bytes.length !== RECOVERY_KEY_BYTES) throw new RangeError('recovery key must be 20 bytes');
  const values = toBase32(bytes);
  const groups: string[] = [];
  for (let g = 0; g < RECOVERY_GROUPS; g++) {
    const data = values.slice(g * DATA_PER_GROUP, (g + 1) * DATA_PER_GROUP);
    groups.push([...data, checkValue(g, data)].map((v) => ALPHABET[v]).join(''));
  }
  return groups.join('-');
}

export function generateRecoveryKey(): { text: string; bytes: Buffer } {
  const bytes = randomBytes(RECOVERY_KEY_BYTES);
  return { text: formatRecoveryKey(bytes), bytes };
}

function groupsOf(text: string): string[] | null {
  const t = text.trim();
  if (!/^[0-9A-Za-z\s-]+$/.test(t)) return null;
  const parts = t.split(/[\s-]+/).filter((p) => p.length > 0);
  if (parts.length === RECOVERY_GROUPS) return parts;
  const joined = parts.join('');
  if (parts.length === 1 && joined.length === RECOVERY_GROUPS * 5) {
    return joined.match(/.{5}/g) as string[];
  }
  return null;
}

/** True when the text has the shape of a recovery key (8 groups), typo or not. */
export function looksLikeRecoveryKey(text: string): boolean {
  return groupsOf(text) !== null;
}

/**
 * Decodes a typed recovery key to its 20 bytes. Returns null when the text is not
 * shaped like one; throws RecoveryKeyTypoError (naming the group) on a typo.
 */
export function parseRecoveryKey(text: string): Buffer | null {
  const groups = groupsOf(text);
  if (!groups) return null;
  const values: number[] = [];
  for (let g = 0; g < groups.length; g++) {
    const grp = groups[g];
    if (grp.length !== 5) {
      throw new RecoveryKeyTypoError(`typo in recovery key: group ${g + 1} has ${grp.length} characters, expected 5`);
    }
    const v = [...grp].map(valueOf);
    if (v.some((x) => x < 0)) {
      throw new RecoveryKeyTypoError(`typo in recovery key: group ${g + 1} has a character that is not in the alphabet`);
    }
    const data = v.slice(0, DATA_PER_GROUP);
    if (checkValue(g, data) !== v[DATA_PER_GROUP]) {
      // the group's characters stay out of the message: it reaches stderr and logs, and each group is an eighth of the secret
      throw new RecoveryKeyTypoError(`typo in recovery key: group ${g + 1} of ${RECOVERY_GROUPS} does not match its check character`);
    }
    values.push(...data);
  }
  return fromBase32(values);
}
