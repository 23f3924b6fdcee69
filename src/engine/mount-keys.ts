// The mount keys a mounted volume holds: several may be loaded (files name
// theirs in their header); new files are created under the current one.
// Only derived keys are kept: the wrap key per mount key and the name keys.
import { hkdfSha256 } from '../crypto/hkdf.js';
import { keyIdOf } from '../crypto/key-id.js';
import { deriveNameKeys, type NameKeys } from '../format/names.js';

export interface LoadedKey {
  keyId: string;
  wrapKey: Buffer;
}

export function deriveWrapKey(mountKey: Buffer): Buffer {
  return hkdfSha256(mountKey, 'homecrypt file-key wrap v1');
}

export class MountKeys {
  private readonly keys = new Map<string, LoadedKey>();
  readonly nameKeys: NameKeys;
  readonly nameKeyId: string;

  /** `nameMountKey` is the mount key the volume's names derive from. */
  constructor(
    nameMountKey: Buffer,
    public currentKeyId: string,
  ) {
    this.nameKeys = deriveNameKeys(nameMountKey);
    this.nameKeyId = keyIdOf(nameMountKey);
    this.add(nameMountKey);
  }

  add(mountKey: Buffer): string {
    const keyId = keyIdOf(mountKey);
    this.keys.set(keyId, { keyId, wrapKey: deriveWrapKey(mountKey) });
    return keyId;
  }

  get(keyId: string): LoadedKey | undefined {
    return this.keys.get(keyId);
  }

  current(): LoadedKey {
    const k = this.keys.get(this.currentKeyId);
    if (!k) throw new Error(`current key ${this.currentKeyId} is not loaded`);
    return k;
  }

  ids(): string[] {
    return [...this.keys.keys()];
  }
}
