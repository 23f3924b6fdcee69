// Names: deterministic, authenticated, no '.', long names through sidecars,
// plaintext names with the volume's own files escaped.
import { describe, expect, it } from 'vitest';
import { MountKeys } from '../../src/engine/mount-keys.js';
import { homecryptFormat } from '../../src/engine/homecrypt-format.js';
import { keyIdOf } from '../../src/crypto/key-id.js';
import { AuthenticationError } from '../../src/errors.js';
import type { DirContext } from '../../src/engine/volume-format.js';
import { bytesOfName, nameFromBytes } from '../../src/format/name-bytes.js';

const KEY = Buffer.alloc(32, 1);
const f = homecryptFormat(new MountKeys(KEY, keyIdOf(KEY)), { plaintextNames: false });
const p = homecryptFormat(new MountKeys(KEY, keyIdOf(KEY)), { plaintextNames: true });
const sidecars = new Map<string, Buffer>();
const ctx: DirContext = { lowerDir: 'x', readSidecar: (n) => sidecars.get(n) ?? null };
const root: DirContext = { lowerDir: '', readSidecar: () => null };

describe('encrypted names', () => {
  it('round-trip, deterministic, never contain a dot', () => {
    for (const name of ['a', 'hello.txt', '.bashrc', 'ünïcødé ✓', 'x'.repeat(175), 'homecrypt.conf']) {
      const e = f.names.encryptName(name, ctx);
      expect(e.sidecar).toBeUndefined();
      expect(e.lowerName).not.toContain('.');
      expect(e.lowerName.length).toBeLessThanOrEqual(255);
      expect(f.names.encryptName(name, ctx).lowerName).toBe(e.lowerName);
      expect(f.names.decryptName(e.lowerName, ctx)).toBe(name);
    }
  });

  it('long names (up to 255 bytes) go through a sidecar', () => {
    for (const name of ['y'.repeat(176), 'z'.repeat(255), 'é'.repeat(127)]) {
      const e = f.names.encryptName(name, ctx);
      expect(e.sidecar).toBeDefined();
      expect(e.lowerName.length).toBeLessThan(64);
      sidecars.set(e.sidecar!.name, e.sidecar!.content);
      expect(f.names.decryptName(e.lowerName, ctx)).toBe(name);
      expect(f.names.decryptName(e.sidecar!.name, ctx)).toBeNull();
    }
    expect(() => f.names.encryptName('w'.repeat(256), ctx)).toThrow(expect.objectContaining({ errno: 36 }));
  });

  it('a changed character or a foreign name fails authentication', () => {
    const e = f.names.encryptName('secret-plans', ctx).lowerName;
    const flipped = e[5] === 'A' ? 'B' : 'A';
    expect(() => f.names.decryptName(e.slice(0, 5) + flipped + e.slice(6), ctx)).toThrow(AuthenticationError);
    expect(() => f.names.decryptName('notes.txt', ctx)).toThrow(AuthenticationError);
    const e2 = f.names.encryptName('q'.repeat(200), ctx);
    sidecars.set(e2.sidecar!.name, Buffer.from(f.names.encryptName('r'.repeat(200), ctx).sidecar!.content));
    expect(() => f.names.decryptName(e2.lowerName, ctx)).toThrow(AuthenticationError);
  });

  it('hides the volume files at the root only', () => {
    expect(f.names.decryptName('homecrypt.conf', root)).toBeNull();
    expect(f.names.decryptName('homecrypt.keys', root)).toBeNull();
  });

  it('symlink targets are encrypted and authenticated', () => {
    const t = f.names.encryptTarget('../some/where.txt');
    expect(t).not.toContain('where');
    expect(f.names.decryptTarget(t)).toBe('../some/where.txt');
    expect(() => f.names.decryptTarget(t.slice(0, -2) + (t.endsWith('AA') ? 'BB' : 'AA'))).toThrow(AuthenticationError);
  });

  it("a target's length follows from its lower length alone, for every length up to the largest (getattr reads no link)", () => {
    const v2 = homecryptFormat(new MountKeys(KEY, keyIdOf(KEY)), { plaintextNames: false, version: 2 });
    for (const codec of [f.names, p.names, v2.names]) {
      // up to 3,000 bytes (the largest target is about 3,050), 'é' taking two
      for (let n = 1; n <= 2500; n += n < 64 ? 1 : 7) {
        const target = Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 'é' : 'a')).join('');
        const bytes = Buffer.byteLength(target);
        const lower = codec.encryptTarget(target);
        expect(codec.targetSize!(Buffer.byteLength(lower))).toBe(bytes);
      }
    }
    // lengths no sealed target has: fewer bytes than the SIV, a lone last character
    expect(f.names.targetSize!(0)).toBeNull();
    expect(f.names.targetSize!(21)).toBeNull(); // 15 bytes
    expect(f.names.targetSize!(22)).toBe(0); // the SIV alone
    expect(f.names.targetSize!(25)).toBeNull();
  });
});

describe('plaintext names', () => {
  it('keep names, escape the volume files, round-trip', () => {
    expect(p.names.encryptName('notes.txt', root).lowerName).toBe('notes.txt');
    expect(p.names.encryptName('homecrypt.conf', root).lowerName).toBe('homecrypt.conf~');
    expect(p.names.encryptName('homecrypt.keys~', root).lowerName).toBe('homecrypt.keys~~');
    expect(p.names.decryptName('homecrypt.conf', root)).toBeNull();
    expect(p.names.decryptName('homecrypt.conf~', root)).toBe('homecrypt.conf');
    expect(p.names.decryptName('homecrypt.keys~~', root)).toBe('homecrypt.keys~');
  });

  it('keep names that are not UTF-8 as they are (their bytes are the lower name), up to 255 bytes', () => {
    for (const bytes of [Buffer.of(0x80), Buffer.of(0xff), Buffer.of(0xc3), Buffer.from([0x61, 0xc3, 0xa9, 0xe9]), Buffer.alloc(255, 0xff)]) {
      const name = nameFromBytes(bytes);
      const lower = p.names.encryptName(name, ctx).lowerName;
      expect(bytesOfName(lower).equals(bytes)).toBe(true);
      expect(p.names.decryptName(lower, ctx)).toBe(name);
    }
    // counted in bytes: 256 escaped bytes are too long, 85 three-byte characters are not
    expect(() => p.names.encryptName(nameFromBytes(Buffer.alloc(256, 0xff)), ctx)).toThrow(expect.objectContaining({ errno: 36 }));
    expect(p.names.encryptName('€'.repeat(85), ctx).lowerName).toBe('€'.repeat(85));
    expect(() => p.names.encryptName('€'.repeat(86), ctx)).toThrow(expect.objectContaining({ errno: 36 }));
    // a lookalike of a volume file is not one
    const odd = nameFromBytes(Buffer.concat([Buffer.from('homecrypt.conf'), Buffer.of(0xff)]));
    expect(p.names.encryptName(odd, root).lowerName).toBe(odd);
  });
});
