// Regenerates the committed sparse-file vector (run from the repo root after
// `npx tsc`: node test/vectors/files/make-sparse-vector.mjs): a format-v1 file
// with FLAG_SPARSE, a data block, a hole (4124 zero bytes) and a final block.
// Same keys as vectors-v1.json. The committed file is the reference.
import { writeFileSync } from 'node:fs';

const dist = new URL('../../../dist/', import.meta.url);
const { keyIdOf } = await import(new URL('crypto/key-id.js', dist));
const { deriveWrapKey } = await import(new URL('engine/mount-keys.js', dist));
const { encodeFileHeader, headerAad, FLAG_SPARSE } = await import(new URL('format/file-header.js', dist));
const { sealBlock } = await import(new URL('format/content.js', dist));
const { gcmSeal } = await import(new URL('crypto/aead.js', dist));
const { BLOCK_LOWER } = await import(new URL('format/block-offsets.js', dist));

const here = new URL('.', import.meta.url).pathname;
const mountKey = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const keyId = keyIdOf(mountKey);
const fileId = Buffer.from('e0e1e2e3e4e5e6e7e8e9eaebecedeeef', 'hex');
const contentKey = Buffer.from('a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf', 'hex');
const wrapNonce = Buffer.from('c0c1c2c3c4c5c6c7c8c9cacb', 'hex');
const wrapped = gcmSeal(deriveWrapKey(mountKey), wrapNonce, contentKey, headerAad(fileId, keyId, FLAG_SPARSE));
const header = encodeFileHeader({ fileId, keyId, flags: FLAG_SPARSE, wrapNonce, wrappedKey: wrapped });
const plain0 = Buffer.alloc(4096);
Buffer.from('sparse vector: block 0\n').copy(plain0);
const plain2 = Buffer.from('final block 2\n');
const block0 = sealBlock(contentKey, fileId, 0, false, plain0, Buffer.from('d0d1d2d3d4d5d6d7d8d9dadb', 'hex'));
const block2 = sealBlock(contentKey, fileId, 2, true, plain2, Buffer.from('d1d1d2d3d4d5d6d7d8d9dadb', 'hex'));
const lower = Buffer.concat([header, block0, Buffer.alloc(BLOCK_LOWER), block2]);
const plaintext = Buffer.concat([plain0, Buffer.alloc(4096), plain2]);

writeFileSync(
  `${here}sparse-v1.json`,
  `${JSON.stringify(
    {
      comment: 'homecrypt format v1 file with FLAG_SPARSE (docs/FORMAT-FILES.md, "Holes"): block 1 is a hole. Hex.',
      mountKey: mountKey.toString('hex'),
      lower: lower.toString('hex'),
      plaintext: plaintext.toString('hex'),
    },
    null,
    1,
  )}\n`,
);
