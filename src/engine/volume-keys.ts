// Gathering the mount keys a volume needs: first from the caller's kernel
// keyring (where the login hook or `homecrypt key unwrap` put them, under
// their key IDs), else by unwrapping the volume's key store with a secret.
import { existsSync } from 'node:fs';
import { KeyNotAvailableError, UsageError } from '../errors.js';
import { readMountKey } from '../os/keyring.js';
import { unwrapKeyStore } from '../keys/key-store.js';
import { keyIdOf } from '../crypto/key-id.js';
import type { VolumeConfig } from '../format/volume-config.js';
import { keystorePathOf } from './volume.js';

export interface KeySources {
  /** key store path given on the command line (else the config's) */
  keystore?: string;
  /** asks for the passphrase (or recovery key) only when the keyring lacks a key */
  secret?: () => Promise<Buffer>;
  /** do not look in the keyring */
  noKeyring?: boolean;
}

export async function gatherVolumeKeys(lower: string, config: VolumeConfig, src: KeySources): Promise<Buffer[]> {
  const keys: Buffer[] = [];
  if (!src.noKeyring) {
    for (const id of config.keyIds) {
      try {
        const k = readMountKey(id);
        if (k && keyIdOf(k) === id) keys.push(k);
      } catch {
        /* no keyring here: fall back to the key store */
      }
    }
  }
  const have = new Set(keys.map(keyIdOf));
  if (have.has(config.nameKeyId) && have.has(config.currentKeyId)) return keys;
  const ks = keystorePathOf(lower, config, src.keystore);
  if (!ks) throw new UsageError(`the key of ${lower} is not in your keyring and its config names no key store: give --keystore FILE`);
  if (!existsSync(ks)) throw new KeyNotAvailableError(`the key of ${lower} is not in your keyring and the key store ${ks} does not exist`);
  if (!src.secret) throw new KeyNotAvailableError(`the mount key ${config.currentKeyId} is not in your keyring; give the passphrase`);
  const secret = await src.secret();
  try {
    const { mountKey } = await unwrapKeyStore(ks, secret);
    keys.push(mountKey);
  } finally {
    secret.fill(0);
  }
  return keys;
}
