// The mount key in the real kernel keyring, checked from outside with
// /proc/keys and keyctl(1) run as the users themselves: root inserting for a
// user makes that user the owner with possessor+owner permissions only, the
// key outlives the process that inserted it, and another uid cannot read it.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf } from '../../src/crypto/key-id.js';
import { forgetMountKey, insertMountKey, listMountKeys, MOUNT_KEY_PERM, readMountKey } from '../../src/os/keyring.js';
import { UsageError } from '../../src/errors.js';
import { skipUnless } from '../helpers/requirements.js';
import { asUser, createTestUserRetrying as createTestUser, removeTestUser, type TestUser } from '../helpers/users.js';

function newKey(): { key: Buffer; id: string } {
  const key = randomBytes(32);
  return { key, id: keyIdOf(key) };
}

/** The /proc/keys line of `homecrypt:<id>` as the user sees it, split in fields. */
function procKeysLine(u: TestUser, id: string): string[] | null {
  const r = asUser(u, 'cat /proc/keys');
  const line = r.stdout.split('\n').find((l) => l.endsWith(`homecrypt:${id}: 32`) || l.includes(` homecrypt:${id}:`));
  return line ? line.trim().split(/\s+/) : null;
}

function ownIds(): { uid: string; gid: string; status: string } {
  const status = readFileSync('/proc/self/status', 'utf8');
  return { uid: status.match(/^Uid:\s+(.*)$/m)![1], gid: status.match(/^Gid:\s+(.*)$/m)![1], status };
}

describe.skipIf(skipUnless('root', 'keyring', 'kernel keyring tests'))('kernel keyring', () => {
  let alice: TestUser;
  let bob: TestUser;
  beforeAll(() => {
    alice = createTestUser('hckra');
    bob = createTestUser('hckrb');
  });
  afterAll(() => {
    if (alice) removeTestUser(alice);
    if (bob) removeTestUser(bob);
  });

  it('root inserts for a user: the user owns it, possessor+owner permissions only, visible in /proc/keys and keyctl', () => {
    const { key, id } = newKey();
    const capsBefore = ownIds().status.match(/^Cap(Prm|Eff):.*$/gm);
    const serial = insertMountKey(id, key, { uid: alice.uid });
    expect(serial).toBeGreaterThan(0);
    // root's own identity and capabilities are back on the main thread
    expect(ownIds().uid.split(/\s+/)).toEqual(['0', '0', '0', '0']);
    expect(ownIds().gid.split(/\s+/)).toEqual(['0', '0', '0', '0']);
    expect(ownIds().status.match(/^Cap(Prm|Eff):.*$/gm)).toEqual(capsBefore);

    const f = procKeysLine(alice, id)!;
    expect(f).not.toBeNull();
    // serial, flags, usage, expiry, perm, uid, gid, type, description
    expect(parseInt(f[0], 16)).toBe(serial);
    expect(f[4]).toBe(MOUNT_KEY_PERM.toString(16).padStart(8, '0'));
    expect(Number(f[5])).toBe(alice.uid);
    expect(Number(f[6])).toBe(alice.gid);
    expect(f[7]).toBe('user');
    expect(parseInt(f[4], 16) & 0xffff).toBe(0); // nothing for group or other

    const d = asUser(alice, `keyctl describe ${serial}`);
    expect(d.stdout).toMatch(new RegExp(`^\\s*${serial}: alswrvalswrv------------\\s+${alice.uid}\\s+${alice.gid} user: homecrypt:${id}$`, 'm'));
    // a later, separate process of the user finds it in @u and reads the same bytes
    const found = asUser(alice, `keyctl search @u user homecrypt:${id}`);
    expect(Number(found.stdout.trim())).toBe(serial);
    const piped = asUser(alice, `keyctl pipe %user:homecrypt:${id} | base64 -w0`);
    expect(Buffer.from(piped.stdout, 'base64').equals(key)).toBe(true);

    expect(readMountKey(id, { uid: alice.uid })!.equals(key)).toBe(true);
    expect(listMountKeys({ uid: alice.uid })).toContainEqual({ keyId: id, serial });
    expect(forgetMountKey(id, { uid: alice.uid })).toBe(true);
  });

  it('another uid cannot read the key, see it, or find it', () => {
    const { key, id } = newKey();
    const serial = insertMountKey(id, key, { uid: alice.uid });
    const r = asUser(bob, `keyctl pipe ${serial}`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    expect(r.stdout).toBe('');
    expect(procKeysLine(bob, id)).toBeNull();
    expect(asUser(bob, `keyctl search @u user homecrypt:${id}`).code).not.toBe(0);
    expect(readMountKey(id, { uid: bob.uid })).toBeNull();
    // root is not the owner either (it holds no possession of alice's keyring)
    expect(readMountKey(id)).toBeNull();
    expect(spawnSync('keyctl', ['pipe', String(serial)]).status).not.toBe(0);
    expect(forgetMountKey(id, { uid: bob.uid })).toBe(false);
    expect(forgetMountKey(id, { uid: alice.uid })).toBe(true);
  });

  it('outlives the process that inserted it (PAM auth process, then the session process)', () => {
    const { key, id } = newKey();
    const mod = new URL('../../dist/os/keyring.js', import.meta.url).href;
    const child = `import(${JSON.stringify(mod)}).then((m) => { const k = Buffer.from(require('fs').readFileSync(0, 'utf8'), 'hex'); process.stdout.write(String(m.insertMountKey(${JSON.stringify(id)}, k, { uid: ${alice.uid} }))); })`;
    const serial = Number(execFileSync(process.execPath, ['-e', child], { input: key.toString('hex'), encoding: 'utf8' }));
    expect(serial).toBeGreaterThan(0);
    const piped = asUser(alice, `keyctl pipe %user:homecrypt:${id} | base64 -w0`);
    expect(Buffer.from(piped.stdout, 'base64').equals(key)).toBe(true);
    forgetMountKey(id, { uid: alice.uid });
  });

  it('forget revokes and unlinks: the user can no longer find or read it', () => {
    const { key, id } = newKey();
    const serial = insertMountKey(id, key, { uid: alice.uid });
    expect(forgetMountKey(id, { uid: alice.uid })).toBe(true);
    expect(readMountKey(id, { uid: alice.uid })).toBeNull();
    expect(listMountKeys({ uid: alice.uid }).some((k) => k.keyId === id)).toBe(false);
    expect(asUser(alice, `keyctl search @u user homecrypt:${id}`).code).not.toBe(0);
    const pipe = asUser(alice, `keyctl pipe ${serial}`);
    expect(pipe.code).not.toBe(0);
    const line = procKeysLine(alice, id);
    if (line) expect(line[1]).toContain('R'); // gone, or still listed as revoked until collected
    expect(forgetMountKey(id, { uid: alice.uid })).toBe(false);
  });

  it('inserting again replaces the payload under the same description', () => {
    const { key, id } = newKey();
    const s1 = insertMountKey(id, key, { uid: alice.uid });
    const s2 = insertMountKey(id, key, { uid: alice.uid });
    expect(s2).toBe(s1);
    expect(listMountKeys({ uid: alice.uid }).filter((k) => k.keyId === id)).toHaveLength(1);
    forgetMountKey(id, { uid: alice.uid });
  });

  it("works in the caller's own user keyring too (root, with its own unique key)", () => {
    const { key, id } = newKey();
    const serial = insertMountKey(id, key);
    try {
      const out = execFileSync('keyctl', ['describe', String(serial)], { encoding: 'utf8' });
      expect(out).toMatch(new RegExp(`alswrvalswrv------------\\s+0\\s+0 user: homecrypt:${id}`));
      expect(readMountKey(id)!.equals(key)).toBe(true);
      expect(listMountKeys()).toContainEqual({ keyId: id, serial });
    } finally {
      expect(forgetMountKey(id)).toBe(true);
    }
  });

  it('refuses a key that does not match its ID, and bad key IDs', () => {
    const { key, id } = newKey();
    expect(() => insertMountKey(id, Buffer.alloc(32), { uid: alice.uid })).toThrowError(UsageError);
    expect(() => insertMountKey('ABC', key)).toThrowError(/invalid key ID/);
    expect(() => readMountKey('../etc')).toThrowError(UsageError);
  });
});
