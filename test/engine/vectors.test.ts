// Format v1 against its committed vectors and fixture trees
// (test/vectors/files/): old volumes must keep opening byte for byte.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { keyIdOf } from '../../src/crypto/key-id.js';
import { deriveWrapKey } from '../../src/engine/mount-keys.js';
import { deriveNameKeys, decryptNameString, encryptNameString } from '../../src/format/names.js';
import { encodeFileHeader, headerAad, parseFileHeader } from '../../src/format/file-header.js';
import { openBlock, sealBlock } from '../../src/format/content.js';
import { gcmOpen } from '../../src/crypto/aead.js';
import { openVolume } from '../../src/engine/volume.js';
import { EncryptedFilesystem } from '../../src/engine/filesystem.js';
import { fsckVolume } from '../../src/engine/fsck.js';
import { MountKeys } from '../../src/engine/mount-keys.js';
import { homecryptFormat } from '../../src/engine/homecrypt-format.js';
import { MemIO } from './mem-io.js';
import { decodeTree } from './decode-tree.js';

const dir = new URL('../vectors/files/', import.meta.url).pathname;
const V = JSON.parse(readFileSync(`${dir}vectors-v1.json`, 'utf8'));
const hex = (s: string) => Buffer.from(s, 'hex');
const mountKey = hex(V.mountKey);

describe('format v1 vectors', () => {
  it('derives the key ID, wrap key and name keys', () => {
    expect(keyIdOf(mountKey)).toBe(V.keyId);
    expect(deriveWrapKey(mountKey).toString('hex')).toBe(V.wrapKey);
    const nk = deriveNameKeys(mountKey);
    expect(nk.macKey.toString('hex')).toBe(V.nameMacKey);
    expect(nk.encKey.toString('hex')).toBe(V.nameEncKey);
  });

  it('parses the header and unwraps the content key', () => {
    const h = parseFileHeader(hex(V.file.header), 'vector');
    expect(h.fileId.toString('hex')).toBe(V.file.fileId);
    expect(h.keyId).toBe(V.keyId);
    const key = gcmOpen(deriveWrapKey(mountKey), h.wrapNonce, h.wrappedKey, headerAad(h.fileId, h.keyId));
    expect(key.toString('hex')).toBe(V.file.contentKey);
    expect(encodeFileHeader(h).toString('hex')).toBe(V.file.header);
  });

  it('seals and opens the blocks', () => {
    const key = hex(V.file.contentKey);
    const fileId = hex(V.file.fileId);
    for (const b of V.file.blocks) {
      expect(sealBlock(key, fileId, b.block, b.final, hex(b.plaintext), hex(b.nonce)).toString('hex')).toBe(b.sealed);
      expect(openBlock(key, fileId, b.block, b.final, hex(b.sealed)).toString('hex')).toBe(b.plaintext);
      expect(() => openBlock(key, fileId, b.block, !b.final, hex(b.sealed))).toThrow();
    }
  });

  it('encrypts names, targets and xattr names', () => {
    const nk = deriveNameKeys(mountKey);
    for (const n of V.names) {
      expect(encryptNameString(nk, 'name', n.plaintext)).toBe(n.encoded);
      expect(decryptNameString(nk, 'name', n.encoded)).toBe(n.plaintext);
    }
    expect(encryptNameString(nk, 'target', V.symlinkTarget.plaintext)).toBe(V.symlinkTarget.encoded);
    expect(`user.${encryptNameString(nk, 'xattr', 'colour')}`).toBe(V.xattrName.lower);
  });
});

describe('format v1 sparse file vector (FLAG_SPARSE, one hole)', () => {
  const S = JSON.parse(readFileSync(`${dir}sparse-v1.json`, 'utf8'));
  const keys = () => new MountKeys(hex(S.mountKey), keyIdOf(hex(S.mountKey)));

  it('reads byte-exact, the hole as zeros; fsck-style verify passes', () => {
    const io = new MemIO(hex(S.lower));
    const cipher = homecryptFormat(keys(), { plaintextNames: false }).files.open(io);
    expect(cipher.plaintextSize(io.size())).toBe(hex(S.plaintext).length);
    expect(cipher.read(io, 0, 1 << 16).toString('hex')).toBe(S.plaintext);
    cipher.verify!(io);
    expect(cipher.seek!(io, 100, 'hole')).toBe(4096);
    expect(cipher.seek!(io, 4096, 'data')).toBe(8192);
  });

  it('the same bytes with the flag cleared are refused: the flag is under the header tag', () => {
    const lower = hex(S.lower);
    lower.writeUInt16BE(0, 6);
    expect(() => homecryptFormat(keys(), { plaintextNames: false }).files.open(new MemIO(lower))).toThrow(/authentication/);
  });
});

for (const tree of ['tree-v1', 'tree-v1-plaintext-names']) {
  describe(`fixture ${tree}`, () => {
    const expected = JSON.parse(readFileSync(`${dir}${tree}.expected.json`, 'utf8')) as Record<string, { type: string; sha256?: string; target?: string }>;
    const vol = openVolume(`${dir}${tree}`, [mountKey]);
    const fs = new EncryptedFilesystem({ lowerRoot: vol.lowerRoot, format: vol.format, log: () => undefined });

    it('decodes to the expected tree', () => {
      expect(decodeTree(fs)).toEqual(expected);
    });

    it('passes fsck', () => {
      expect(fsckVolume(vol).problems).toEqual([]);
    });
  });
}
