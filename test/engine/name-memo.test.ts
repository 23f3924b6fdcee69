// The engine's memo of sealed and opened names (src/engine/name-memo.ts):
// one table per directory IV, so equal names in two directories never share
// an answer, and a bound on what it keeps.
import { describe, expect, it } from 'vitest';
import { NameMemo } from '../../src/engine/name-memo.js';

describe('name memo', () => {
  it('keeps answers apart by IV (the Buffer the IV cache holds), and format 1 names in a table of their own', () => {
    const m = new NameMemo();
    const a = Buffer.alloc(16, 1);
    const b = Buffer.alloc(16, 2);
    m.set(a, 'x', 'sealed-in-a');
    m.set(b, 'x', 'sealed-in-b');
    m.set(undefined, 'x', 'sealed-without-iv');
    expect([m.get(a, 'x'), m.get(b, 'x'), m.get(undefined, 'x')]).toEqual(['sealed-in-a', 'sealed-in-b', 'sealed-without-iv']);
    // another Buffer with a's bytes is another directory read again: nothing known yet
    expect(m.get(Buffer.from(a), 'x')).toBeUndefined();
    expect([m.has(a, 'x'), m.has(a, 'y'), m.has(Buffer.alloc(16, 3), 'x')]).toEqual([true, false, false]);
  });

  it('drops everything once it holds 50,000 names, and counts a name set again once', () => {
    const m = new NameMemo();
    const iv = Buffer.alloc(16, 9);
    for (let i = 0; i < 49_999; i++) m.set(iv, `n${i}`, 'v');
    for (let i = 0; i < 10; i++) m.set(iv, 'n0', 'again'); // the same name: still 49,999 entries
    m.set(undefined, 'last', 'v'); // the 50,000th
    expect([m.get(iv, 'n0'), m.get(undefined, 'last')]).toEqual(['again', 'v']);
    m.set(iv, 'next', 'v'); // over the bound: the tables go first
    expect([m.get(iv, 'n0'), m.get(undefined, 'last'), m.get(iv, 'next')]).toEqual([undefined, undefined, 'v']);
  });
});
