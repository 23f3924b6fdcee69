// The committed format-2 content vectors (test/vectors/files/vectors-v2.json,
// made by make-vectors-v2.mjs; the names have their own, vectors.test.ts) decode with today's code: the header, a whole
// lower file, a write record, and a half-done append its record repairs.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { gcmOpen } from '../../src/crypto/aead.js';
import { deriveWrapKey, MountKeys } from '../../src/engine/mount-keys.js';
import { homecryptFormat } from '../../src/engine/homecrypt-format.js';
import { encodeFileHeader, headerAad, parseFileHeader } from '../../src/format/file-header.js';
import { encodeWriteRecord, openWriteRecord } from '../../src/format/write-record.js';
import { LAYOUT_V2 } from '../../src/format/block-offsets.js';
import { MemIO } from '../engine/mem-io.js';

const V = JSON.parse(readFileSync(new URL('../vectors/files/vectors-v2.json', import.meta.url), 'utf8'));
const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const mountKey = hex(V.mountKey);
const fmt = () => homecryptFormat(new MountKeys(mountKey, V.keyId), { plaintextNames: false, version: 2 });

describe('format 2 vectors', () => {
  it('the header is version 2 and its wrap covers the version', () => {
    const h = parseFileHeader(hex(V.header), 'vector');
    expect(h.version).toBe(2);
    expect(encodeFileHeader(h).toString('hex')).toBe(V.header);
    expect(gcmOpen(deriveWrapKey(mountKey), h.wrapNonce, h.wrappedKey, headerAad(h.fileId, h.keyId, 0, 2)).toString('hex')).toBe(V.contentKey);
    expect(() => gcmOpen(deriveWrapKey(mountKey), h.wrapNonce, h.wrappedKey, headerAad(h.fileId, h.keyId, 0, 1))).toThrow();
  });

  it('the lower file reads as the plaintext; a format-1 volume refuses it', () => {
    const io = new MemIO(hex(V.lowerFile));
    expect(LAYOUT_V2.isWellFormedLowerSize(io.size())).toBe(true);
    const c = fmt().files.open(io);
    expect(c.read(io, 0, 1 << 16).toString('hex')).toBe(V.plaintext);
    const v1 = homecryptFormat(new MountKeys(mountKey, V.keyId), { plaintextNames: false, version: 1 });
    expect(() => v1.files.open(io)).toThrow(/format-2 file in a format-1 volume/);
  });

  it('the write record decodes and encodes byte-exact', () => {
    const r = V.writeRecord;
    const got = openWriteRecord(hex(V.contentKey), hex(V.fileId), hex(r.encoded), LAYOUT_V2.body);
    expect(got).not.toBeNull();
    expect(got!.sizeTo).toBe(r.sizeTo);
    expect(got!.restoreAt).toBe(r.restoreAt);
    expect(got!.doneAt).toBe(r.doneAt);
    expect(got!.bytes.toString('hex')).toBe(r.bytes);
    expect(got!.doneTag.toString('hex')).toBe(r.doneTag);
    expect(encodeWriteRecord(hex(V.contentKey), hex(V.fileId), got!, hex(r.nonce)).toString('hex')).toBe(r.encoded);
    // another file's key, or one flipped bit: not a record
    const flipped = hex(r.encoded);
    flipped[20]! ^= 1;
    expect(openWriteRecord(hex(V.contentKey), hex(V.fileId), flipped, LAYOUT_V2.body)).toBeNull();
    expect(openWriteRecord(hex(V.contentKey), Buffer.alloc(16), hex(r.encoded), LAYOUT_V2.body)).toBeNull();
  });

  it('the half-done append fails until its record is applied, then reads as the plaintext', () => {
    const io = new MemIO(hex(V.tornAppend.lowerFile));
    const f = fmt();
    expect(() => f.files.open(io).read(io, 0, 1 << 16)).toThrow();
    expect(f.files.hasPendingWrite!(io)).toBe(true);
    const view = f.files.recoveredView!(io);
    expect(
      f.files
        .open(view)
        .read(view, 0, 1 << 16)
        .toString('hex'),
    ).toBe(V.plaintext);
    expect(f.files.recover!(io)).toBe(true);
    expect(f.files.hasPendingWrite!(io)).toBe(false);
    expect(
      f.files
        .open(io)
        .read(io, 0, 1 << 16)
        .toString('hex'),
    ).toBe(V.plaintext);
  });
});
