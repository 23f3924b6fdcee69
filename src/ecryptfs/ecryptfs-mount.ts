// Mounting an eCryptfs lower directory in userspace: the engine's FUSE
// operations (src/engine/filesystem.ts) over the eCryptfs format, served in
// the foreground or by a daemon that gets the mount passphrase through a pipe
// (fd 3, never argv or the environment) and reports readiness on fd 4.
import { resolve } from 'node:path';
import { UsageError, WrongPassphraseError } from '../errors.js';
import { EncryptedFilesystem } from '../engine/filesystem.js';
import { mountFuse } from '../fuse/index.js';
import { daemonLog, runDaemonSide, serveToTheEnd, startDaemon } from '../engine/mount-daemon.js';
import { takeLowerLock } from '../engine/lower-lock.js';
import { reportedError } from '../engine/daemon-report.js';
import { makeUndumpable } from '../os/no-dump.js';
import { type AesKeyBytes, isAesKeyBytes } from '../format/ecryptfs/constants.js';
import { ecryptfsFormat } from './ecryptfs-format.js';
import { keysFromMountPassphrase, wipeKeys } from './keys.js';
import { detectLayout } from './detect-layout.js';
import { EcryptfsVolume } from './ecryptfs-volume.js';

export interface EcryptfsSpec {
  /** Cipher key size; detected from the files when absent (default 16). */
  keyBytes?: AesKeyBytes;
  /** Encrypted names; detected from the names when absent (default true). */
  encryptNames?: boolean;
  /** ~/.ecryptfsrc salt, when one was set. */
  salt?: Buffer;
}

/** Opens `lower` with the mount passphrase; refuses a passphrase whose keys match nothing there. */
export function openEcryptfs(lower: string, passphrase: Buffer, spec: EcryptfsSpec = {}, onSkip?: (p: string, why: string) => void): EcryptfsVolume {
  const layout = detectLayout(lower);
  const keyBytes = spec.keyBytes ?? layout.keyBytes ?? 16;
  const encryptNames = spec.encryptNames ?? layout.encryptedNames ?? true;
  const keys = keysFromMountPassphrase(passphrase, { keyBytes, encryptNames, salt: spec.salt });
  if (encryptNames && layout.fnekKeyBytes && layout.fnekKeyBytes !== keyBytes) keys.fnek!.keyBytes = layout.fnekKeyBytes;
  if (layout.fileKeySigs.length > 0 && !layout.fileKeySigs.includes(keys.sig)) {
    wipeKeys(keys);
    throw new WrongPassphraseError(
      `wrong mount passphrase for ${lower}: its files are under eCryptfs key ${layout.fileKeySigs.join(', ')}, this passphrase gives ${keys.sig}`,
    );
  }
  if (encryptNames && layout.fnekSig && layout.fnekSig !== keys.fnek!.sig) {
    wipeKeys(keys);
    throw new WrongPassphraseError(`wrong mount passphrase for ${lower}: its names are under filename key ${layout.fnekSig}`);
  }
  return new EcryptfsVolume({ lowerDir: resolve(lower), keys, keyBytes, onSkip });
}

export interface EcryptfsMounted {
  unmount(opts?: { lazy?: boolean }): Promise<void>;
  /** The connection is over (FuseMount.ended). */
  ended?: Promise<void>;
  /** The engine's end, after the connection's (EncryptedFilesystem.close). */
  close(): Promise<void>;
  fs: EncryptedFilesystem;
}

export async function mountEcryptfs(
  vol: EcryptfsVolume,
  mountPoint: string,
  opts: {
    allowOther?: boolean;
    log?: (line: string) => void;
  } = {},
): Promise<EcryptfsMounted> {
  const fs = new EncryptedFilesystem({ lowerRoot: vol.lowerDir, format: ecryptfsFormat(vol), log: opts.log });
  const mount = await mountFuse(resolve(mountPoint), fs.ops(), {
    fsname: `ecryptfs:${vol.lowerDir}`,
    subtype: 'homecrypt-ecryptfs',
    allowOther: opts.allowOther,
    onUnexpectedError: (op, path, err) => opts.log?.(`homecrypt: ${op} ${path}: unexpected error: ${(err as Error)?.stack ?? String(err)}`),
  });
  return {
    fs,
    unmount: (u = {}) => mount.unmount(u),
    ended: mount.ended,
    close: () => fs.close(),
  };
}

/** Serves the mount from this process until it is unmounted or signalled. */
export async function serveEcryptfs(vol: EcryptfsVolume, mountPoint: string, onReady: () => void, allowOther = false): Promise<void> {
  makeUndumpable();
  const mnt = resolve(mountPoint);
  // one daemon per lower directory, as for homecrypt volumes (engine/lower-lock.ts); before the mount
  const lock = await takeLowerLock(vol.lowerDir, daemonLog);
  let mounted;
  try {
    mounted = await mountEcryptfs(vol, mnt, { allowOther, log: daemonLog });
  } catch (err) {
    lock.release();
    throw err;
  }
  daemonLog(`homecrypt: mounted eCryptfs ${vol.lowerDir} at ${mnt} (pid ${process.pid})`);
  onReady();
  // a mount only detached (lazily, at a logout) still serves the processes
  // left inside it, with these keys: wiped once serving has ended, never
  // before its last request (a bridge that cannot tell its end: they go with
  // this process, which is undumpable)
  if (await serveToTheEnd(mnt, mounted, lock, daemonLog)) wipeKeys(vol.keys);
}

/** Daemon side: the mount passphrase from `keyFd`, "ready" or the error's report (engine/daemon-report.ts) to `readyFd`. */
export async function runEcryptfsDaemonChild(
  lower: string,
  mountPoint: string,
  keyFd: number,
  readyFd: number,
  spec: EcryptfsSpec,
  allowOther = false,
): Promise<void> {
  await runDaemonSide(keyFd, readyFd, async (pass, onReady) => {
    let vol: EcryptfsVolume;
    try {
      vol = openEcryptfs(lower, pass, spec);
    } finally {
      pass.fill(0); // the derived keys are all the mount needs
    }
    await serveEcryptfs(vol, mountPoint, onReady, allowOther);
  });
}

/** Starts a daemon serving the mount and waits until it is ready or has failed. */
export async function startEcryptfsDaemon(
  lower: string,
  mountPoint: string,
  passphrase: Buffer,
  spec: EcryptfsSpec & {
    logFile: string;
    allowOther?: boolean;
  },
): Promise<{ pid: number }> {
  const args = ['ecryptfs', 'mount', resolve(lower), resolve(mountPoint), '--foreground', '--key-fd', '3', '--ready-fd', '4'];
  if (spec.keyBytes) args.push('--key-bytes', String(spec.keyBytes));
  if (spec.encryptNames === false) args.push('--plaintext-names');
  if (spec.allowOther) args.push('--allow-other');
  if (spec.salt) args.push('--salt', spec.salt.toString('hex')); // a salt is not a secret
  // a copy: the caller still owns (and wipes) `passphrase`
  const started = await startDaemon(args, Buffer.from(passphrase), { logFile: spec.logFile });
  if ('error' in started) {
    // the daemon's own type (a wrong passphrase: exit 3; fusermount3's refusals: theirs) and what to do, as for a homecrypt mount
    const see = `see the daemon's log ${spec.logFile}`;
    throw reportedError(started, `eCryptfs mount failed: ${started.error}`, started.hint ? `${started.hint}; ${see}` : see);
  }
  return started;
}

export function parseKeyBytes(v: string): AesKeyBytes {
  const n = Number(v);
  if (!isAesKeyBytes(n)) throw new UsageError(`--key-bytes must be 16, 24 or 32 (got ${v})`);
  return n;
}
