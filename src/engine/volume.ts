// A homecrypt volume: a lower directory holding the volume config, maybe the
// key store, and the encrypted tree. Creating one, opening it with mount keys,
// and mounting it through the FUSE bridge.
import { closeSync, constants, mkdirSync, openSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { CorruptFileError, KeyNotAvailableError, PermissionDeniedError, RefusedError, UsageError } from '../errors.js';
import { fchmodFd, fstatFd, readdirFd } from '../os/dir-fd.js';
import { userNameOf } from '../os/users.js';
import { keyIdOf } from '../crypto/key-id.js';
import { writeFileAtomic } from '../os/atomic-file.js';
import { readSmallFileAt } from '../os/small-file.js';
import { AT_FDCWD } from '../os/lower-fs-calls.js';
import {
  DEFAULT_KEYSTORE_NAME,
  VOLUME_CONFIG_MAX_BYTES,
  VOLUME_CONFIG_NAME,
  VOLUME_FORMAT,
  VOLUME_VERSION,
  parseVolumeConfig,
  serializeVolumeConfig,
  verifyVolumeConfig,
  type VolumeConfig,
  type VolumeVersion,
} from '../format/volume-config.js';
import { MountKeys } from './mount-keys.js';
import { DIR_IV_NAME, newDirIv, sealDirIv } from '../format/dir-iv.js';
import { deriveNameKeys } from '../format/names.js';
import { homecryptFormat } from './homecrypt-format.js';
import { EncryptedFilesystem } from './filesystem.js';
import type { VolumeFormat } from './volume-format.js';
import { mountFuse, type FuseMount } from '../fuse/index.js';
import { AfterReply } from './after-reply.js';

export interface OpenVolume {
  lowerRoot: string;
  config: VolumeConfig;
  keys: MountKeys;
  format: VolumeFormat;
  /** The volume's format version (its config's `version`): what names and files of this volume look like. */
  formatVersion: VolumeVersion;
}

export function configPath(lower: string): string {
  return join(lower, VOLUME_CONFIG_NAME);
}

/** Where the volume's key store is (`override` wins), or null when the config names none. */
export function keystorePathOf(lower: string, config: VolumeConfig, override?: string): string | null {
  if (override) return resolve(override);
  if (!config.keystore) return null;
  return isAbsolute(config.keystore) ? config.keystore : join(lower, config.keystore);
}

/**
 * Prepares the lower directory of a new volume: creates it (0700, with any
 * missing parents), or takes an existing empty directory of the caller's own
 * and makes it 0700. Returns the first directory it created (what a failed
 * init removes), or null when LOWER was there already.
 */
export function prepareLowerDir(lower: string): string | null {
  let created: string | null = null;
  try {
    created = mkdirSync(lower, { recursive: true, mode: 0o700 }) ?? null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let fd: number;
  try {
    // the directory itself, never a symlink's target: mode and contents are checked on what was opened
    fd = openSync(lower, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || code === 'ELOOP') throw new UsageError(`${lower} exists and is not a directory (nor a symbolic link to follow)`);
    throw err;
  }
  try {
    const st = fstatFd(fd);
    // whoever owns it can swap the ciphertext and the key store later
    if (st.uid !== process.geteuid!()) {
      throw new PermissionDeniedError(`${lower} belongs to ${userNameOf(st.uid)}, not you`, {
        hint: 'give a new path, or an empty directory of your own',
      });
    }
    // before the emptiness check: once 0700, nobody else can add an entry
    if ((st.mode & 0o7777) !== 0o700) fchmodFd(fd, 0o700);
    if (readdirFd(fd).length > 0) throw new RefusedError(`${lower} is not empty; homecrypt init needs an empty or new directory`);
  } finally {
    closeSync(fd);
  }
  return created;
}

/**
 * Writes the volume config of a new volume whose names and files use
 * `mountKey`; `version` only for fixtures of older formats (test/vectors).
 */
export function writeNewVolumeConfig(
  lower: string,
  mountKey: Buffer,
  opts: {
    plaintextNames?: boolean;
    keystore: string | null;
    version?: VolumeVersion;
  },
): VolumeConfig {
  const keyId = keyIdOf(mountKey);
  const version = opts.version ?? VOLUME_VERSION;
  // format 2, encrypted names: the root's IV file, before the config makes this a volume
  if (version >= 2 && !opts.plaintextNames) {
    writeFileAtomic(join(lower, DIR_IV_NAME), sealDirIv(deriveNameKeys(mountKey), newDirIv()), { mode: 0o444 });
  }
  const config: VolumeConfig = {
    format: VOLUME_FORMAT,
    version,
    names: opts.plaintextNames ? 'plaintext' : 'encrypted',
    nameKeyId: keyId,
    currentKeyId: keyId,
    keyIds: [keyId],
    keystore: opts.keystore,
    blockSize: 4096,
    created: new Date().toISOString(),
  };
  writeFileAtomic(configPath(lower), serializeVolumeConfig(config, mountKey), { mode: 0o600 });
  return config;
}

/** Reads the config without the key (to learn key IDs and the key store). */
export function readVolumeConfig(lower: string): VolumeConfig & { mac: string } {
  const p = configPath(lower);
  let st;
  try {
    st = statSync(lower);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new PermissionDeniedError(`${lower}: permission denied`);
    throw new UsageError(`lower directory ${lower} does not exist`);
  }
  if (!st.isDirectory()) throw new UsageError(`${lower} is not a directory`);
  let bytes: Buffer;
  try {
    // a fifo, a device or a huge file in its place is refused before it is read
    bytes = readSmallFileAt(AT_FDCWD, p, VOLUME_CONFIG_MAX_BYTES, p, { follow: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`${lower} is not a homecrypt volume (no ${VOLUME_CONFIG_NAME}; run homecrypt init)`);
    if (code === 'EACCES' || code === 'EPERM') throw new PermissionDeniedError(`${p}: permission denied`);
    if (err instanceof CorruptFileError) throw new CorruptFileError(p, `volume config ${err.what}`);
    throw new CorruptFileError(p, (err as Error).message);
  }
  return parseVolumeConfig(bytes, p);
}

/**
 * Opens a volume with the mount keys at hand (the name key's mount key must be
 * among them; others let files under those keys open).
 */
export function openVolume(lower: string, mountKeys: Buffer[]): OpenVolume {
  const lowerRoot = resolve(lower);
  const config = readVolumeConfig(lowerRoot);
  const byId = new Map(mountKeys.map((k) => [keyIdOf(k), k]));
  const nameKey = byId.get(config.nameKeyId);
  if (!nameKey) throw new KeyNotAvailableError(`the mount key ${config.nameKeyId} of ${lowerRoot} is not available`);
  verifyVolumeConfig(config, nameKey, configPath(lowerRoot));
  const keys = new MountKeys(nameKey, config.currentKeyId);
  for (const k of mountKeys) keys.add(k);
  if (!keys.get(config.currentKeyId)) {
    throw new KeyNotAvailableError(`the current mount key ${config.currentKeyId} of ${lowerRoot} is not available`);
  }
  const formatVersion = config.version;
  return {
    lowerRoot,
    config,
    keys,
    formatVersion,
    format: homecryptFormat(keys, { plaintextNames: config.names === 'plaintext', version: formatVersion }),
  };
}

/** Adds a mount key to the volume and makes it the one new files use. */
export function setCurrentKey(lower: string, nameMountKey: Buffer, newKey: Buffer): VolumeConfig {
  const c = readVolumeConfig(lower);
  verifyVolumeConfig(c, nameMountKey, configPath(lower));
  const id = keyIdOf(newKey);
  const next: VolumeConfig = { ...c, currentKeyId: id, keyIds: c.keyIds.includes(id) ? c.keyIds : [...c.keyIds, id] };
  delete (next as Partial<typeof c>).mac;
  writeFileAtomic(configPath(lower), serializeVolumeConfig(next, nameMountKey), { mode: 0o600 });
  return next;
}

export interface MountedVolume {
  mount: FuseMount;
  fs: EncryptedFilesystem;
  unmount(opts?: { lazy?: boolean }): Promise<void>;
  /** The connection is over (FuseMount.ended). */
  ended?: Promise<void>;
  /** The engine's end, after the connection's: queued writes, pending flushes, every lower descriptor. */
  close(): Promise<void>;
}

/**
 * Seconds the kernel may keep what it was told of names, attributes and absent
 * names (`homecrypt mount --cache-timeout`). The mount is meant to be the only
 * way to its lower directory: every change through it either tells the kernel
 * what changed (its own requests) or is told to it (FUSE_NOTIFY_INVAL_*), so the
 * timeout only bounds how long a change made behind the mount's back, in the
 * lower directory itself, can stay unseen (docs/FUSE-BRIDGE.md, "Cache policy").
 */
export const DEFAULT_CACHE_TIMEOUT = 60;

/** A mount's source in the mount table: this and its lower directory (mount-daemon.ts finds a lower already served by it). */
export const FSNAME_PREFIX = 'homecrypt:';

export async function mountVolume(
  vol: OpenVolume,
  mountPoint: string,
  opts: {
    allowOther?: boolean;
    log?: (line: string) => void;
    /** Seconds (default DEFAULT_CACHE_TIMEOUT; 0: the kernel asks every time, for a lower directory others change too). */
    cacheTimeout?: number;
  } = {},
): Promise<MountedVolume> {
  const cache = opts.cacheTimeout ?? DEFAULT_CACHE_TIMEOUT;
  // mountFuse's default bridge (the kernel one) runs after-reply work
  const afterReply = new AfterReply();
  const fs = new EncryptedFilesystem({ lowerRoot: vol.lowerRoot, format: vol.format, log: opts.log, afterReply });
  const mount = await mountFuse(resolve(mountPoint), fs.ops(), {
    afterReply: () => afterReply.run(),
    fsname: `${FSNAME_PREFIX}${vol.lowerRoot}`,
    subtype: 'homecrypt',
    allowOther: opts.allowOther,
    attrTimeout: cache,
    entryTimeout: cache,
    negativeTimeout: cache,
    onUnexpectedError: (op, path, err) => opts.log?.(`homecrypt: ${op} ${path}: unexpected error: ${(err as Error)?.stack ?? String(err)}`),
  });
  return {
    mount,
    fs,
    unmount: (u = {}) => mount.unmount(u),
    ended: mount.ended,
    close: () => fs.close(),
  };
}

export { DEFAULT_KEYSTORE_NAME };
