// What a setup --private stopped at once left (src/session/private-leftover.ts),
// judged at each point the kill can land: what the marker proves the setup
// made is removed (by the steps the user worker would run), everything else
// the user has there stays, and a leftover that is not provably the setup's
// is refused with the reason. The kills themselves: test/login/setup-private-kill.test.ts.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyIdOf } from '../../src/crypto/key-id.js';
import { writeNewVolumeConfig } from '../../src/engine/volume.js';
import type { UserAccount } from '../../src/os/users.js';
import { judgePrivateLeftover, privateLeftoverOf } from '../../src/session/private-leftover.js';
import { writeMarker, type PrivateSetupMarker } from '../../src/session/setup-marker.js';
import { runUserRequest } from '../../src/session/user-ops.js';
import { skipUnless } from '../helpers/requirements.js';

const UID = 54_321;

describe.skipIf(skipUnless('root', 'private leftovers (files of another uid)'))('judgePrivateLeftover', () => {
  let root: string;
  let user: UserAccount;
  let marker: PrivateSetupMarker;
  let mountKey: Buffer;
  const keyStoreBytes = randomBytes(700);
  const at = (p: string) => join(user.home, p);
  const owned = (p: string) => chownSync(p, UID, UID);

  beforeAll(() => {
    root = mkdtempSync('/tmp/homecrypt-private-leftover-'); // root's, in sticky /tmp: a trusted parent for the home
    process.env.HOMECRYPT_RECORD_DIR_FOR_TESTS = join(root, 'records');
  });
  afterAll(() => {
    delete process.env.HOMECRYPT_RECORD_DIR_FOR_TESTS;
    rmSync(root, { recursive: true, force: true });
  });
  beforeEach(() => {
    const home = mkdtempSync(join(root, 'home-'));
    owned(home);
    user = { name: 'hcplu', uid: UID, gid: UID, home, shell: '/bin/sh' };
    mountKey = randomBytes(32);
    marker = {
      user: user.name,
      uid: UID,
      mode: 'private',
      home,
      keyId: keyIdOf(mountKey),
      keyStoreSha256: createHash('sha256').update(keyStoreBytes).digest('hex'),
      madeKeyDir: true,
      madeMountPoint: true,
    };
  });

  // the kill points, in the order the user worker makes things
  const keyDir = () => (mkdirSync(at('.homecrypt'), { mode: 0o700 }), owned(at('.homecrypt')));
  const keyTemp = () => (
    writeFileSync(at('.homecrypt/.homecrypt.keys.tmp-0a1b2c3d4e5f'), keyStoreBytes.subarray(0, 100)),
    owned(at('.homecrypt/.homecrypt.keys.tmp-0a1b2c3d4e5f'))
  );
  const keyStore = () => (writeFileSync(at('.homecrypt/homecrypt.keys'), keyStoreBytes), owned(at('.homecrypt/homecrypt.keys')));
  const lower = () => (mkdirSync(at('.Private'), { mode: 0o700 }), owned(at('.Private')));
  const volume = () => {
    writeNewVolumeConfig(at('.Private'), mountKey, { keystore: at('.homecrypt/homecrypt.keys') });
    for (const n of readdirSync(at('.Private'))) owned(at(`.Private/${n}`));
  };
  const mountPoint = () => (mkdirSync(at('Private'), { mode: 0o700 }), owned(at('Private')));
  const points: [string, (() => void)[]][] = [
    ['nothing made yet', []],
    ['~/.homecrypt only', [keyDir]],
    ['the key store half written', [keyDir, keyTemp]],
    ['the key store', [keyDir, keyStore]],
    ['an empty ~/.Private', [keyDir, keyStore, lower]],
    ['the volume config and root IV', [keyDir, keyStore, lower, volume]],
    ['~/Private, the last step before the record', [keyDir, keyStore, lower, volume, mountPoint]],
  ];

  const removeAsWorker = (steps: { req: Parameters<typeof runUserRequest>[0] }[]) => {
    for (const s of steps) runUserRequest(s.req, Buffer.alloc(0), () => {});
  };

  for (const [point, made] of points) {
    it(`stopped at ${point}: all of it is the setup's and is removed`, () => {
      for (const step of made) step();
      const left = judgePrivateLeftover(user, marker);
      expect(left.kind, JSON.stringify(left)).toBe('own');
      if (left.kind !== 'own') return;
      removeAsWorker(left.steps);
      expect(readdirSync(user.home)).toEqual([]);
    });
  }

  it("keeps what the user has beside it: a ~/.homecrypt that was there, the user's files in it and in ~/Private", () => {
    keyDir();
    writeFileSync(at('.homecrypt/notes'), 'mine');
    keyStore();
    lower();
    volume();
    mountPoint();
    writeFileSync(at('Private/todo.txt'), 'mine too');
    const left = judgePrivateLeftover(user, { ...marker, madeKeyDir: false });
    expect(left).toMatchObject({ kind: 'own', mountPointInUse: true, left: [at('.homecrypt/homecrypt.keys'), at('.Private')] });
    if (left.kind !== 'own') return;
    removeAsWorker(left.steps);
    expect(readdirSync(user.home).sort()).toEqual(['.homecrypt', 'Private']);
    expect(readdirSync(at('.homecrypt'))).toEqual(['notes']);
    expect(readFileSync(at('Private/todo.txt'), 'utf8')).toBe('mine too');
  });

  it('refuses a ~/.Private holding more than a setup makes, naming what', () => {
    keyDir();
    keyStore();
    lower();
    volume();
    writeFileSync(at('.Private/precious'), 'data');
    expect(judgePrivateLeftover(user, marker)).toMatchObject({
      kind: 'unknown',
      why: `${at('.Private')} holds more than an interrupted setup leaves: precious`,
    });
  });

  it('refuses a key store other than the one it wrote, and a volume made with another key', () => {
    keyDir();
    writeFileSync(at('.homecrypt/homecrypt.keys'), randomBytes(700));
    owned(at('.homecrypt/homecrypt.keys'));
    expect(judgePrivateLeftover(user, marker)).toMatchObject({
      kind: 'unknown',
      why: `${at('.homecrypt/homecrypt.keys')} is not the key store the interrupted setup wrote`,
    });
    rmSync(at('.homecrypt/homecrypt.keys'));
    lower();
    writeNewVolumeConfig(at('.Private'), randomBytes(32), { keystore: at('.homecrypt/homecrypt.keys') });
    for (const n of readdirSync(at('.Private'))) owned(at(`.Private/${n}`));
    expect(judgePrivateLeftover(user, marker)).toMatchObject({
      kind: 'unknown',
      why: `${at('.Private/homecrypt.conf')} is not the volume config the interrupted setup wrote`,
    });
  });

  it('follows no link: a ~/.Private that is a symlink, a key store that is a hard link to a file not the user’s', () => {
    const elsewhere = mkdtempSync(join(root, 'elsewhere-'));
    writeFileSync(join(elsewhere, 'homecrypt.conf'), 'x');
    symlinkSync(elsewhere, at('.Private'));
    expect(judgePrivateLeftover(user, marker)).toMatchObject({ kind: 'unknown', why: `${at('.Private')} is not a directory` });
    rmSync(at('.Private'));
    keyDir();
    writeFileSync(join(elsewhere, 'roots'), keyStoreBytes); // root's: its bytes are never read for the user
    linkSync(join(elsewhere, 'roots'), at('.homecrypt/homecrypt.keys'));
    expect(judgePrivateLeftover(user, marker)).toMatchObject({ kind: 'unknown', why: expect.stringMatching(/belongs to uid 0, not 54321/) });
    expect(existsSync(join(elsewhere, 'homecrypt.conf'))).toBe(true);
  });

  it("takes only a marker of this very account: another uid's or another home's is none", () => {
    keyDir();
    keyStore();
    writeMarker({ ...marker, uid: UID + 1 });
    expect(privateLeftoverOf(user)).toBe(null);
    writeMarker({ ...marker, home: `${user.home}-old` });
    expect(privateLeftoverOf(user)).toBe(null);
    writeMarker(marker);
    expect(privateLeftoverOf(user)).toMatchObject({ kind: 'own', left: [at('.homecrypt')] });
    expect(lstatSync(join(root, 'records', `${user.name}.setup-marker`)).mode & 0o777).toBe(0o600);
  });
});
