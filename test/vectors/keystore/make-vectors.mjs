// Writes the key-store test vectors (run once from the repo root after a build:
// `node test/vectors/keystore/make-vectors.mjs`). The committed files are the
// reference: tests decode them; rerunning this makes new random salts/nonces.
import { writeFileSync } from 'node:fs';
import { encodeKeyStore } from '../../../dist/format/key-store-layout.js';
import { sealSlot } from '../../../dist/keys/keyslot.js';
import { keyIdOf } from '../../../dist/crypto/key-id.js';
import { formatRecoveryKey } from '../../../dist/crypto/recovery-key.js';

const dir = new URL('./', import.meta.url);
const kdf = { iterations: 2, memoryKiB: 256, parallelism: 1 }; // tiny, so tests are fast
const mountKey = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const keyId = keyIdOf(mountKey);
const recoveryBytes = Buffer.from('a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3', 'hex');
const recoveryKey = formatRecoveryKey(recoveryBytes);
const login = 'correct horse battery staple';
const extra = 'pässwörd with ünïcode';

const basic = encodeKeyStore({
  version: 1,
  keyId,
  slots: [
    await sealSlot(mountKey, keyId, Buffer.from(login), 'passphrase', 'login', kdf),
    await sealSlot(mountKey, keyId, recoveryBytes, 'recovery', 'recovery', kdf),
  ],
});
writeFileSync(new URL('v1-basic.hcks', dir), basic, { mode: 0o600 });

const three = encodeKeyStore({
  version: 1,
  keyId,
  slots: [
    await sealSlot(mountKey, keyId, Buffer.from(login), 'passphrase', 'login', kdf),
    await sealSlot(mountKey, keyId, recoveryBytes, 'recovery', 'recovery', { ...kdf, iterations: 1, memoryKiB: 512 }),
    await sealSlot(mountKey, keyId, Buffer.from(extra), 'passphrase', 'backup.laptop_2', kdf),
  ],
});
writeFileSync(new URL('v1-three-slots.hcks', dir), three, { mode: 0o600 });

writeFileSync(
  new URL('vectors.json', dir),
  `${JSON.stringify(
    {
      mountKeyHex: mountKey.toString('hex'),
      keyId,
      recoveryKeyBytesHex: recoveryBytes.toString('hex'),
      recoveryKey,
      files: {
        'v1-basic.hcks': {
          version: 1,
          secrets: { login },
          slots: [
            { name: 'login', kind: 'passphrase', kdf },
            { name: 'recovery', kind: 'recovery', kdf },
          ],
        },
        'v1-three-slots.hcks': {
          version: 1,
          secrets: { login, 'backup.laptop_2': extra },
          slots: [
            { name: 'login', kind: 'passphrase', kdf },
            { name: 'recovery', kind: 'recovery', kdf: { ...kdf, iterations: 1, memoryKiB: 512 } },
            { name: 'backup.laptop_2', kind: 'passphrase', kdf },
          ],
        },
      },
    },
    null,
    2,
  )}\n`,
);
console.log(keyId, recoveryKey);
