// Format 2 names against their committed vectors and fixture tree
// (test/vectors/files/vectors-v2-names.json, tree-v2-names/; generator
// make-vectors-v2-names.mjs): directory IV files, names sealed under their
// directory's IV (long names too), and a lower tree that decodes byte-exact.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { keyIdOf } from '../../src/crypto/key-id.js';
import { deriveNameKeys, decryptNameString, encryptNameString } from '../../src/format/names.js';
import { openDirIv, sealDirIv } from '../../src/format/dir-iv.js';
import { openVolume } from '../../src/engine/volume.js';
import { EncryptedFilesystem } from '../../src/engine/filesystem.js';
import { fsckVolume } from '../../src/engine/fsck.js';
import { MountKeys } from '../../src/engine/mount-keys.js';
import { homecryptFormat } from '../../src/engine/homecrypt-format.js';
import type { DirContext } from '../../src/engine/volume-format.js';
import { decodeTree } from '../engine/decode-tree.js';

const dir = new URL('../vectors/files/', import.meta.url).pathname;
const V = JSON.parse(readFileSync(`${dir}vectors-v2-names.json`, 'utf8'));
const hex = (s: string) => Buffer.from(s, 'hex');
const mountKey = hex(V.mountKey);
const nk = deriveNameKeys(mountKey);

describe('format 2 name vectors', () => {
  it('derives the same name keys as format 1', () => {
    expect(keyIdOf(mountKey)).toBe(V.keyId);
    expect(nk.macKey.toString('hex')).toBe(V.nameMacKey);
    expect(nk.encKey.toString('hex')).toBe(V.nameEncKey);
  });

  it('seals and opens directory IV files; a changed byte fails', () => {
    for (const f of V.dirIvFiles) {
      expect(sealDirIv(nk, hex(f.iv)).toString('hex')).toBe(f.content);
      expect(openDirIv(nk, hex(f.content), 'vector').toString('hex')).toBe(f.iv);
      const bad = hex(f.content);
      bad[3]! ^= 1;
      expect(() => openDirIv(nk, bad, 'vector')).toThrow(/failed authentication/);
      expect(() => openDirIv(nk, hex(f.content).subarray(0, 31), 'vector')).toThrow(/31 bytes/);
      expect(() => openDirIv(nk, null, 'vector')).toThrow(/missing/);
    }
  });

  it('encrypts each name under its directory IV; under another IV it does not open', () => {
    const [ivA, ivB] = V.dirIvFiles.map((f: { iv: string }) => hex(f.iv));
    for (const n of V.names) {
      const iv = hex(n.dirIV);
      expect(encryptNameString(nk, 'dirname', n.plaintext, iv)).toBe(n.encoded);
      expect(decryptNameString(nk, 'dirname', n.encoded, iv)).toBe(n.plaintext);
      expect(() => decryptNameString(nk, 'dirname', n.encoded, iv.equals(ivA) ? ivB : ivA)).toThrow(/authentication/);
      expect(() => decryptNameString(nk, 'name', n.encoded)).toThrow(/authentication/);
    }
    const a = V.names.filter((n: { plaintext: string }) => n.plaintext === 'a');
    expect(a[0].encoded).not.toBe(a[1].encoded);
  });

  it('the codec: long names through sidecars bound to the directory', () => {
    const names = homecryptFormat(new MountKeys(mountKey, keyIdOf(mountKey)), { plaintextNames: false, version: 2 }).names;
    for (const n of V.names) {
      const sidecars = new Map<string, Buffer>();
      const ctx: DirContext = { lowerDir: 'd', readSidecar: (s) => sidecars.get(s) ?? null, dirIV: () => hex(n.dirIV) };
      const enc = names.encryptName(n.plaintext, ctx);
      expect(enc.lowerName).toBe(n.lowerName ?? n.encoded);
      if (n.sidecar) {
        expect(enc.sidecar).toEqual({ name: n.sidecar, content: Buffer.from(n.encoded, 'ascii') });
        sidecars.set(n.sidecar, enc.sidecar!.content);
      }
      expect(names.decryptName(enc.lowerName, ctx)).toBe(n.plaintext);
    }
    const root: DirContext = { lowerDir: '', readSidecar: () => null, dirIV: () => hex(V.dirIvFiles[0].iv) };
    for (const hidden of ['homecrypt.diriv', 'homecrypt.conf', 'homecrypt.keys', 'homecrypt.mkdir~0011223344556677']) {
      expect(names.decryptName(hidden, root)).toBeNull();
    }
  });

  it('symlink targets and xattr names are as in format 1', () => {
    expect(encryptNameString(nk, 'target', V.symlinkTarget.plaintext)).toBe(V.symlinkTarget.encoded);
    expect(`user.${encryptNameString(nk, 'xattr', 'colour')}`).toBe(V.xattrName.lower);
  });
});

describe('fixture tree-v2-names', () => {
  const expected = JSON.parse(readFileSync(`${dir}tree-v2-names.expected.json`, 'utf8'));
  const vol = openVolume(`${dir}tree-v2-names`, [mountKey]);
  const fs = new EncryptedFilesystem({ lowerRoot: vol.lowerRoot, format: vol.format, log: () => undefined });

  it('is a format-2 volume and decodes to the expected tree', () => {
    expect(vol.formatVersion).toBe(2);
    expect(decodeTree(fs)).toEqual(expected);
  });

  it('passes fsck', () => {
    expect(fsckVolume(vol).problems).toEqual([]);
  });
});
