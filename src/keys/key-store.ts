// Key-store operations: create, unwrap, rewrap and slot management over the
// file format in src/format/key-store-layout.ts. Every change re-reads the file,
// unlocks it with a secret the user holds, and replaces it atomically, keeping
// its owner, so a crash leaves the old or the new file and both open.
import { entryExists } from '../os/entry-exists.js';
import { keyIdOf } from '../crypto/key-id.js';
import { randomKey } from '../crypto/random.js';
import { secretsEqual } from '../crypto/constant-time.js';
import { looksLikeRecoveryKey, parseRecoveryKey, generateRecoveryKey } from '../crypto/recovery-key.js';
import type { Argon2idParams } from '../crypto/argon2id.js';
import { CorruptFileError, KeyNotAvailableError, RecoveryKeyTypoError, RefusedError, UsageError, WrongPassphraseError } from '../errors.js';
import {
  decodeKeyStore,
  encodeKeyStore,
  isValidSlotName,
  MAX_SLOTS,
  MOUNT_KEY_BYTES,
  type KeySlot,
  type KeyStoreData,
  type SlotKind,
} from '../format/key-store-layout.js';
import { calibrateArgon2id } from './kdf-calibration.js';
import { checkKdfBudget, COMMAND_KDF_BUDGET, type KdfBudget } from './kdf-budget.js';
import { openSlot, sealSlot } from './keyslot.js';
import { readKeyStoreBytes, writeKeyStoreBytes, type ReadCheckOptions, type WriteOptions } from './key-store-file.js';
import { withKeyStoreLock } from '../os/key-store-lock.js';

export const LOGIN_SLOT = 'login';
export const RECOVERY_SLOT = 'recovery';

export interface CreateKeyStoreOptions {
  passphrase: Buffer;
  kdfTimeSeconds?: number;
  /** root creating the file for a user: that user owns it */
  owner?: { uid: number; gid: number };
  /** who writes the file (root creating a user's store: a writer running as the user) */
  writer?: WriteOptions['writer'];
  /** wrap this mount key instead of a new random one (e.g. migration) */
  mountKey?: Buffer;
  onStep?: WriteOptions['onStep'];
}

export interface UnlockOptions extends ReadCheckOptions {
  /** the most Argon2id work the slots tried may ask for (default: a command's; the login hook passes its own) */
  kdfBudget?: KdfBudget;
}

export interface ChangeOptions extends UnlockOptions {
  /** calibrate the new slot to this time; by default it reuses the parameters of the slot that opened */
  kdfTimeSeconds?: number;
  onStep?: WriteOptions['onStep'];
  /** who replaces the file (root changing a user's store: a writer running as the user) */
  writer?: WriteOptions['writer'];
}

export interface KeyStoreInfo {
  version: number;
  keyId: string;
  slots: { name: string; kind: SlotKind; kdf: { algorithm: 'argon2id' } & Argon2idParams }[];
}

function refuseEmpty(secret: Buffer): void {
  if (secret.length === 0) throw new UsageError('an empty passphrase is not allowed');
}

export async function createKeyStore(path: string, opts: CreateKeyStoreOptions): Promise<{ keyId: string; mountKey: Buffer; recoveryKey: string }> {
  refuseEmpty(opts.passphrase);
  if (entryExists(path)) throw new RefusedError(`${path} already exists; refusing to overwrite a key store`);
  if (opts.mountKey && opts.mountKey.length !== MOUNT_KEY_BYTES) throw new UsageError(`a mount key is ${MOUNT_KEY_BYTES} bytes`);
  const mountKey = opts.mountKey ? Buffer.from(opts.mountKey) : randomKey(MOUNT_KEY_BYTES);
  const keyId = keyIdOf(mountKey);
  const kdf = await calibrateArgon2id(opts.kdfTimeSeconds);
  const recovery = generateRecoveryKey();
  try {
    const slots = [
      await sealSlot(mountKey, keyId, opts.passphrase, 'passphrase', LOGIN_SLOT, kdf),
      await sealSlot(mountKey, keyId, recovery.bytes, 'recovery', RECOVERY_SLOT, kdf),
    ];
    if (entryExists(path)) throw new RefusedError(`${path} already exists; refusing to overwrite a key store`);
    await writeKeyStoreBytes(path, encodeKeyStore({ version: 1, keyId, slots }), { owner: opts.owner, onStep: opts.onStep, writer: opts.writer });
  } finally {
    recovery.bytes.fill(0);
  }
  return { keyId, mountKey, recoveryKey: recovery.text };
}

function load(path: string, opts: ReadCheckOptions) {
  const { bytes, stat } = readKeyStoreBytes(path, opts);
  const data = decodeKeyStore(bytes, path);
  const euid = process.geteuid?.() ?? 0;
  // root rewriting a user's file keeps that user as its owner
  const owner = euid === 0 ? { uid: stat.uid, gid: stat.gid } : undefined;
  return { data, owner };
}

interface Opened {
  mountKey: Buffer;
  slot: KeySlot;
}

async function unlock(path: string, data: KeyStoreData, secret: Buffer, budget: KdfBudget = COMMAND_KDF_BUDGET): Promise<Opened> {
  const text = secret.toString('utf8');
  let recoveryBytes: Buffer | null = null;
  let typo: RecoveryKeyTypoError | null = null;
  if (looksLikeRecoveryKey(text)) {
    try {
      recoveryBytes = parseRecoveryKey(text);
    } catch (err) {
      if (!(err instanceof RecoveryKeyTypoError)) throw err;
      typo = err;
    }
  }
  const attempts: [KeySlot, Buffer][] = [];
  if (recoveryBytes) for (const s of data.slots) if (s.kind === 'recovery') attempts.push([s, recoveryBytes]);
  for (const s of data.slots) if (s.kind === 'passphrase') attempts.push([s, secret]);
  try {
    // the user wrote these parameters: refuse before doing any of the work
    checkKdfBudget(
      path,
      attempts.map(([slot]) => slot),
      budget,
    );
    for (const [slot, input] of attempts) {
      const mountKey = await openSlot(slot, data.keyId, input);
      if (!mountKey) continue;
      if (!secretsEqual(Buffer.from(keyIdOf(mountKey), 'hex'), Buffer.from(data.keyId, 'hex'))) {
        mountKey.fill(0);
        throw new CorruptFileError(path, `slot ${slot.name} holds a key that does not match the key ID ${data.keyId}`);
      }
      return { mountKey, slot };
    }
  } finally {
    recoveryBytes?.fill(0);
  }
  if (typo) throw typo;
  if (recoveryBytes) throw new WrongPassphraseError(`${path}: the recovery key is well-formed but opens no slot of this key store (a different recovery key?)`);
  throw new WrongPassphraseError(`${path}: wrong passphrase (it opens no slot of this key store)`);
}

export async function unwrapKeyStore(path: string, secret: Buffer, opts: UnlockOptions = {}): Promise<{ keyId: string; mountKey: Buffer; slot: string }> {
  const { data } = load(path, opts);
  const { mountKey, slot } = await unlock(path, data, secret, opts.kdfBudget);
  return { keyId: data.keyId, mountKey, slot: slot.name };
}

export function readKeyStoreInfo(path: string, opts: ReadCheckOptions = {}): KeyStoreInfo {
  const { data } = load(path, opts);
  return {
    version: data.version,
    keyId: data.keyId,
    slots: data.slots.map((s) => ({ name: s.name, kind: s.kind, kdf: { algorithm: 'argon2id' as const, ...s.kdf } })),
  };
}

async function kdfFor(opts: ChangeOptions, fallback: Argon2idParams | undefined): Promise<Argon2idParams> {
  if (opts.kdfTimeSeconds !== undefined || !fallback) return calibrateArgon2id(opts.kdfTimeSeconds);
  return { ...fallback };
}

async function save(path: string, data: KeyStoreData, owner: WriteOptions['owner'], opts: ChangeOptions): Promise<void> {
  await writeKeyStoreBytes(path, encodeKeyStore(data), { owner, onStep: opts.onStep, writer: opts.writer });
}

async function setLoginSlot(
  path: string,
  data: KeyStoreData,
  owner: WriteOptions['owner'],
  mountKey: Buffer,
  newSecret: Buffer,
  opts: ChangeOptions,
  fallbackKdf: Argon2idParams,
): Promise<void> {
  const old = data.slots.find((s) => s.name === LOGIN_SLOT);
  const kdf = await kdfFor(opts, old?.kdf ?? fallbackKdf);
  checkKdfBudget(path, [{ name: LOGIN_SLOT, kdf }], opts.kdfBudget ?? COMMAND_KDF_BUDGET);
  const slot = await sealSlot(mountKey, data.keyId, newSecret, 'passphrase', LOGIN_SLOT, kdf);
  const slots = old ? data.slots.map((s) => (s === old ? slot : s)) : [slot, ...data.slots];
  if (slots.length > MAX_SLOTS) throw new RefusedError(`${path}: already ${MAX_SLOTS} slots`);
  await save(path, { ...data, slots }, owner, opts);
}

/** Sets a new login passphrase; `oldSecret` may be the login passphrase, another slot's, or the recovery key. */
export function rewrapLogin(path: string, oldSecret: Buffer, newSecret: Buffer, opts: ChangeOptions = {}): Promise<{ keyId: string; openedWith: string }> {
  return withKeyStoreLock(path, () => rewrapLoginUnlocked(path, oldSecret, newSecret, opts));
}

async function rewrapLoginUnlocked(
  path: string,
  oldSecret: Buffer,
  newSecret: Buffer,
  opts: ChangeOptions = {},
): Promise<{ keyId: string; openedWith: string }> {
  refuseEmpty(newSecret);
  const { data, owner } = load(path, opts);
  const { mountKey, slot } = await unlock(path, data, oldSecret, opts.kdfBudget);
  try {
    await setLoginSlot(path, data, owner, mountKey, newSecret, opts, slot.kdf);
  } finally {
    mountKey.fill(0);
  }
  return { keyId: data.keyId, openedWith: slot.name };
}

/** Sets a new login passphrase with the mount key itself (PAM password change while the key is in the keyring). */
export function rewrapLoginWithMountKey(path: string, mountKey: Buffer, newSecret: Buffer, opts: ChangeOptions = {}): Promise<{ keyId: string }> {
  return withKeyStoreLock(path, () => rewrapLoginWithMountKeyUnlocked(path, mountKey, newSecret, opts));
}

async function rewrapLoginWithMountKeyUnlocked(path: string, mountKey: Buffer, newSecret: Buffer, opts: ChangeOptions = {}): Promise<{ keyId: string }> {
  refuseEmpty(newSecret);
  const { data, owner } = load(path, opts);
  if (mountKey.length !== MOUNT_KEY_BYTES || !secretsEqual(Buffer.from(keyIdOf(mountKey), 'hex'), Buffer.from(data.keyId, 'hex'))) {
    throw new KeyNotAvailableError(`${path}: the key given is not the mount key ${data.keyId} of this key store`);
  }
  const fallback = data.slots[0].kdf;
  await setLoginSlot(path, data, owner, mountKey, newSecret, opts, fallback);
  return { keyId: data.keyId };
}

function freeName(data: KeyStoreData, base: string, first: number): string {
  const taken = new Set(data.slots.map((s) => s.name));
  if (first === 1 && !taken.has(base)) return base;
  for (let i = Math.max(first, 2); ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

function checkNewName(path: string, data: KeyStoreData, name: string): void {
  if (!isValidSlotName(name)) throw new UsageError(`invalid slot name "${name}": use 1-32 of a-z 0-9 . _ - (starting with a letter or digit)`);
  if (data.slots.some((s) => s.name === name)) throw new RefusedError(`${path}: a slot named ${name} already exists`);
  if (data.slots.length >= MAX_SLOTS) throw new RefusedError(`${path}: already ${MAX_SLOTS} slots`);
}

/** Adds a passphrase slot; returns its name. */
export function addPassphraseSlot(path: string, secret: Buffer, newSecret: Buffer, opts: ChangeOptions & { name?: string } = {}): Promise<string> {
  return withKeyStoreLock(path, () => addPassphraseSlotUnlocked(path, secret, newSecret, opts));
}

async function addPassphraseSlotUnlocked(path: string, secret: Buffer, newSecret: Buffer, opts: ChangeOptions & { name?: string } = {}): Promise<string> {
  refuseEmpty(newSecret);
  const { data, owner } = load(path, opts);
  const name = opts.name ?? freeName(data, 'passphrase', 2);
  checkNewName(path, data, name);
  const { mountKey, slot } = await unlock(path, data, secret, opts.kdfBudget);
  try {
    const added = await sealSlot(mountKey, data.keyId, newSecret, 'passphrase', name, await kdfFor(opts, slot.kdf));
    await save(path, { ...data, slots: [...data.slots, added] }, owner, opts);
  } finally {
    mountKey.fill(0);
  }
  return name;
}

/** Adds a recovery slot with a new random recovery key; returns that key (show it once). */
export function addRecoverySlot(path: string, secret: Buffer, opts: ChangeOptions & { name?: string } = {}): Promise<string> {
  return withKeyStoreLock(path, () => addRecoverySlotUnlocked(path, secret, opts));
}

async function addRecoverySlotUnlocked(path: string, secret: Buffer, opts: ChangeOptions & { name?: string } = {}): Promise<string> {
  const { data, owner } = load(path, opts);
  const name = opts.name ?? freeName(data, RECOVERY_SLOT, 1);
  checkNewName(path, data, name);
  const { mountKey, slot } = await unlock(path, data, secret, opts.kdfBudget);
  const recovery = generateRecoveryKey();
  try {
    const added = await sealSlot(mountKey, data.keyId, recovery.bytes, 'recovery', name, await kdfFor(opts, slot.kdf));
    await save(path, { ...data, slots: [...data.slots, added] }, owner, opts);
  } finally {
    mountKey.fill(0);
    recovery.bytes.fill(0);
  }
  return recovery.text;
}

/**
 * Removes a slot. The secret must open one of the slots that remain, so the
 * user keeps a way in; the last slot is never removed.
 */
export function removeSlot(path: string, secret: Buffer, name: string, opts: ChangeOptions = {}): Promise<void> {
  return withKeyStoreLock(path, () => removeSlotUnlocked(path, secret, name, opts));
}

async function removeSlotUnlocked(path: string, secret: Buffer, name: string, opts: ChangeOptions = {}): Promise<void> {
  const { data, owner } = load(path, opts);
  if (!data.slots.some((s) => s.name === name)) throw new UsageError(`${path}: no slot named ${name}`);
  if (data.slots.length === 1) throw new RefusedError(`${path}: ${name} is the last slot; removing it would lose the key`);
  const remaining = { ...data, slots: data.slots.filter((s) => s.name !== name) };
  let opened: Opened;
  try {
    opened = await unlock(path, remaining, secret, opts.kdfBudget);
  } catch (err) {
    if (err instanceof WrongPassphraseError && !(err instanceof RecoveryKeyTypoError)) {
      throw new WrongPassphraseError(`${path}: the secret given opens none of the slots that would remain (to remove a slot, give the secret of another slot)`);
    }
    throw err;
  }
  opened.mountKey.fill(0);
  await save(path, remaining, owner, opts);
}
