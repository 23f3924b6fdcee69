// Key-store operations on real files: create, unwrap by every slot, rewrap,
// slot management, and the refusals that keep a user from losing the key.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  addPassphraseSlot,
  addRecoverySlot,
  createKeyStore,
  readKeyStoreInfo,
  removeSlot,
  rewrapLogin,
  rewrapLoginWithMountKey,
  unwrapKeyStore,
} from '../../src/keys/key-store.js';
import { keyIdOf } from '../../src/crypto/key-id.js';
import {
  CorruptFileError,
  KeyNotAvailableError,
  RecoveryKeyTypoError,
  RefusedError,
  UnsafePermissionsError,
  UnsupportedFormatError,
  UsageError,
  WrongPassphraseError,
} from '../../src/errors.js';
import { TEST_KDF_TIME, tempDir, vectorCopy, vectors } from '../helpers/key-store-vectors.js';
import { skipUnless } from '../helpers/requirements.js';

const { dir, cleanup } = tempDir();
afterAll(cleanup);
const b = (s: string) => Buffer.from(s, 'utf8');
let n = 0;
const fresh = () => join(dir, `ks-${n++}`);
const flip = (buf: Buffer, at: number) => {
  const c = Buffer.from(buf);
  c[at] ^= 0x55;
  return c;
};
const opts = { kdfTimeSeconds: TEST_KDF_TIME };

describe('key store operations', () => {
  it('opens the committed vectors by login passphrase, extra slot and recovery key', async () => {
    const p = vectorCopy('v1-three-slots.hcks', dir);
    const v = vectors.files['v1-three-slots.hcks'];
    for (const [slot, secret] of [
      ['login', v.secrets.login],
      ['backup.laptop_2', v.secrets['backup.laptop_2']],
      ['recovery', vectors.recoveryKey],
    ]) {
      const r = await unwrapKeyStore(p, b(secret));
      expect(r).toEqual({ keyId: vectors.keyId, mountKey: Buffer.from(vectors.mountKeyHex, 'hex'), slot });
    }
    expect(readKeyStoreInfo(p)).toEqual({
      version: 1,
      keyId: vectors.keyId,
      slots: v.slots.map((s) => ({ name: s.name, kind: s.kind, kdf: { algorithm: 'argon2id', ...s.kdf } })),
    });
  });

  it('creates a 0600 file with login and recovery slots wrapping a random 256-bit key', async () => {
    const p = fresh();
    const r = await createKeyStore(p, { passphrase: b('pass'), ...opts });
    expect(r.mountKey.length).toBe(32);
    expect(r.keyId).toBe(keyIdOf(r.mountKey));
    expect(statSync(p).mode & 0o777).toBe(0o600);
    const info = readKeyStoreInfo(p);
    expect(info.slots.map((s) => [s.name, s.kind])).toEqual([
      ['login', 'passphrase'],
      ['recovery', 'recovery'],
    ]);
    expect(info.slots[0].kdf.memoryKiB).toBeGreaterThanOrEqual(8 * 1024);
    // the mount key and the passphrase are not in the file
    const raw = readFileSync(p);
    expect(raw.includes(r.mountKey)).toBe(false);
    expect(raw.includes(b('pass'))).toBe(false);
    expect((await unwrapKeyStore(p, b('pass'))).mountKey.equals(r.mountKey)).toBe(true);
    expect((await unwrapKeyStore(p, b(r.recoveryKey))).slot).toBe('recovery');
    const other = await createKeyStore(fresh(), { passphrase: b('pass'), ...opts });
    expect(other.mountKey.equals(r.mountKey)).toBe(false);
  });

  it('wraps a given mount key, and chowns to a given owner', async () => {
    const key = Buffer.alloc(32, 7);
    const p = fresh();
    const r = await createKeyStore(p, { passphrase: b('x'), mountKey: key, owner: { uid: 4242, gid: 4243 }, ...opts });
    expect(r.keyId).toBe(keyIdOf(key));
    expect(statSync(p).uid).toBe(4242);
    expect(statSync(p).gid).toBe(4243);
    expect((await unwrapKeyStore(p, b('x'), { expectUid: 4242 })).mountKey.equals(key)).toBe(true);
  });

  it('refuses to overwrite an existing file', async () => {
    const p = fresh();
    writeFileSync(p, 'precious', { mode: 0o600 });
    await expect(createKeyStore(p, { passphrase: b('x'), ...opts })).rejects.toThrowError(RefusedError);
    expect(readFileSync(p, 'utf8')).toBe('precious');
  });

  it('tells a wrong passphrase, a wrong recovery key and a recovery-key typo apart', async () => {
    const p = fresh();
    const r = await createKeyStore(p, { passphrase: b('right'), ...opts });
    await expect(unwrapKeyStore(p, b('wrong'))).rejects.toThrowError(/wrong passphrase/);
    const otherKey = (await createKeyStore(fresh(), { passphrase: b('z'), ...opts })).recoveryKey;
    await expect(unwrapKeyStore(p, b(otherKey))).rejects.toThrowError(/recovery key is well-formed but opens no slot/);
    const typo = r.recoveryKey.replace(/^(.)/, (c) => (c === 'A' ? 'B' : 'A'));
    const err = await unwrapKeyStore(p, b(typo)).catch((e) => e);
    expect(err).toBeInstanceOf(RecoveryKeyTypoError);
    expect(err).toBeInstanceOf(WrongPassphraseError);
    expect(err.message).toMatch(/typo in recovery key: group 1/);
  });

  it('rewraps the login passphrase with the old one, with the recovery key, and with the mount key', async () => {
    const p = fresh();
    const r = await createKeyStore(p, { passphrase: b('one'), ...opts });
    await rewrapLogin(p, b('one'), b('two'));
    await expect(unwrapKeyStore(p, b('one'))).rejects.toThrowError(WrongPassphraseError);
    expect((await unwrapKeyStore(p, b('two'))).slot).toBe('login');
    expect((await rewrapLogin(p, b(r.recoveryKey), b('three'))).openedWith).toBe('recovery');
    expect((await unwrapKeyStore(p, b('three'))).mountKey.equals(r.mountKey)).toBe(true);
    await rewrapLoginWithMountKey(p, r.mountKey, b('four'));
    expect((await unwrapKeyStore(p, b('four'))).slot).toBe('login');
    await expect(rewrapLoginWithMountKey(p, Buffer.alloc(32), b('five'))).rejects.toThrowError(KeyNotAvailableError);
    await expect(rewrapLogin(p, b('nope'), b('five'))).rejects.toThrowError(WrongPassphraseError);
    await expect(rewrapLogin(p, b('four'), b(''))).rejects.toThrowError(UsageError);
    // the recovery key still works after all that, and the key ID never changed
    expect((await unwrapKeyStore(p, b(r.recoveryKey))).keyId).toBe(r.keyId);
  });

  it('adds and removes passphrase and recovery slots, never the last way in', async () => {
    const p = fresh();
    const r = await createKeyStore(p, { passphrase: b('login'), ...opts });
    expect(await addPassphraseSlot(p, b('login'), b('extra'))).toBe('passphrase-2');
    expect(await addPassphraseSlot(p, b('extra'), b('named'), { name: 'laptop' })).toBe('laptop');
    await expect(addPassphraseSlot(p, b('login'), b('x'), { name: 'laptop' })).rejects.toThrowError(RefusedError);
    await expect(addPassphraseSlot(p, b('login'), b('x'), { name: 'Bad Name' })).rejects.toThrowError(UsageError);
    const rk2 = await addRecoverySlot(p, b('named'));
    expect(readKeyStoreInfo(p).slots.map((s) => s.name)).toEqual(['login', 'recovery', 'passphrase-2', 'laptop', 'recovery-2']);
    expect((await unwrapKeyStore(p, b(rk2))).slot).toBe('recovery-2');
    expect((await unwrapKeyStore(p, b('extra'))).slot).toBe('passphrase-2');
    // removing needs a secret of a slot that stays
    await expect(removeSlot(p, b('extra'), 'passphrase-2')).rejects.toThrowError(/none of the slots that would remain/);
    await removeSlot(p, b('login'), 'passphrase-2');
    await expect(unwrapKeyStore(p, b('extra'))).rejects.toThrowError(WrongPassphraseError);
    await removeSlot(p, b(r.recoveryKey), 'login');
    await removeSlot(p, b(rk2), 'recovery');
    await removeSlot(p, b(rk2), 'laptop');
    expect(readKeyStoreInfo(p).slots.map((s) => s.name)).toEqual(['recovery-2']);
    await expect(removeSlot(p, b(rk2), 'recovery-2')).rejects.toThrowError(/last slot/);
    await expect(removeSlot(p, b(rk2), 'nosuch')).rejects.toThrowError(UsageError);
    // a login slot can be set again from the recovery key
    await rewrapLogin(p, b(rk2), b('back'));
    expect((await unwrapKeyStore(p, b('back'))).mountKey.equals(r.mountKey)).toBe(true);
  });

  it('checks mode, owner and file type before trusting the file', async () => {
    const p = fresh();
    await createKeyStore(p, { passphrase: b('pw'), ...opts });
    chmodSync(p, 0o640);
    await expect(unwrapKeyStore(p, b('pw'))).rejects.toThrowError(/mode 0640 .* must be 0600/);
    expect(() => readKeyStoreInfo(p)).toThrowError(UnsafePermissionsError);
    chmodSync(p, 0o600);
    // owned by a third user in a root-owned folder: refused; fine when that user is expected
    chownSync(p, 4321, 4321);
    expect(() => readKeyStoreInfo(p)).toThrowError(/owned by uid 4321/);
    expect(readKeyStoreInfo(p, { expectUid: 4321 }).slots.length).toBe(2);
    expect(() => readKeyStoreInfo(p, { expectUid: 4322 })).toThrowError(UnsafePermissionsError);
    // in a folder that user owns, root accepts it as theirs
    const home = join(dir, 'home-4321');
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, 4321, 4321);
    const inHome = join(home, 'keystore');
    await createKeyStore(inHome, { passphrase: b('pw'), owner: { uid: 4321, gid: 4321 }, ...opts });
    expect((await unwrapKeyStore(inHome, b('pw'))).slot).toBe('login');
    // rewriting as root keeps the user as the owner
    await rewrapLogin(inHome, b('pw'), b('pw2'));
    expect(statSync(inHome).uid).toBe(4321);
    expect(statSync(inHome).mode & 0o777).toBe(0o600);
    const link = join(dir, 'link');
    symlinkSync(inHome, link);
    expect(() => readKeyStoreInfo(link)).toThrowError(/symbolic link/);
    expect(() => readKeyStoreInfo(dir)).toThrowError(CorruptFileError);
    expect(() => readKeyStoreInfo(join(dir, 'absent'))).toThrowError(/no such key store/);
  });

  it('gives a clear error naming the file for corrupt, truncated, foreign and future files', async () => {
    const good = vectorCopy('v1-basic.hcks', dir);
    const bytes = readFileSync(good);
    const cases: [string, Buffer, RegExp, new (...args: never[]) => Error][] = [
      ['truncated', bytes.subarray(0, 150), /truncated/, CorruptFileError],
      ['foreign', Buffer.from('{"not":"a key store"}\n'), /not a homecrypt key store/, CorruptFileError],
      ['flipped', flip(bytes, 60), /checksum mismatch/, CorruptFileError],
      ['empty', Buffer.alloc(0), /empty file/, CorruptFileError],
    ];
    const future = Buffer.from(bytes);
    future[5] = 9;
    cases.push(['future', future, /version 9/, UnsupportedFormatError]);
    for (const [name, content, msg, type] of cases) {
      const p = join(dir, `bad-${name}`);
      writeFileSync(p, content, { mode: 0o600 });
      const err = await unwrapKeyStore(p, b('x')).catch((e) => e);
      expect(err).toBeInstanceOf(type);
      expect(err.message).toContain(p);
      expect(err.message).toMatch(msg);
    }
  });

  it.skipIf(skipUnless('root', 'key store on a full filesystem'))('on a full disk: a clear refusal, the old file intact and still opening', async () => {
    const mnt = join(dir, 'full');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'hc-keys-full', mnt]);
    try {
      const p = join(mnt, 'keystore');
      await createKeyStore(p, { passphrase: b('before'), ...opts });
      const before = readFileSync(p);
      spawnSync('dd', ['if=/dev/zero', `of=${join(mnt, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
      const err = await rewrapLogin(p, b('before'), b('after')).catch((e) => e);
      expect(err).toBeInstanceOf(RefusedError);
      expect(err.message).toMatch(/no space left.*nothing was changed/);
      expect(readFileSync(p).equals(before)).toBe(true);
      expect((await unwrapKeyStore(p, b('before'))).slot).toBe('login');
      expect(readdirSync(mnt).sort()).toEqual(['filler', 'keystore']); // no temp file left behind
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});
