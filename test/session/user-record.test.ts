import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseUserRecord, serializeUserRecord } from '../../src/session/user-record.js';
import { CorruptFileError, UnsupportedFormatError } from '../../src/errors.js';

const VEC = new URL('../vectors/user-record/', import.meta.url);
const read = (n: string) => readFileSync(new URL(n, VEC), 'utf8');

describe('user record format v1 (docs/FORMAT-USER-RECORD.md)', () => {
  it.each(['v1-home.json', 'v1-private.json'])('%s parses and serializes back byte for byte', (name) => {
    const text = read(name);
    const rec = parseUserRecord(text, name);
    expect(rec.version).toBe(1);
    expect(serializeUserRecord(rec)).toBe(text);
  });

  it('records written before rewrapPending/needsRecovery existed default them to false', () => {
    const raw = JSON.parse(read('v1-home.json'));
    delete raw.rewrapPending;
    delete raw.needsRecovery;
    const rec = parseUserRecord(JSON.stringify(raw), 'x');
    expect(rec.rewrapPending).toBe(false);
    expect(rec.needsRecovery).toBe(false);
  });

  const bad = JSON.parse(read('bad-cases.json')) as { why: string; text?: string; patch?: Record<string, unknown>; error: string }[];
  it.each(bad)('rejects $why with a clear error naming the file', ({ text, patch, error }) => {
    const input = text ?? JSON.stringify({ ...JSON.parse(read('v1-home.json')), ...patch });
    let caught: unknown;
    try {
      parseUserRecord(input, '/etc/homecrypt/users/alice.json');
    } catch (e) {
      caught = e;
    }
    expect(caught instanceof CorruptFileError || caught instanceof UnsupportedFormatError).toBe(true);
    expect((caught as Error).message).toContain('/etc/homecrypt/users/alice.json');
    expect((caught as Error).message).toContain(error);
  });

  it('never crashes on random bytes', () => {
    for (let i = 0; i < 500; i++) {
      const junk = Buffer.from(Array.from({ length: i % 64 }, () => Math.floor(Math.random() * 256))).toString('latin1');
      try {
        parseUserRecord(junk, 'f');
      } catch (e) {
        expect(e).toBeInstanceOf(CorruptFileError);
      }
    }
  });
});
