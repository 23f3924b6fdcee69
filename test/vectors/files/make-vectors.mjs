// Regenerates the committed format-v1 vectors and fixture tree (run from the
// repo root after `npx tsc`: node test/vectors/files/make-vectors.mjs). The
// committed files are the reference: a format change must not alter them.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

const dist = new URL('../../../dist/', import.meta.url);
const { keyIdOf } = await import(new URL('crypto/key-id.js', dist));
const { deriveWrapKey, MountKeys } = await import(new URL('engine/mount-keys.js', dist));
const { deriveNameKeys, encryptNameString } = await import(new URL('format/names.js', dist));
const { encodeFileHeader, headerAad } = await import(new URL('format/file-header.js', dist));
const { sealBlock } = await import(new URL('format/content.js', dist));
const { gcmSeal } = await import(new URL('crypto/aead.js', dist));
const { homecryptFormat } = await import(new URL('engine/homecrypt-format.js', dist));
const { EncryptedFilesystem } = await import(new URL('engine/filesystem.js', dist));
const { writeNewVolumeConfig } = await import(new URL('engine/volume.js', dist));

const here = new URL('.', import.meta.url).pathname;
const mountKey = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const keyId = keyIdOf(mountKey);
const wrapKey = deriveWrapKey(mountKey);
const nk = deriveNameKeys(mountKey);
const fileId = Buffer.from('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff', 'hex');
const contentKey = Buffer.from('a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf', 'hex');
const wrapNonce = Buffer.from('c0c1c2c3c4c5c6c7c8c9cacb', 'hex');
const blockNonce = Buffer.from('d0d1d2d3d4d5d6d7d8d9dadb', 'hex');
const wrapped = gcmSeal(wrapKey, wrapNonce, contentKey, headerAad(fileId, keyId));
const header = encodeFileHeader({ fileId, keyId, wrapNonce, wrappedKey: wrapped });
const plain0 = Buffer.alloc(4096, 0x41);
const plain1 = Buffer.from('hello, world\n');

const vectors = {
  comment: 'homecrypt file format v1 vectors (docs/FORMAT-FILES.md). All values hex unless noted.',
  mountKey: mountKey.toString('hex'),
  keyId,
  wrapKey: wrapKey.toString('hex'),
  nameMacKey: nk.macKey.toString('hex'),
  nameEncKey: nk.encKey.toString('hex'),
  file: {
    fileId: fileId.toString('hex'),
    contentKey: contentKey.toString('hex'),
    wrapNonce: wrapNonce.toString('hex'),
    header: header.toString('hex'),
    blocks: [
      {
        block: 0,
        final: false,
        nonce: blockNonce.toString('hex'),
        plaintext: plain0.toString('hex'),
        sealed: sealBlock(contentKey, fileId, 0, false, plain0, blockNonce).toString('hex'),
      },
      {
        block: 1,
        final: true,
        nonce: blockNonce.toString('hex'),
        plaintext: plain1.toString('hex'),
        sealed: sealBlock(contentKey, fileId, 1, true, plain1, blockNonce).toString('hex'),
      },
      {
        block: 0,
        final: true,
        nonce: blockNonce.toString('hex'),
        plaintext: '',
        sealed: sealBlock(contentKey, fileId, 0, true, Buffer.alloc(0), blockNonce).toString('hex'),
      },
    ],
  },
  names: ['a', 'hello.txt', '.bashrc', 'Grüße ✓', 'x'.repeat(175), 'y'.repeat(176)].map((name) => ({
    plaintext: name,
    domain: 'name',
    encoded: encryptNameString(nk, 'name', name),
  })),
  symlinkTarget: { plaintext: '../docs/readme.txt', encoded: encryptNameString(nk, 'target', '../docs/readme.txt') },
  xattrName: { plaintext: 'user.colour', lower: `user.${encryptNameString(nk, 'xattr', 'colour')}` },
};
writeFileSync(join(here, 'vectors-v1.json'), `${JSON.stringify(vectors, null, 2)}\n`);

// the fixture tree: a lower directory as the engine writes it
for (const [dirName, plaintextNames] of [
  ['tree-v1', false],
  ['tree-v1-plaintext-names', true],
]) {
  const lower = join(here, dirName);
  rmSync(lower, { recursive: true, force: true });
  mkdirSync(lower);
  writeNewVolumeConfig(lower, mountKey, { plaintextNames, keystore: null, version: 1 });
  const keys = new MountKeys(mountKey, keyId);
  const fs = new EncryptedFilesystem({ lowerRoot: lower, format: homecryptFormat(keys, { plaintextNames }) });
  const put = (p, data) => {
    const fh = fs.create(p, 0o644);
    fs.write(p, fh, data, 0);
    fs.release(p, fh);
  };
  const expected = {};
  fs.mkdir('/docs', 0o755);
  fs.mkdir('/docs/nested', 0o755);
  const files = {
    '/docs/readme.txt': Buffer.from('homecrypt fixture\n'),
    '/docs/nested/empty': Buffer.alloc(0),
    '/docs/nested/block-sized': Buffer.alloc(4096, 7),
    '/three-blocks.bin': Buffer.from(Array.from({ length: 10000 }, (_, i) => (i * 7) & 0xff)),
    [`/${'long-name-'.repeat(25)}`]: Buffer.from('long name\n'),
    '/homecrypt.conf': Buffer.from('a user file with a reserved name\n'),
  };
  for (const [p, data] of Object.entries(files)) {
    put(p, data);
    expected[p] = { type: 'file', sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
  }
  fs.symlink('docs/readme.txt', '/link');
  expected['/link'] = { type: 'symlink', target: 'docs/readme.txt' };
  expected['/docs'] = { type: 'dir' };
  expected['/docs/nested'] = { type: 'dir' };
  writeFileSync(join(here, `${dirName}.expected.json`), `${JSON.stringify(expected, null, 2)}\n`);
}
console.log('wrote vectors-v1.json and fixture trees');
