// The kernel eCryptfs on-disk format behind the engine's VolumeFormat seam, so
// the engine's FUSE operations serve an eCryptfs lower directory unchanged:
// names through tag 70 packets (or plaintext), files through eCryptfs headers
// and CBC extents. eCryptfs authenticates nothing; corrupt headers and names
// that do not decode still give a clear error (EIO, a log line) for that entry.
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { FuseError } from '../fuse/index.js';
import { E } from '../engine/errno.js';
import type { DirContext, EncryptedName, FileCodec, LowerIO, NameCodec, VolumeFormat, XattrCodec } from '../engine/volume-format.js';
import { CorruptFileError } from '../errors.js';
import { type AesKeyBytes, MAGIC_MARKER } from '../format/ecryptfs/constants.js';
import { bytesOfName } from '../format/name-bytes.js';
import { EcryptfsCipher } from './ecryptfs-file.js';
import { EcryptfsVolume, NameTooLongError } from './ecryptfs-volume.js';
import type { EcryptfsKeys } from './keys.js';

class EcryptfsNames implements NameCodec {
  constructor(private readonly vol: EcryptfsVolume) {}

  encryptName(name: string, _dir: DirContext): EncryptedName {
    try {
      return { lowerName: this.vol.lowerName(name) };
    } catch (e) {
      if (e instanceof NameTooLongError) throw new FuseError(E.ENAMETOOLONG);
      throw e;
    }
  }

  decryptName(lowerName: string, dir: DirContext): string | null {
    const n = this.vol.upperName(lowerName, dir.lowerDir);
    if (n === null && this.vol.encryptsNames) {
      // upperName reported it via onSkip; tell the engine's readdir too
      throw new CorruptFileError(`${dir.lowerDir}/${lowerName}`, 'name does not decode with this filename key');
    }
    return n;
  }

  sidecarOf(): string | null {
    return null;
  }

  encryptTarget(target: string): string {
    try {
      return this.vol.lowerSymlinkTarget(target);
    } catch {
      throw new FuseError(E.ENAMETOOLONG);
    }
  }

  decryptTarget(lowerTarget: string): string {
    return this.vol.upperSymlinkTarget(lowerTarget, lowerTarget);
  }
}

class EcryptfsFiles implements FileCodec {
  readonly sizeNeedsHeader = true;

  constructor(
    private readonly keys: EcryptfsKeys,
    private readonly keyBytes: AesKeyBytes,
  ) {}

  plaintextSizeOf(lowerSize: number): number {
    // only a guess (the real size is in the header): plaintextSizeOfFile is used
    return Math.max(0, lowerSize - 8192);
  }

  /** stat without opening: the size field and marker, the first 16 lower bytes. */
  plaintextSizeOfFile(lowerPath: string, lowerSize: number): number {
    if (lowerSize === 0) return 0;
    let head: Buffer;
    try {
      // never blocking: a fifo swapped in after the lstat must not stop the daemon;
      // by its bytes (a lower name of a plaintext-names volume need not be UTF-8)
      const fd = openSync(bytesOfName(lowerPath), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      try {
        head = Buffer.alloc(16);
        head = head.subarray(0, readSync(fd, head, 0, 16, 0));
      } finally {
        closeSync(fd);
      }
    } catch {
      return this.plaintextSizeOf(lowerSize);
    }
    // a file without a valid marker shows as empty; opening it reports why
    if (head.length < 16 || (head.readUInt32BE(8) ^ MAGIC_MARKER) >>> 0 !== head.readUInt32BE(12)) return 0;
    const n = head.readBigUInt64BE(0);
    return n > BigInt(Number.MAX_SAFE_INTEGER) ? 0 : Number(n);
  }

  create(): { bytes: Buffer; cipher: EcryptfsCipher } {
    return EcryptfsCipher.create(this.keys, this.keyBytes);
  }

  open(io: LowerIO): EcryptfsCipher {
    return EcryptfsCipher.open(io, this.keys);
  }
}

/**
 * eCryptfs passes extended attributes through to the lower file unencrypted
 * (ecryptfs_setxattr); so does this. user.ecryptfs is its own metadata
 * (ecryptfs_xattr_metadata mounts): neither shown nor writable.
 */
class EcryptfsXattrs implements XattrCodec {
  encryptXattrName(name: string): string | null {
    return name.startsWith('user.') && name !== 'user.ecryptfs' ? name : null;
  }

  decryptXattrName(lowerName: string): string | null {
    return this.encryptXattrName(lowerName);
  }

  encryptXattrValue(_lowerName: string, value: Buffer): Buffer {
    return value;
  }

  decryptXattrValue(_lowerName: string, sealed: Buffer): Buffer {
    return sealed;
  }
}

export function ecryptfsFormat(vol: EcryptfsVolume): VolumeFormat & { files: EcryptfsFiles } {
  return { name: 'ecryptfs', names: new EcryptfsNames(vol), files: new EcryptfsFiles(vol.keys, vol.keyBytes), xattrs: new EcryptfsXattrs() };
}
