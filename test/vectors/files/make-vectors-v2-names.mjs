// Regenerates the committed format-2 name vectors and fixture tree (run from
// the repo root after `npx tsc`: node test/vectors/files/make-vectors-v2-names.mjs).
// The committed files are the reference: a change must not alter them. The
// tree holds directories and symlinks only (names are what it shows; file
// contents have their own vectors).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dist = new URL('../../../dist/', import.meta.url);
const { keyIdOf } = await import(new URL('crypto/key-id.js', dist));
const { MountKeys } = await import(new URL('engine/mount-keys.js', dist));
const { deriveNameKeys, encryptNameString } = await import(new URL('format/names.js', dist));
const { sealDirIv } = await import(new URL('format/dir-iv.js', dist));
const { longEntryName, sidecarNameOf } = await import(new URL('format/long-names.js', dist));
const { homecryptFormat } = await import(new URL('engine/homecrypt-format.js', dist));
const { EncryptedFilesystem } = await import(new URL('engine/filesystem.js', dist));
const { writeNewVolumeConfig } = await import(new URL('engine/volume.js', dist));

const here = new URL('.', import.meta.url).pathname;
const mountKey = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const keyId = keyIdOf(mountKey);
const nk = deriveNameKeys(mountKey);
const ivA = Buffer.from('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf', 'hex');
const ivB = Buffer.from('b0b1b2b3b4b5b6b7b8b9babbbcbdbebf', 'hex');

const nameRow = (iv, name) => {
  const encoded = encryptNameString(nk, 'dirname', name, iv);
  const row = { dirIV: iv.toString('hex'), plaintext: name, encoded };
  if (encoded.length > 255) Object.assign(row, { lowerName: longEntryName(encoded), sidecar: sidecarNameOf(longEntryName(encoded)) });
  return row;
};

const vectors = {
  comment: 'homecrypt format 2 name vectors (docs/FORMAT-FILES.md, "Format 2: names"). Hex unless noted; encoded is base64url.',
  mountKey: mountKey.toString('hex'),
  keyId,
  nameMacKey: nk.macKey.toString('hex'),
  nameEncKey: nk.encKey.toString('hex'),
  dirIvFiles: [ivA, ivB].map((iv) => ({ iv: iv.toString('hex'), content: sealDirIv(nk, iv).toString('hex') })),
  names: [
    nameRow(ivA, 'a'),
    nameRow(ivB, 'a'),
    nameRow(ivA, 'hello.txt'),
    nameRow(ivB, 'hello.txt'),
    nameRow(ivA, 'Grüße ✓'),
    nameRow(ivA, 'x'.repeat(175)),
    nameRow(ivA, 'y'.repeat(176)),
    nameRow(ivB, 'y'.repeat(176)),
  ],
  // unchanged from format 1: not bound to a directory (docs/FORMAT-FILES.md says why)
  symlinkTarget: { plaintext: '../docs/readme.txt', encoded: encryptNameString(nk, 'target', '../docs/readme.txt') },
  xattrName: { plaintext: 'user.colour', lower: `user.${encryptNameString(nk, 'xattr', 'colour')}` },
};
writeFileSync(join(here, 'vectors-v2-names.json'), `${JSON.stringify(vectors, null, 2)}\n`);

// the fixture tree: a format-2 lower directory as the engine writes it (random IVs)
const lower = join(here, 'tree-v2-names');
rmSync(lower, { recursive: true, force: true });
mkdirSync(lower);
writeNewVolumeConfig(lower, mountKey, { keystore: null, version: 2 });
const fs = new EncryptedFilesystem({
  lowerRoot: lower,
  format: homecryptFormat(new MountKeys(mountKey, keyId), { plaintextNames: false, version: 2 }),
});
const expected = {};
const dir = (p) => {
  fs.mkdir(p, 0o755);
  expected[p] = { type: 'dir' };
};
const link = (target, p) => {
  fs.symlink(target, p);
  expected[p] = { type: 'symlink', target };
};
dir('/docs');
dir('/src');
dir('/src/nested');
const longName = 'long-name-'.repeat(25);
dir(`/${longName}`);
// equal names in different directories
link('docs readme', '/docs/readme');
link('src readme', '/src/readme');
link('nested readme', '/src/nested/readme');
link('below a long-named directory', `/${longName}/readme`);
link('a long name in a subdirectory', `/src/${longName}`);
link("a user entry with the IV file's name", '/homecrypt.diriv');
writeFileSync(join(here, 'tree-v2-names.expected.json'), `${JSON.stringify(expected, null, 2)}\n`);
console.log('wrote vectors-v2-names.json and tree-v2-names');
