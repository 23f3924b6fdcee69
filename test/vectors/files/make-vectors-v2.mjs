// Regenerates the committed format-2 content vectors (run from the repo root
// after `npx tsc`: node test/vectors/files/make-vectors-v2.mjs). The committed
// file is the reference: test/format2/vectors.test.ts decodes it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dist = new URL('../../../dist/', import.meta.url);
const { keyIdOf } = await import(new URL('crypto/key-id.js', dist));
const { deriveWrapKey } = await import(new URL('engine/mount-keys.js', dist));
const { encodeFileHeader, headerAad } = await import(new URL('format/file-header.js', dist));
const { sealBlock } = await import(new URL('format/content.js', dist));
const { gcmSeal } = await import(new URL('crypto/aead.js', dist));
const { LAYOUT_V2 } = await import(new URL('format/block-offsets.js', dist));
const { encodeWriteRecord } = await import(new URL('format/write-record.js', dist));

const here = new URL('.', import.meta.url).pathname;
const mountKey = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const keyId = keyIdOf(mountKey);
const wrapKey = deriveWrapKey(mountKey);
const fileId = Buffer.from('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff', 'hex');
const contentKey = Buffer.from('a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf', 'hex');
const wrapNonce = Buffer.from('c0c1c2c3c4c5c6c7c8c9cacb', 'hex');
const nonceA = Buffer.from('d0d1d2d3d4d5d6d7d8d9dadb', 'hex');
const nonceB = Buffer.from('e0e1e2e3e4e5e6e7e8e9eaeb', 'hex');
const recordNonce = Buffer.from('b0b1b2b3b4b5b6b7b8b9babb', 'hex');

const wrapped = gcmSeal(wrapKey, wrapNonce, contentKey, headerAad(fileId, keyId, 0, 2));
const header = encodeFileHeader({ fileId, keyId, version: 2, wrapNonce, wrappedKey: wrapped });
// a file of 4096 + 13 bytes: the slot empty (zeros), block 0, then block 1 (final)
const plain = Buffer.concat([Buffer.alloc(4096, 0x41), Buffer.from('hello, world\n')]);
const block0 = sealBlock(contentKey, fileId, 0, false, plain.subarray(0, 4096), nonceA);
const block1 = sealBlock(contentKey, fileId, 1, true, plain.subarray(4096), nonceA);
const lower = Buffer.concat([header, Buffer.alloc(LAYOUT_V2.body - header.length), block0, block1]);

// the record an append of "more\n" leaves before it re-seals block 1: the old
// block 1 goes back, and the file is cut to its old size, unless the append's
// last tag is in place
const grown = Buffer.concat([plain.subarray(4096), Buffer.from('more\n')]);
const newBlock1 = sealBlock(contentKey, fileId, 1, true, grown, nonceB);
const record = {
  sizeTo: lower.length,
  restoreAt: LAYOUT_V2.lowerOffsetOfBlock(1),
  bytes: block1,
  doneAt: LAYOUT_V2.lowerOffsetOfBlock(1) + newBlock1.length,
  doneTag: newBlock1.subarray(newBlock1.length - 16),
};
const encoded = encodeWriteRecord(contentKey, fileId, record, recordNonce);
// the lower file with that record in its slot and the append half done (the
// first 20 bytes of the new block 1 in place): it reads as `plaintext` once
// the record is applied
const torn = Buffer.from(lower);
encoded.copy(torn, 92);
newBlock1.copy(torn, record.restoreAt, 0, 20);

const vectors = {
  comment: 'homecrypt file format 2 content vectors (docs/FORMAT-FILES.md, "Format 2"). All values hex unless noted.',
  mountKey: mountKey.toString('hex'),
  keyId,
  fileId: fileId.toString('hex'),
  contentKey: contentKey.toString('hex'),
  header: header.toString('hex'),
  plaintext: plain.toString('hex'),
  lowerFile: lower.toString('hex'),
  writeRecord: {
    nonce: recordNonce.toString('hex'),
    sizeTo: record.sizeTo,
    restoreAt: record.restoreAt,
    bytes: record.bytes.toString('hex'),
    doneAt: record.doneAt,
    doneTag: record.doneTag.toString('hex'),
    encoded: encoded.toString('hex'),
  },
  tornAppend: {
    comment: 'lowerFile with the write record in its slot and the append half done: reads as plaintext once the record is applied',
    lowerFile: torn.toString('hex'),
  },
};
writeFileSync(join(here, 'vectors-v2.json'), `${JSON.stringify(vectors, null, 2)}\n`);
