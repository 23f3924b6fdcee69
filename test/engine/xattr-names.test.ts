// Lower xattr names of the two stored namespaces (docs/FORMAT-FILES.md,
// "Extended attributes"), with the mount key of test/vectors/files/vectors-v1.json:
// a vector for trusted.*, and the separation of the namespaces.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { MountKeys } from '../../src/engine/mount-keys.js';
import { keyIdOf } from '../../src/crypto/key-id.js';
import { homecryptFormat } from '../../src/engine/homecrypt-format.js';
import { nameFromBytes } from '../../src/format/name-bytes.js';

const V = JSON.parse(readFileSync(new URL('../vectors/files/vectors-v1.json', import.meta.url), 'utf8'));
const key = Buffer.from(V.mountKey, 'hex');
const codec = (plaintextNames = false) => homecryptFormat(new MountKeys(key, keyIdOf(key)), { plaintextNames }).xattrs!;

describe('xattr names', () => {
  it('trusted.colour has a fixed lower name in the lower trusted namespace; user.colour keeps its v1 vector', () => {
    const x = codec();
    expect(x.encryptXattrName('trusted.colour')).toBe('trusted.Dr1INNIn-IIXTgHGEPzvmKa6tBt3pAKxo9s6LQydhg');
    expect(x.encryptXattrName('user.colour')).toBe(V.xattrName.lower);
    expect(x.decryptXattrName('trusted.Dr1INNIn-IIXTgHGEPzvmKa6tBt3pAKxo9s6LQydhg')).toBe('trusted.colour');
    expect(x.decryptXattrName(V.xattrName.lower)).toBe('user.colour');
  });

  it('a name moved to the other namespace in the lower directory is not ours (hidden)', () => {
    const x = codec();
    const t = x.encryptXattrName('trusted.colour')!;
    const u = x.encryptXattrName('user.colour')!;
    expect(x.decryptXattrName(`user.${t.slice('trusted.'.length)}`)).toBeNull();
    expect(x.decryptXattrName(`trusted.${u.slice('user.'.length)}`)).toBeNull();
    // and a value sealed for one lower name does not open under another
    const sealed = x.encryptXattrValue(t, Buffer.from('v'));
    expect(() => x.decryptXattrValue(u, sealed)).toThrow();
  });

  it('other namespaces are not stored; plaintext-name volumes keep names as they are', () => {
    expect(codec().encryptXattrName('security.selinux')).toBeNull();
    expect(codec().encryptXattrName('system.posix_acl_access')).toBeNull(); // ACLs are the lower entry's own, not through the codec
    expect(codec(true).encryptXattrName('trusted.colour')).toBe('trusted.colour');
  });

  it("a value is bound to its lower name's bytes: two names that are not UTF-8 differ (plaintext names)", () => {
    const x = codec(true);
    const [a, b] = [Buffer.of(0xff), Buffer.of(0xfe)].map((n) => nameFromBytes(Buffer.concat([Buffer.from('user.'), n])));
    expect(x.encryptXattrName(a!)).toBe(a);
    const sealed = x.encryptXattrValue(a!, Buffer.from('v'));
    expect(x.decryptXattrValue(a!, sealed).toString()).toBe('v');
    // as UTF-8 strings both would be "user.\ufffd": the same AAD
    expect(() => x.decryptXattrValue(b!, sealed)).toThrow();
  });
});
