// The key-store byte layout: committed vectors decode, and every kind of damage
// gives a CorruptFileError or UnsupportedFormatError naming the file — never
// another exception.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeKeyStore, encodeKeyStore, slotAad } from '../../src/format/key-store-layout.js';
import { openSlot } from '../../src/keys/keyslot.js';
import { CorruptFileError, UnsupportedFormatError } from '../../src/errors.js';
import { vectorBytes, vectors } from '../helpers/key-store-vectors.js';

const NAME = '/some/dir/keystore';

function expectCorrupt(bytes: Buffer, what?: RegExp): void {
  let err: unknown;
  try {
    decodeKeyStore(bytes, NAME);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CorruptFileError);
  expect((err as Error).message.startsWith(`${NAME}: `)).toBe(true);
  if (what) expect((err as Error).message).toMatch(what);
}

/** Re-seals the trailing checksum, as an attacker editing the file could. */
function reChecksum(b: Buffer): Buffer {
  const body = b.subarray(0, b.length - 32);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

describe('key store format v1', () => {
  for (const [file, v] of Object.entries(vectors.files)) {
    it(`decodes the committed vector ${file} and opens every slot with its secret`, async () => {
      const data = decodeKeyStore(vectorBytes(file), file);
      expect(data.version).toBe(v.version);
      expect(data.keyId).toBe(vectors.keyId);
      expect(data.slots.map((s) => ({ name: s.name, kind: s.kind, kdf: s.kdf }))).toEqual(v.slots);
      for (const slot of data.slots) {
        const secret = slot.kind === 'recovery' ? Buffer.from(vectors.recoveryKeyBytesHex, 'hex') : Buffer.from(v.secrets[slot.name], 'utf8');
        const key = await openSlot(slot, data.keyId, secret);
        expect(key?.toString('hex')).toBe(vectors.mountKeyHex);
        expect(await openSlot(slot, data.keyId, Buffer.from('wrong'))).toBeNull();
      }
    });

    it(`re-encodes ${file} byte for byte`, () => {
      const bytes = vectorBytes(file);
      expect(encodeKeyStore(decodeKeyStore(bytes, file)).equals(bytes)).toBe(true);
    });
  }

  it('lays out the header as documented', () => {
    const b = vectorBytes('v1-basic.hcks');
    expect(b.subarray(0, 4).toString('ascii')).toBe('HCKS');
    expect(b.readUInt16BE(4)).toBe(1);
    expect(b[6]).toBe(2);
    expect(b[7]).toBe(0);
    expect(b.subarray(8, 16).toString('hex')).toBe(vectors.keyId);
    expect(b.readUInt16BE(16)).toBe(88 + 'login'.length);
    expect(b.length).toBe(16 + (2 + 88 + 5) + (2 + 88 + 8) + 32);
  });

  it('gives a clear error for every truncation', () => {
    const b = vectorBytes('v1-three-slots.hcks');
    for (let n = 0; n < b.length; n++) expectCorrupt(b.subarray(0, n));
    expectCorrupt(b.subarray(0, 100), /truncated/);
    expectCorrupt(Buffer.alloc(0), /empty file/);
  });

  it('detects every single flipped bit', () => {
    const b = vectorBytes('v1-basic.hcks');
    for (let i = 0; i < b.length * 8; i++) {
      const c = Buffer.from(b);
      c[i >> 3] ^= 1 << (i & 7);
      let err: unknown;
      try {
        decodeKeyStore(c, NAME);
      } catch (e) {
        err = e;
      }
      expect(err instanceof CorruptFileError || err instanceof UnsupportedFormatError).toBe(true);
    }
  });

  it('rejects a foreign file, extra bytes and a bad checksum with what is wrong', () => {
    expectCorrupt(Buffer.from('#!/bin/sh\necho hello\n'), /not a homecrypt key store/);
    const b = vectorBytes('v1-basic.hcks');
    expectCorrupt(Buffer.concat([b, Buffer.from([0])]), /checksum|unexpected bytes/);
    const c = Buffer.from(b);
    c[c.length - 1] ^= 0xff;
    expectCorrupt(c, /checksum mismatch/);
  });

  it('rejects an unknown version as unsupported, naming it', () => {
    const b = Buffer.from(vectorBytes('v1-basic.hcks'));
    b.writeUInt16BE(2, 4);
    expect(() => decodeKeyStore(reChecksum(b), NAME)).toThrowError(UnsupportedFormatError);
    expect(() => decodeKeyStore(reChecksum(b), NAME)).toThrowError(/version 2; this build reads version 1/);
  });

  it('bounds the KDF parameters a file may ask for (no huge allocations)', () => {
    const b = Buffer.from(vectorBytes('v1-basic.hcks'));
    const mem = 16 + 2 + 1 + 1 + 5 + 1 + 4; // memoryKiB of the login slot
    b.writeUInt32BE(0xffffffff, mem);
    expectCorrupt(reChecksum(b), /memoryKiB .* out of range/);
  });

  it('authenticates the slot parameters: a re-checksummed slot with weaker KDF settings does not open', async () => {
    const b = Buffer.from(vectorBytes('v1-basic.hcks'));
    const iter = 16 + 2 + 1 + 1 + 5 + 1;
    b.writeUInt32BE(1, iter); // 2 -> 1 pass
    const data = decodeKeyStore(reChecksum(b), NAME);
    expect(data.slots[0].kdf.iterations).toBe(1);
    expect(await openSlot(data.slots[0], data.keyId, Buffer.from(vectors.files['v1-basic.hcks'].secrets.login))).toBeNull();
    // and a slot moved under another key ID does not open either
    const moved = decodeKeyStore(vectorBytes('v1-basic.hcks'), NAME);
    expect(await openSlot(moved.slots[0], '0000000000000000', Buffer.from(vectors.files['v1-basic.hcks'].secrets.login))).toBeNull();
    expect(slotAad(moved.keyId, moved.slots[0]).subarray(0, 4).toString()).toBe('HCKS');
  });

  it('never throws anything but a typed error on random input', () => {
    const good = vectorBytes('v1-basic.hcks');
    for (let i = 0; i < 2000; i++) {
      const r = i % 2 ? randomBytes(i % 300) : Buffer.concat([good.subarray(0, 16), randomBytes(i % 300)]);
      try {
        decodeKeyStore(r, NAME);
      } catch (e) {
        expect(e instanceof CorruptFileError || e instanceof UnsupportedFormatError).toBe(true);
      }
    }
  });
});
