// The mount key in the kernel keyring: a "user" key described
// `homecrypt:<keyid>` in the user keyring (@u) of its user, owned by that user,
// with permissions for possessor and owner only (0x3f3f0000: nothing for group
// or other). The user keyring lives as long as the user's uid is known to the
// kernel, so a key inserted by the PAM auth process is there for the session
// process that mounts later.
//
// Root acting for a user (the login hook) switches the main thread's real and
// effective ids to that user for the few syscalls involved: @u resolves by the
// real uid, and a new key's owner is the thread's fsuid. The switch is undone
// before returning; if that ever failed the process aborts rather than go on
// with the wrong identity. While switched, the kernel lets that user signal the
// whole root process (kill(2) checks the target's real uid): see closeInspectorSignal
// and docs/SECURITY.md, "Signals from the user".
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { keyIdOf, isKeyId } from '../crypto/key-id.js';
import { secretsEqual } from '../crypto/constant-time.js';
import { KeyNotAvailableError, MissingFeatureError, PermissionDeniedError, RefusedError, UsageError } from '../errors.js';
import {
  addKey,
  ERRNO,
  keyctlDescribe,
  keyctlRead,
  keyctlRevoke,
  keyctlSearch,
  keyctlSetPerm,
  keyctlUnlink,
  KEY_SPEC_USER_KEYRING,
  threadSetresgid,
  threadSetresuid,
} from './keyctl-syscalls.js';
import { ErrnoError } from './libc.js';

export const KEY_TYPE = 'user';
export const KEY_DESCRIPTION_PREFIX = 'homecrypt:';
/** possessor: view read write search link setattr; user (owner): the same; group, other: nothing */
export const MOUNT_KEY_PERM = 0x3f3f0000;
const MOUNT_KEY_BYTES = 32;

export interface KeyringUserOptions {
  /** the user whose keyring to use (root only, when not the caller) */
  uid?: number;
  /** that user's group (default: their primary group from /etc/passwd) */
  gid?: number;
}

export function keyDescription(keyId: string): string {
  return `${KEY_DESCRIPTION_PREFIX}${keyId}`;
}

function primaryGid(uid: number): number {
  // the name service first (NSS users), then /etc/passwd
  try {
    const f = execFileSync('getent', ['passwd', String(uid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(':');
    if (f.length >= 4 && Number(f[2]) === uid && /^\d+$/.test(f[3])) return Number(f[3]);
  } catch {
    /* not found or no getent */
  }
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 4 && f[2] !== '' && Number(f[2]) === uid) return Number(f[3]);
    }
  } catch {
    /* no passwd file: fall through */
  }
  return uid;
}

let inspectorSignalClosed = false;

/**
 * Node opens its inspector (127.0.0.1:9229, no password: code runs as this
 * process) on SIGUSR1. A listener of our own takes the signal from it, for the
 * rest of the process's life.
 */
function closeInspectorSignal(): void {
  if (inspectorSignalClosed) return;
  process.on('SIGUSR1', () => {});
  inspectorSignalClosed = true;
}

/** Runs `fn` with the calling thread's ids switched to `uid` (root only), restoring them after. */
function asUser<T>(opts: KeyringUserOptions, fn: () => T): T {
  const ruid = process.getuid!();
  if (opts.uid === undefined || opts.uid === ruid) return wrapErrors(fn);
  if (process.geteuid!() !== 0) throw new PermissionDeniedError(`only root can use the keyring of uid ${opts.uid}`);
  if (!Number.isInteger(opts.uid) || opts.uid < 0) throw new UsageError(`invalid uid ${opts.uid}`);
  closeInspectorSignal();
  const gid = opts.gid ?? primaryGid(opts.uid);
  const rgid = process.getgid!();
  const egid = process.getegid!();
  threadSetresgid(gid, gid, -1);
  try {
    threadSetresuid(opts.uid, opts.uid, 0);
  } catch (err) {
    restore(() => threadSetresgid(rgid, egid, -1));
    throw err;
  }
  try {
    return wrapErrors(fn);
  } finally {
    restore(() => {
      threadSetresuid(ruid, 0, -1);
      threadSetresgid(rgid, egid, -1);
    });
  }
}

function restore(step: () => void): void {
  try {
    step();
  } catch {
    // Carrying on as another user would be worse than stopping.
    process.stderr.write('homecrypt: could not restore the process identity after a keyring call; aborting\n');
    process.abort();
  }
}

function wrapErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ErrnoError) {
      if (err.errno === ERRNO.ENOSYS) throw new MissingFeatureError('this kernel has no key management (keyctl: ENOSYS)');
      if (err.errno === ERRNO.EDQUOT) throw new RefusedError("the user's keyring quota is full");
      if (err.errno === ERRNO.EACCES || err.errno === ERRNO.EPERM) throw new PermissionDeniedError(`${err.syscall}: permission denied by the kernel keyring`);
    }
    throw err;
  }
}

function checkKeyId(keyId: string): void {
  if (!isKeyId(keyId)) throw new UsageError(`invalid key ID "${keyId}": 16 lowercase hex characters expected`);
}

/** Inserts (or replaces) the mount key; returns the key's serial. */
export function insertMountKey(keyId: string, mountKey: Buffer, opts: KeyringUserOptions = {}): number {
  checkKeyId(keyId);
  if (mountKey.length !== MOUNT_KEY_BYTES || !secretsEqual(Buffer.from(keyIdOf(mountKey), 'hex'), Buffer.from(keyId, 'hex'))) {
    throw new UsageError(`the key given is not the mount key ${keyId}`);
  }
  return asUser(opts, () => {
    const serial = addKey(KEY_TYPE, keyDescription(keyId), mountKey, KEY_SPEC_USER_KEYRING);
    keyctlSetPerm(serial, MOUNT_KEY_PERM);
    return serial;
  });
}

/** The mount key from the user's keyring, or null when it is not there. */
export function readMountKey(keyId: string, opts: KeyringUserOptions = {}): Buffer | null {
  checkKeyId(keyId);
  return asUser(opts, () => {
    const serial = keyctlSearch(KEY_SPEC_USER_KEYRING, KEY_TYPE, keyDescription(keyId));
    if (serial === null) return null;
    let key: Buffer;
    try {
      key = keyctlRead(serial);
    } catch (err) {
      if (err instanceof ErrnoError && (err.errno === ERRNO.EKEYREVOKED || err.errno === ERRNO.EKEYEXPIRED)) return null;
      throw err;
    }
    if (key.length !== MOUNT_KEY_BYTES || !secretsEqual(Buffer.from(keyIdOf(key), 'hex'), Buffer.from(keyId, 'hex'))) {
      key.fill(0);
      throw new KeyNotAvailableError(`the keyring entry ${keyDescription(keyId)} does not hold the key it names`);
    }
    return key;
  });
}

/** Revokes and unlinks the mount key; false when it was not there. */
export function forgetMountKey(keyId: string, opts: KeyringUserOptions = {}): boolean {
  checkKeyId(keyId);
  return asUser(opts, () => {
    const serial = keyctlSearch(KEY_SPEC_USER_KEYRING, KEY_TYPE, keyDescription(keyId));
    if (serial === null) return false;
    keyctlRevoke(serial);
    try {
      keyctlUnlink(serial, KEY_SPEC_USER_KEYRING);
    } catch (err) {
      // revoked already; it may have been linked elsewhere than @u
      if (!(err instanceof ErrnoError && err.errno === ERRNO.ENOKEY)) throw err;
    }
    return true;
  });
}

/** The homecrypt keys linked in the user keyring. */
export function listMountKeys(opts: KeyringUserOptions = {}): { keyId: string; serial: number }[] {
  return asUser(opts, () => {
    const list = keyctlRead(KEY_SPEC_USER_KEYRING, 256);
    const out: { keyId: string; serial: number }[] = [];
    for (let o = 0; o + 4 <= list.length; o += 4) {
      const serial = list.readInt32LE(o);
      let d;
      try {
        d = keyctlDescribe(serial);
      } catch {
        continue;
      } // revoked or not viewable
      if (d.type !== KEY_TYPE || !d.description.startsWith(KEY_DESCRIPTION_PREFIX)) continue;
      const keyId = d.description.slice(KEY_DESCRIPTION_PREFIX.length);
      if (isKeyId(keyId)) out.push({ keyId, serial });
    }
    return out;
  });
}
