// `homecrypt ecryptfs adopt --user U`: an existing eCryptfs Private directory
// or encrypted home unlocks at login through homecrypt's own PAM flow, with no
// eCryptfs kernel module, and with its data left exactly where and as it is.
//
// homecrypt's login flow unwraps a key store with the login password, puts the
// 32-byte mount key in the user's keyring, and at session open runs
// `homecrypt mount LOWER MOUNTPOINT --keystore KS` as the user. Adoption fits
// that flow: a new key store (login + recovery slots) holds a random mount key,
// and the eCryptfs mount passphrase is sealed under that key beside the key
// store (ecryptfs-adopt.bin, AES-256-GCM, see docs/FORMAT-ECRYPTFS.md section
// 8). `homecrypt mount` recognises an adopted eCryptfs lower and serves it with
// the eCryptfs format. Password changes rewrap the key store as for any
// homecrypt user; the sealed passphrase does not change.
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CorruptFileError, KeyNotAvailableError, RefusedError, WrongPassphraseError } from '../../errors.js';
import { requireRoot } from '../../os/require-root.js';
import { checkPassword } from '../../os/pam-authenticate.js';
import { gcmOpen, gcmSeal, GCM_NONCE_BYTES } from '../../crypto/aead.js';
import { randomBytes } from '../../crypto/random.js';
import { lookupUser } from '../../os/users.js';
import { readMountKey } from '../../os/keyring.js';
import { createKeyStore, readKeyStoreInfo, unwrapKeyStore } from '../../keys/key-store.js';
import { loadUserRecord, saveUserRecord, type UserRecord } from '../user-record.js';
import { userWorker } from '../user-worker-client.js';
import type { UserRequest } from '../user-request.js';
import { clearEcryptfsMountPoint, readPrivateSetup } from '../../ecryptfs/private-dir.js';
import { unwrapPassphrase } from '../../format/ecryptfs/wrapped-passphrase.js';
import { openEcryptfs } from '../../ecryptfs/ecryptfs-mount.js';
import { wipeKeys } from '../../ecryptfs/keys.js';
import { adoptedHomeKeyStore, checkUnmountedHome, isEcryptfsLeftover, makeMountPointWritable } from '../../ecryptfs/encrypted-home.js';

export const ADOPT_FILE = 'ecryptfs-adopt.bin';
const MAGIC = Buffer.from('HCEA', 'latin1');
const VERSION = 1;

function aad(lower: string): Buffer {
  return Buffer.from(`homecrypt ecryptfs-adopt v1\0${lower}`, 'utf8');
}

/** MAGIC(4) || version(1) || nonce(12) || GCM(mountKey, passphrase, aad = label || lower path) */
export function sealAdoptFile(mountKey: Buffer, lower: string, passphrase: Buffer): Buffer {
  const nonce = randomBytes(GCM_NONCE_BYTES);
  return Buffer.concat([MAGIC, Buffer.from([VERSION]), nonce, gcmSeal(mountKey, nonce, passphrase, aad(lower))]);
}

export function openAdoptFile(bytes: Buffer, mountKey: Buffer, lower: string, file: string): Buffer {
  if (bytes.length < 5 + GCM_NONCE_BYTES + 16 || !bytes.subarray(0, 4).equals(MAGIC))
    throw new CorruptFileError(file, 'not a homecrypt eCryptfs adoption file');
  if (bytes[4] !== VERSION) throw new CorruptFileError(file, `adoption file version ${bytes[4]}`);
  const nonce = bytes.subarray(5, 5 + GCM_NONCE_BYTES);
  return gcmOpen(mountKey, nonce, bytes.subarray(5 + GCM_NONCE_BYTES), aad(lower));
}

/** The adoption file that goes with a key store, if there is one. */
export function adoptFileFor(keyStore: string): string {
  return join(dirname(resolve(keyStore)), ADOPT_FILE);
}

export interface AdoptOptions {
  user: string;
  loginPassphrase: Buffer;
  kdfTimeSeconds?: number;
  /** where the key store goes (default ~/.homecrypt/homecrypt.keys) */
  keyStore?: string;
  /** check the passphrase against the system through PAM first */
  checkPassword?: boolean;
}

export async function adoptUser(o: AdoptOptions): Promise<{ record: UserRecord; recoveryKey: string }> {
  requireRoot('homecrypt ecryptfs adopt');
  const user = lookupUser(o.user);
  if (user.uid === 0) throw new RefusedError("refusing to adopt root's eCryptfs directory");
  if (loadUserRecord(user.name)) throw new RefusedError(`${user.name} is already a homecrypt user; see homecrypt status --user ${user.name}`);
  if (o.checkPassword) {
    const r = checkPassword('homecrypt', user.name, o.loginPassphrase);
    if (!r.ok) throw new WrongPassphraseError(`that is not ${user.name}'s login password (PAM: ${r.reason}); --no-password-check to skip this check`);
  }
  const setup = readPrivateSetup(user);
  // the login passphrase must open the eCryptfs data before anything is written
  const pass = unwrapPassphrase(setup.wrapped, o.loginPassphrase);
  try {
    const vol = openEcryptfs(setup.lower, pass);
    if (vol.keys.sig !== setup.sig) {
      wipeKeys(vol.keys);
      throw new CorruptFileError(join(setup.ecryptfsDir, 'Private.sig'), `names key ${setup.sig}, but the wrapped passphrase gives ${vol.keys.sig}`);
    }
    wipeKeys(vol.keys);
    const keyStore = resolve(o.keyStore ?? (setup.encryptedHome ? adoptedHomeKeyStore(setup) : join(user.home, '.homecrypt', 'homecrypt.keys')));
    const adoptFile = adoptFileFor(keyStore);
    // no record (checked above), yet an adoption file: an adopt stopped before its record, or one whose record was forgotten
    if (existsSync(adoptFile)) {
      throw new RefusedError(`${adoptFile} already exists, though ${user.name} has no homecrypt record`, {
        hint:
          `most likely an earlier adopt of ${user.name} stopped before it wrote the record (its recovery key was never shown), ` +
          `or the record was removed since (setup --forget); it only seals the eCryptfs passphrase for homecrypt, the data stays in ${setup.lower}. ` +
          `Look with ls -la ${dirname(adoptFile)}, then move it away with runuser -u ${user.name} -- mv -T -- ${adoptFile} ${adoptFile}.old ` +
          `and run homecrypt ecryptfs adopt --user ${user.name} again`,
      });
    }
    // a key store already there may be the only key to some volume (its recovery slot is inside it): never replaced
    if (existsSync(keyStore)) {
      throw new RefusedError(`${keyStore} already exists, though ${user.name} has no homecrypt record`, {
        hint:
          `it may be the only key to encrypted data (a volume of a setup forgotten with setup --forget, or one made by hand); ` +
          `look with homecrypt key slots ${keyStore}, keep it somewhere else (runuser -u ${user.name} -- mv -T -- ${keyStore} ${keyStore}.old), ` +
          `and run homecrypt ecryptfs adopt --user ${user.name} again`,
      });
    }
    if (setup.encryptedHome) {
      // the mount covers ecryptfs-utils' links in the unmounted home, and nothing else
      checkUnmountedHome(setup.mountPoint);
      makeMountPointWritable(setup.mountPoint);
    } else {
      // the unmounted ~/Private holds ecryptfs-utils' two help links; a FUSE mount needs it empty
      clearEcryptfsMountPoint(setup.home, setup.mountPoint);
    }
    // the key folder (in the home, or /home/.ecryptfs/U) is the user's: it, the
    // key store and the adoption file are written as the user, never by root,
    // in one worker (the key store's bytes are collected, then sent with the rest)
    const steps: { req: UserRequest; payload?: Buffer }[] = [{ req: { op: 'mkdir', path: dirname(keyStore), mode: 0o700 } }];
    const collect = async (path: string, data: Buffer, mode: number) => {
      steps.push({ req: { op: 'writeFile', path, mode }, payload: Buffer.from(data) });
    };
    const { keyId, mountKey, recoveryKey } = await createKeyStore(keyStore, {
      passphrase: o.loginPassphrase,
      kdfTimeSeconds: o.kdfTimeSeconds,
      writer: collect,
    });
    try {
      steps.push({ req: { op: 'writeFile', path: adoptFile, mode: 0o600 }, payload: sealAdoptFile(mountKey, setup.lower, pass) });
    } finally {
      mountKey.fill(0);
    }
    await userWorker(user).runAll(steps);
    const record: UserRecord = {
      version: 1,
      user: user.name,
      uid: user.uid,
      mode: setup.encryptedHome ? 'home' : 'private',
      lower: setup.lower,
      mountPoint: setup.mountPoint,
      keyStore,
      keyId,
      autoMount: true,
      state: 'ready',
      rewrapPending: false,
      needsRecovery: false,
      createdAt: new Date().toISOString(),
    };
    saveUserRecord(record);
    return { record, recoveryKey };
  } finally {
    pass.fill(0);
  }
}

/** True when `lower` is an adopted eCryptfs directory whose adoption file sits beside `keyStore`. */
export function isAdoptedEcryptfs(lower: string, keyStore: string | undefined): boolean {
  if (!keyStore) return false;
  try {
    return existsSync(adoptFileFor(keyStore)) && !existsSync(join(lower, 'homecrypt.conf')) && lstatSync(lower).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The eCryptfs mount passphrase of an adopted directory: the mount key from the
 * caller's keyring (put there at login), else from the key store with `secret`.
 */
export async function adoptedMountPassphrase(lower: string, keyStore: string, secret?: () => Promise<Buffer>): Promise<Buffer> {
  const file = adoptFileFor(keyStore);
  const { keyId } = readKeyStoreInfo(keyStore);
  let mountKey: Buffer | null;
  try {
    mountKey = readMountKey(keyId);
  } catch {
    mountKey = null;
  }
  if (!mountKey) {
    if (!secret) throw new KeyNotAvailableError(`the mount key ${keyId} is not in your keyring; give the passphrase`);
    const s = await secret();
    try {
      mountKey = (await unwrapKeyStore(keyStore, s)).mountKey;
    } finally {
      s.fill(0);
    }
  }
  try {
    return openAdoptFile(readFileSync(file), mountKey, resolve(lower), file);
  } finally {
    mountKey.fill(0);
  }
}

/**
 * `homecrypt mount LOWER MOUNTPOINT --keystore KS` for an adopted eCryptfs
 * directory (what the login hook runs as the user at session open).
 */
export async function mountAdopted(
  lower: string,
  mountPoint: string,
  keyStore: string,
  o: {
    secret?: () => Promise<Buffer>;
    foreground?: boolean;
    logFile?: string;
    allowOther?: boolean;
    /** Where a line for the user goes (the CLI prints it); this layer prints nothing itself. */
    tell: (line: string) => void;
  },
): Promise<void> {
  const { prepareMountPoint, defaultLogFile } = await import('../../engine/mount-daemon.js');
  const { serveEcryptfs, startEcryptfsDaemon } = await import('../../ecryptfs/ecryptfs-mount.js');
  // an adopted encrypted home is mounted over ecryptfs-utils' links (src/ecryptfs/encrypted-home.ts)
  const mnt = resolve(mountPoint);
  const note = await prepareMountPoint(mountPoint, { mayHold: (n) => isEcryptfsLeftover(mnt, n), allowOther: o.allowOther });
  if (note) o.tell(note);
  const pass = await adoptedMountPassphrase(lower, keyStore, o.secret);
  try {
    const vol = openEcryptfs(lower, pass);
    if (o.foreground) {
      await serveEcryptfs(vol, mountPoint, () => o.tell(`mounted at ${resolve(mountPoint)}`), o.allowOther);
      return;
    }
    const spec = { keyBytes: vol.keyBytes, encryptNames: vol.encryptsNames };
    wipeKeys(vol.keys);
    await startEcryptfsDaemon(lower, mountPoint, pass, { ...spec, allowOther: o.allowOther, logFile: o.logFile ?? defaultLogFile(mountPoint) });
  } finally {
    pass.fill(0);
  }
}
