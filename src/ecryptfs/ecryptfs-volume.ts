// An eCryptfs lower directory opened with its keys: maps upper names and paths
// to lower ones and back, and opens files. What the FUSE adapter, the tree
// reader/writer and migrate share. Names are bytes: an upper name or target is
// a string in the form of format/name-bytes.ts (a byte that is not UTF-8 is a
// lone surrogate), and what is encrypted, measured or decrypted is its bytes,
// as the kernel encrypts the raw bytes of a name.
import { join } from 'node:path';
import { CorruptFileError, UsageError } from '../errors.js';
import { type AesKeyBytes, MAX_ENCRYPTED_NAME_PLAINTEXT } from '../format/ecryptfs/constants.js';
import { bytesOfName, nameFromBytes } from '../format/name-bytes.js';
import { decryptFilename, encryptFilename, encryptedNameFits, isEncryptedFilename } from '../format/ecryptfs/filename.js';
import { EcryptfsFile } from './ecryptfs-file.js';
import type { EcryptfsKeys } from './keys.js';

export class NameTooLongError extends UsageError {}

export interface VolumeOptions {
  lowerDir: string;
  keys: EcryptfsKeys;
  keyBytes: AesKeyBytes;
  /** Called for lower entries that cannot be shown (undecodable names). */
  onSkip?: (lowerPath: string, why: string) => void;
}

export class EcryptfsVolume {
  readonly lowerDir: string;
  readonly keys: EcryptfsKeys;
  readonly keyBytes: AesKeyBytes;
  private readonly onSkip: (lowerPath: string, why: string) => void;

  constructor(o: VolumeOptions) {
    this.lowerDir = o.lowerDir;
    this.keys = o.keys;
    this.keyBytes = o.keyBytes;
    this.onSkip = o.onSkip ?? (() => {});
  }

  get encryptsNames(): boolean {
    return !!this.keys.fnek;
  }

  lowerName(name: string): string {
    const b = bytesOfName(name);
    if (!this.keys.fnek) {
      if (b.length > 255) throw new NameTooLongError(`name longer than 255 bytes: ${name.slice(0, 40)}…`);
      return name;
    }
    if (b.length > MAX_ENCRYPTED_NAME_PLAINTEXT || !encryptedNameFits(b.length)) {
      throw new NameTooLongError(`eCryptfs encrypted names hold at most ${MAX_ENCRYPTED_NAME_PLAINTEXT} bytes: ${name.slice(0, 40)}…`);
    }
    return encryptFilename(b, this.keys.fnek);
  }

  /** The upper name of a lower entry, or null (reported through onSkip) when it has none. */
  upperName(lowerName: string, lowerDirPath: string): string | null {
    if (!this.keys.fnek) return lowerName;
    const where = join(lowerDirPath, lowerName);
    if (!isEncryptedFilename(lowerName)) {
      // the kernel hides such names too (it cannot decode them)
      this.onSkip(where, 'name is not an eCryptfs encrypted name');
      return null;
    }
    try {
      const n = decryptFilename(lowerName, this.keys.fnek, where);
      if (n.includes(0x2f) || n.includes(0) || n.equals(Buffer.from('.')) || n.equals(Buffer.from('..'))) {
        throw new CorruptFileError(where, 'decrypted name is not a valid file name');
      }
      return nameFromBytes(n);
    } catch (e) {
      this.onSkip(where, (e as Error).message);
      return null;
    }
  }

  /** Lower absolute path of an upper path relative to the mount root ("/a/b"). */
  lowerPath(upperPath: string): string {
    const parts = upperPath.split('/').filter((p) => p.length > 0);
    let p = this.lowerDir;
    for (const part of parts) p = join(p, this.lowerName(part));
    return p;
  }

  lowerSymlinkTarget(target: string): string {
    if (!this.keys.fnek) return target;
    return encryptFilename(bytesOfName(target), this.keys.fnek);
  }

  upperSymlinkTarget(lowerTarget: string, where: string): string {
    if (!this.keys.fnek) return lowerTarget;
    return nameFromBytes(decryptFilename(lowerTarget, this.keys.fnek, where));
  }

  openFile(lowerPath: string, writable: boolean): EcryptfsFile {
    return EcryptfsFile.open(lowerPath, this.keys, writable);
  }

  createFile(lowerPath: string, mode?: number): EcryptfsFile {
    return EcryptfsFile.create(lowerPath, this.keys, this.keyBytes, mode);
  }
}
