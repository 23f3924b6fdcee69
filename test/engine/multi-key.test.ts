// Several mount keys in one volume: new files use the current key, files under
// any loaded key open, a file under a key that is not loaded gives ENOKEY.
// Driven through the engine's operations directly (no mount needed).
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { keyIdOf } from '../../src/crypto/key-id.js';
import { openVolume, setCurrentKey, writeNewVolumeConfig } from '../../src/engine/volume.js';
import { EncryptedFilesystem } from '../../src/engine/filesystem.js';
import { ENOKEY } from '../../src/engine/errno.js';
import { MountKeys } from '../../src/engine/mount-keys.js';
import { homecryptFormat } from '../../src/engine/homecrypt-format.js';

const A = Buffer.alloc(32, 0xa);
const B = Buffer.alloc(32, 0xb);
const dir = mkdtempSync('/tmp/hc-multikey-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fsOf(keys: Buffer[]) {
  const vol = openVolume(dir, keys);
  return new EncryptedFilesystem({ lowerRoot: vol.lowerRoot, format: vol.format, log: () => undefined });
}
function put(fs: EncryptedFilesystem, p: string, text: string) {
  const fh = fs.create(p, 0o600);
  fs.write(p, fh, Buffer.from(text), 0);
  fs.release(p, fh);
}
function get(fs: EncryptedFilesystem, p: string): string {
  const fh = fs.open(p, 0);
  try {
    const buf = Buffer.alloc(100);
    return buf.subarray(0, fs.read(p, fh, buf, 0)).toString();
  } finally {
    fs.release(p, fh);
  }
}
const headerKeyIds = () =>
  readdirSync(dir)
    .filter((n) => !n.includes('.'))
    .map((n) => readFileSync(join(dir, n)).subarray(24, 32).toString('hex'))
    .sort();

describe('multiple mount keys', () => {
  it('new files use the current key; all loaded keys open their files', () => {
    writeNewVolumeConfig(dir, A, { keystore: null });
    put(fsOf([A]), '/under-a', 'alpha');
    setCurrentKey(dir, A, B);
    const both = fsOf([A, B]);
    put(both, '/under-b', 'bravo');
    expect(headerKeyIds()).toEqual([keyIdOf(A), keyIdOf(B)].sort());
    expect(get(both, '/under-a')).toBe('alpha');
    expect(get(both, '/under-b')).toBe('bravo');
    expect(() => fsOf([B])).toThrow(/not available/); // names derive from A
  });

  it('a file under a key that is not loaded gives ENOKEY, others still open', () => {
    // a mount that holds A only (openVolume would insist on the current key B); the volume is format 2
    const onlyA = new EncryptedFilesystem({
      lowerRoot: dir,
      format: homecryptFormat(new MountKeys(A, keyIdOf(A)), { plaintextNames: false, version: 2 }),
      log: () => undefined,
    });
    expect(get(onlyA, '/under-a')).toBe('alpha');
    expect(() => onlyA.open('/under-b', 0)).toThrow(expect.objectContaining({ errno: ENOKEY }));
  });
});
