// A key store belongs to its user, who can write any KDF parameters the format
// allows. At login root must refuse one beyond the limits before doing any of
// the work, say so in the log, let the login go on and leave the lock free; a
// command run by the user refuses it too instead of running for hours.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { skipUnless } from '../helpers/requirements.js';
import { createPamService, pamtester, type PamService } from '../helpers/pam.js';
import { asUser, createTestUser, removeTestUser, type TestUser } from '../helpers/users.js';
import { decodeKeyStore, encodeKeyStore, SALT_BYTES, SEALED_BYTES, type KeySlot } from '../../src/format/key-store-layout.js';
import { GCM_NONCE_BYTES } from '../../src/crypto/aead.js';
import { LOCK_DIR } from '../../src/os/users-lock.js';
import { BIN, hookLog, isMounted, setupUser, userKeys } from './login-helpers.js';

/** 16 passphrase slots of Argon2id at 1 GiB and 1000 passes each: hours of root work if tried. */
function hostileStore(real: Buffer): Buffer {
  const { keyId } = decodeKeyStore(real, 'real');
  const slots: KeySlot[] = Array.from({ length: 16 }, (_, i) => ({
    kind: 'passphrase',
    name: i === 0 ? 'login' : `slot${i}`,
    kdf: { iterations: 1000, memoryKiB: 1024 * 1024, parallelism: 1 },
    salt: randomBytes(SALT_BYTES),
    nonce: randomBytes(GCM_NONCE_BYTES),
    sealed: randomBytes(SEALED_BYTES),
  }));
  return encodeKeyStore({ version: 1, keyId, slots });
}

/** True when nobody holds the user's hook lock (flock -n succeeds at once). */
function lockFree(user: string): boolean {
  return spawnSync('flock', ['-n', '-E', '99', `${LOCK_DIR}/${user}.lock`, 'true']).status === 0;
}

describe.skipIf(skipUnless('root', 'fuse', 'keyring', 'KDF limits at login'))('a key store beyond the KDF limits (pamtester, private mode)', () => {
  let svc: PamService;
  let u: TestUser;
  let keyStore = '';
  let good: Buffer;

  beforeAll(() => {
    svc = createPamService();
    u = createTestUser('hck');
    setupUser(u, 'private');
    keyStore = JSON.parse(readFileSync(`/etc/homecrypt/users/${u.name}.json`, 'utf8')).keyStore as string;
    good = readFileSync(keyStore);
    // the user writes it: their own file, 0600, as a key store must be
    writeFileSync(keyStore, hostileStore(good));
    chownSync(keyStore, u.uid, u.gid);
    chmodSync(keyStore, 0o600);
  });

  afterAll(() => {
    if (u) removeTestUser(u);
    svc?.remove();
  });

  it('is refused at login before any Argon2id work, logged; the login goes on and the lock is free', () => {
    const t0 = Date.now();
    const r = pamtester(svc.name, u.name, ['authenticate', 'open_session'], `${u.password}\n`);
    const took = Date.now() - t0;
    expect(r.code, r.stderr).toBe(0);
    // the whole PAM run, both hooks included: seconds of process starts on a loaded machine, not hours
    expect(took).toBeLessThan(20_000);
    const log = hookLog(u.name);
    const m = /(?:auth|open_session) \S+: key store refused after (\d+) ms, no Argon2id run; the home stays locked: (.*)$/m.exec(log);
    expect(m, log).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(500);
    expect(m![2]).toContain(keyStore);
    expect(m![2]).toMatch(/16 slot\(s\) to try ask for 16000 GiB·passes.*beyond the login \(root\) limit of 8 GiB·passes and 256 MiB per slot/);
    expect(r.stdout).toMatch(/stays locked/);
    expect(userKeys(u)).not.toContain('homecrypt:');
    expect(isMounted(`${u.home}/Private`)).toBe(false);
    expect(lockFree(u.name)).toBe(true);
    expect(pamtester(svc.name, u.name, ['close_session']).code).toBe(0);
    expect(lockFree(u.name)).toBe(true);
  });

  it('`key unwrap` as the user refuses it at once with a clear error (exit 8)', () => {
    const t0 = Date.now();
    const r = asUser(u, `${process.execPath} ${BIN} key unwrap --passphrase-fd 0 ${keyStore}`, `${u.password}\n`);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr).toMatch(/refused without trying it: its 16 slot\(s\) to try ask for 16000 GiB·passes .*beyond the command limit of 32 GiB·passes/);
  });

  it('the store setup made opens at login as before', () => {
    writeFileSync(keyStore, good);
    // pam_homecrypt.so unlocks at open_session
    const r = pamtester(svc.name, u.name, ['authenticate', 'open_session'], `${u.password}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(userKeys(u)).toContain('homecrypt:');
    expect(lockFree(u.name)).toBe(true);
    expect(pamtester(svc.name, u.name, ['close_session']).code).toBe(0);
  }, 120_000);
});
