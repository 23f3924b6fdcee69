// homecrypt's own on-disk format (v1) behind the VolumeFormat seam: file
// headers with per-file content keys, authenticated 4 KiB blocks, SIV names
// with the long-name scheme, encrypted symlink targets and xattrs.
import { randomBytes } from 'node:crypto';
import { AuthenticationError, CorruptFileError, KeyNotAvailableError } from '../errors.js';
import { gcmOpen, gcmSeal } from '../crypto/aead.js';
import { blockGcm } from '../crypto/gcm-blocks.js';
import { FILE_HEADER_BYTES, FILE_ID_BYTES, encodeFileHeader, headerAad, parseFileHeader } from '../format/file-header.js';
import {
  BLOCK_LOWER, BLOCK_OVERHEAD, BLOCK_PLAIN, blockPlainLength, lastBlockOf, lowerOffsetOfBlock, lowerSizeOf, plaintextSizeOf,
} from '../format/block-offsets.js';
import { openBlock, openBlockAt, openBlockInto, sealBlockInto } from '../format/content.js';
import { bytesOfName, hasEscapedBytes, nameFromBytes } from '../os/name-bytes.js';
import { NAME_MAX_BYTES, decryptNameString, encryptNameString, decodeName, encodeName, sivSeal, sivOpen } from '../format/names.js';
import { LOWER_NAME_MAX, checkSidecar, isLongEntry, isSidecar, longEntryName, sidecarNameOf } from '../format/long-names.js';
import { DEFAULT_KEYSTORE_NAME, VOLUME_CONFIG_NAME } from '../format/volume-config.js';
import type {
  DirContext, EncryptedName, FileCipher, FileCodec, LowerIO, NameCodec, VolumeFormat, XattrCodec,
} from './volume-format.js';
import type { MountKeys } from './mount-keys.js';
import { E, fail } from './errno.js';
import { hkdfSha256 } from '../crypto/hkdf.js';

const PLAIN_SCRATCH = Buffer.alloc(BLOCK_PLAIN);
/** A block being merged on a partial write (old bytes + new). */
const MERGE_BLOCK = Buffer.alloc(BLOCK_PLAIN);

// One reusable buffer for sealed bytes read from the lower file: operations
// run one at a time on the JS thread, and this spares a large allocation (and
// its garbage) per request.
let scratchBuf = Buffer.allocUnsafe(64 * BLOCK_LOWER);
function scratch(length: number): Buffer {
  if (scratchBuf.length < length) scratchBuf = Buffer.allocUnsafe(length);
  return scratchBuf.subarray(0, length);
}
let sealScratchBuf = Buffer.allocUnsafe(64 * BLOCK_LOWER);
function sealScratch(length: number): Buffer {
  if (sealScratchBuf.length < length) sealScratchBuf = Buffer.allocUnsafe(length);
  return sealScratchBuf.subarray(0, length);
}
/** Largest zero-fill written in one go when a file grows by a gap. */
const FILL_CHUNK = 1 << 20;

class BlockCipher implements FileCipher {
  constructor(readonly keyId: string, private readonly key: Buffer, private readonly fileId: Buffer) {}

  plaintextSize(lowerSize: number): number {
    return plaintextSizeOf(lowerSize);
  }

  read(io: LowerIO, offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(Math.max(0, length));
    return out.subarray(0, this.readInto(io, offset, out));
  }

  readInto(io: LowerIO, offset: number, target: Buffer): number {
    const size = plaintextSizeOf(io.size());
    if (offset >= size || target.length === 0) return 0;
    const end = Math.min(size, offset + target.length);
    const first = Math.floor(offset / BLOCK_PLAIN);
    const last = Math.floor((end - 1) / BLOCK_PLAIN);
    const final = lastBlockOf(size);
    const lowerLen = (last - first) * BLOCK_LOWER + blockPlainLength(size, last) + BLOCK_OVERHEAD;
    const sealed = scratch(lowerLen);
    if (io.preadInto(sealed, lowerOffsetOfBlock(first)) < lowerLen) throw new AuthenticationError('file is shorter than its blocks');
    let w = 0;
    for (let b = first; b <= last; b++) {
      const at = (b - first) * BLOCK_LOWER;
      const len = blockPlainLength(size, b) + BLOCK_OVERHEAD;
      const from = b === first ? offset - b * BLOCK_PLAIN : 0;
      const to = Math.min(len - BLOCK_OVERHEAD, end - b * BLOCK_PLAIN);
      if (from === 0 && to === len - BLOCK_OVERHEAD) {
        // a whole block: straight into the caller's buffer
        openBlockAt(this.key, this.fileId, b, b === final, sealed, at, len, target, w);
        w += to;
      } else {
        const n = openBlockAt(this.key, this.fileId, b, b === final, sealed, at, len, PLAIN_SCRATCH, 0);
        w += PLAIN_SCRATCH.copy(target, w, from, Math.min(to, n));
      }
    }
    return w;
  }

  verify(io: LowerIO): void {
    const size = plaintextSizeOf(io.size());
    if (size === 0) {
      openBlock(this.key, this.fileId, 0, true, io.pread(lowerOffsetOfBlock(0), BLOCK_OVERHEAD));
      return;
    }
    for (let off = 0; off < size; off += 1 << 20) this.read(io, off, 1 << 20);
  }

  /** Rewrites blocks [first, last] of a file growing from `size` to `newSize`, with `data` at `offset`. */
  /**
   * `lowerSize`: the lower file's size when the caller has just read it (saves
   * an fstat). `afterReply`: the lower write may follow the reply (only a
   * WRITE's own data: a truncate's SETATTR reads the size back at once).
   */
  private rewrite(io: LowerIO, size: number, newSize: number, first: number, last: number, offset: number, data: Buffer | null,
    lowerSize?: number, afterReply = false): void {
    io.settle?.(); // a queued write of this file first: it is still in the scratch buffers below
    const finalNew = lastBlockOf(newSize);
    const out = sealScratch((last - first + 1) * BLOCK_LOWER);
    let w = 0;
    // old blocks we need to merge with, read in one go
    const oldLast = size > 0 ? Math.min(last, lastBlockOf(size)) : -1;
    let old: Buffer | null = null;
    const oldFinal = lastBlockOf(size);
    if (oldLast >= first) {
      const len = (oldLast - first) * BLOCK_LOWER + blockPlainLength(size, oldLast) + BLOCK_OVERHEAD;
      // into the read scratch (not used again before this write ends)
      old = scratch(len);
      if (io.preadInto(old, lowerOffsetOfBlock(first)) < len) throw new AuthenticationError('file is shorter than its blocks');
    }
    const block = MERGE_BLOCK;
    for (let b = first; b <= last; b++) {
      const bStart = b * BLOCK_PLAIN;
      const plainLen = blockPlainLength(newSize, b);
      const dStart = data ? Math.max(offset, bStart) : 0;
      const dEnd = data ? Math.min(offset + data.length, bStart + plainLen) : 0;
      let plain: Buffer;
      if (data && dStart === bStart && dEnd === bStart + plainLen) {
        plain = data.subarray(dStart - offset, dEnd - offset); // fully overwritten: no need to read
      } else {
        plain = block.subarray(0, plainLen);
        plain.fill(0);
        if (old && b <= oldLast) {
          const at = (b - first) * BLOCK_LOWER;
          const len = blockPlainLength(size, b) + BLOCK_OVERHEAD;
          openBlockInto(this.key, this.fileId, b, b === oldFinal, old.subarray(at, at + len), plain, 0);
        }
        if (data && dEnd > dStart) data.copy(plain, dStart - bStart, dStart - offset, dEnd - offset);
      }
      w += sealBlockInto(this.key, this.fileId, b, b === finalNew, plain, out, w);
    }
    // One pwrite: the old final block re-sealed and the new blocks land
    // together, so a killed daemon leaves a torn file only inside one syscall.
    // If the disk fills up midway, the old bytes go back (in place: no space
    // needed) and the lower file is cut to its old length: nothing is lost.
    const start = lowerOffsetOfBlock(first);
    const oldEnd = lowerSize ?? io.size();
    let saved: Buffer | null = null;
    if (start + w > oldEnd && oldEnd > start) {
      // the old blocks read for merging are usually exactly the bytes to keep
      saved = old && start + old.length === oldEnd ? old : io.pread(start, oldEnd - start);
    }
    const commit = () => {
      try {
        io.pwrite(out.subarray(0, w), start);
      } catch (err) {
        if (start + w > oldEnd) {
          try {
            if (saved) io.pwrite(saved, start);
            io.ftruncate(oldEnd);
          } catch { /* the error below says what happened */ }
        }
        throw err;
      }
    };
    // With the space reserved, the copy into the lower file may follow the
    // reply (the writer's next request overlaps it); else it happens here.
    if (!afterReply || !io.writeAfterReply?.(start, w, commit)) commit();
  }

  write(io: LowerIO, offset: number, data: Buffer): void {
    if (data.length === 0) return;
    let lowerSize: number | undefined = io.size();
    let size = plaintextSizeOf(lowerSize);
    // a gap past EOF is filled with authenticated zeros first, in bounded chunks
    while (offset > size + FILL_CHUNK) {
      this.extend(io, size, size + FILL_CHUNK);
      size += FILL_CHUNK;
      lowerSize = undefined;
    }
    const newSize = Math.max(size, offset + data.length);
    const lo = Math.min(offset, size);
    let first = Math.floor(lo / BLOCK_PLAIN);
    if (newSize > size && size > 0) first = Math.min(first, lastBlockOf(size)); // old final loses its flag
    const last = Math.floor((Math.max(offset + data.length, newSize > size ? newSize : 0) - 1) / BLOCK_PLAIN);
    this.rewrite(io, size, newSize, first, last, offset, data, lowerSize, true);
  }

  private extend(io: LowerIO, size: number, newSize: number): void {
    const first = size > 0 ? lastBlockOf(size) : 0;
    this.rewrite(io, size, newSize, first, lastBlockOf(newSize), size, null);
  }

  truncate(io: LowerIO, newSize: number): void {
    let size = plaintextSizeOf(io.size());
    if (newSize === size) return;
    if (newSize > size) {
      while (newSize > size) {
        const step = Math.min(newSize, size + FILL_CHUNK);
        this.extend(io, size, step);
        size = step;
      }
      return;
    }
    // shrink: re-seal the new final block (partial or the empty block), then cut
    const b = lastBlockOf(newSize);
    const keep = blockPlainLength(newSize, b);
    const len = blockPlainLength(size, b) + BLOCK_OVERHEAD;
    const sealed = io.pread(lowerOffsetOfBlock(b), len);
    const plain = newSize === 0 ? Buffer.alloc(0)
      : openBlock(this.key, this.fileId, b, b === lastBlockOf(size), sealed).subarray(0, keep);
    const out = Buffer.allocUnsafe(keep + BLOCK_OVERHEAD);
    sealBlockInto(this.key, this.fileId, b, true, plain, out, 0);
    io.ftruncate(lowerSizeOf(newSize));
    io.pwrite(out, lowerOffsetOfBlock(b));
  }
}

class HomecryptFiles implements FileCodec {
  readonly sizeNeedsHeader = false;
  constructor(private readonly keys: MountKeys) {}

  plaintextSizeOf(lowerSize: number): number {
    return plaintextSizeOf(lowerSize);
  }

  create(): { bytes: Buffer; cipher: FileCipher } {
    const k = this.keys.current();
    const fileId = randomBytes(FILE_ID_BYTES);
    const contentKey = randomBytes(32);
    const nonce = randomBytes(12);
    const wrapped = Buffer.alloc(48);
    blockGcm().seal(k.wrapKey, nonce, headerAad(fileId, k.keyId), contentKey, wrapped, 0);
    const header = encodeFileHeader({ fileId, keyId: k.keyId, wrapNonce: nonce, wrappedKey: wrapped });
    const bytes = Buffer.alloc(FILE_HEADER_BYTES + BLOCK_OVERHEAD);
    header.copy(bytes, 0);
    sealBlockInto(contentKey, fileId, 0, true, Buffer.alloc(0), bytes, FILE_HEADER_BYTES);
    return { bytes, cipher: new BlockCipher(k.keyId, contentKey, fileId) };
  }

  open(io: LowerIO): FileCipher {
    const h = parseFileHeader(io.pread(0, FILE_HEADER_BYTES), io.lowerPath);
    const k = this.keys.get(h.keyId);
    if (!k) throw new KeyNotAvailableError(`${io.lowerPath}: its mount key ${h.keyId} is not loaded`);
    const contentKey = Buffer.alloc(32);
    if (!blockGcm().open(k.wrapKey, h.wrapNonce, headerAad(h.fileId, h.keyId), h.wrappedKey.subarray(0, 32),
      h.wrappedKey.subarray(32), contentKey, 0)) {
      throw new CorruptFileError(io.lowerPath, 'file header failed authentication');
    }
    return new BlockCipher(h.keyId, contentKey, h.fileId);
  }
}

/** Encrypted names: SIV per component, long names through sidecars. */
class EncryptedNames implements NameCodec {
  private readonly enc = new Map<string, string>();
  private readonly dec = new Map<string, string>();
  constructor(private readonly keys: MountKeys) {}

  encryptName(name: string, _dir: DirContext): EncryptedName {
    if (bytesOfName(name).length > NAME_MAX_BYTES) fail(E.ENAMETOOLONG);
    let full = this.enc.get(name);
    if (full === undefined) {
      full = encryptNameString(this.keys.nameKeys, 'name', name);
      if (this.enc.size > 50_000) this.enc.clear();
      this.enc.set(name, full);
    }
    if (full.length <= LOWER_NAME_MAX) return { lowerName: full };
    const entry = longEntryName(full);
    return { lowerName: entry, sidecar: { name: sidecarNameOf(entry), content: Buffer.from(full, 'ascii') } };
  }

  decryptName(lowerName: string, dir: DirContext): string | null {
    if (dir.lowerDir === '' && (lowerName === VOLUME_CONFIG_NAME || lowerName === DEFAULT_KEYSTORE_NAME)) return null;
    if (isSidecar(lowerName)) return null;
    const cached = this.dec.get(lowerName);
    if (cached !== undefined) return cached;
    let full = lowerName;
    if (isLongEntry(lowerName)) {
      const content = dir.readSidecar(sidecarNameOf(lowerName));
      if (!content) throw new AuthenticationError(`long name ${lowerName} has no sidecar`);
      const checked = checkSidecar(lowerName, content);
      if (!checked) throw new AuthenticationError(`sidecar of ${lowerName} does not match its name`);
      full = checked;
    }
    const name = decryptNameString(this.keys.nameKeys, 'name', full);
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
      throw new AuthenticationError('decrypted name is not a valid file name');
    }
    if (this.dec.size > 50_000) this.dec.clear();
    this.dec.set(lowerName, name);
    return name;
  }

  sidecarOf(lowerName: string): string | null {
    return isLongEntry(lowerName) ? sidecarNameOf(lowerName) : null;
  }

  encryptTarget(target: string): string {
    return encryptSymlinkTarget(this.keys, target);
  }

  decryptTarget(lowerTarget: string): string {
    return decryptSymlinkTarget(this.keys, lowerTarget);
  }
}

// Symlink targets are encrypted the same way whatever the name mode: a
// --plaintext-names volume still hides where its links point.
function encryptSymlinkTarget(keys: MountKeys, target: string): string {
  const enc = encodeName(sivSeal(keys.nameKeys, 'target', bytesOfName(target)));
  if (enc.length >= 4096) fail(E.ENAMETOOLONG);
  return enc;
}

function decryptSymlinkTarget(keys: MountKeys, lowerTarget: string): string {
  const sealed = decodeName(lowerTarget);
  if (!sealed) throw new AuthenticationError('symlink target is not encrypted');
  return nameFromBytes(sivOpen(keys.nameKeys, 'target', sealed));
}

// Plaintext names: the lower name is the name, except that names which would
// read as the volume's own files (homecrypt.conf, homecrypt.keys, optionally
// followed by '~'s) get one more '~' in the lower directory.
const RESERVED = /^homecrypt\.(conf|keys)~*$/;
class PlaintextNames implements NameCodec {
  constructor(private readonly keys: MountKeys) {}

  encryptName(name: string): EncryptedName {
    const lower = RESERVED.test(name) ? `${name}~` : name;
    // the lower name is this string as a UTF-8 path: bytes that are not UTF-8 cannot be kept
    if (hasEscapedBytes(name)) fail(E.EILSEQ);
    if (Buffer.byteLength(lower, 'utf8') > NAME_MAX_BYTES) fail(E.ENAMETOOLONG);
    return { lowerName: lower };
  }

  decryptName(lowerName: string): string | null {
    if (lowerName === VOLUME_CONFIG_NAME || lowerName === DEFAULT_KEYSTORE_NAME) return null;
    return RESERVED.test(lowerName) ? lowerName.slice(0, -1) : lowerName;
  }

  sidecarOf(): string | null {
    return null;
  }

  encryptTarget(target: string): string {
    return encryptSymlinkTarget(this.keys, target);
  }

  decryptTarget(lowerTarget: string): string {
    return decryptSymlinkTarget(this.keys, lowerTarget);
  }
}

// User xattrs: lower name "user." + SIV(name after "user.") (encrypted-name
// volumes) or the name itself; value = nonce (12) || AES-256-GCM || tag, AAD
// = the lower xattr name.
const XATTR_PREFIX = 'user.';
class Xattrs implements XattrCodec {
  private readonly valueKey: Buffer;
  constructor(private readonly keys: MountKeys, private readonly encryptNames: boolean) {
    this.valueKey = hkdfSha256(Buffer.concat([keys.nameKeys.macKey, keys.nameKeys.encKey]), 'homecrypt xattr values v1');
  }

  encryptXattrName(name: string): string | null {
    if (!name.startsWith(XATTR_PREFIX)) return null;
    if (!this.encryptNames) return name;
    const lower = XATTR_PREFIX + encryptNameString(this.keys.nameKeys, 'xattr', name.slice(XATTR_PREFIX.length));
    if (Buffer.byteLength(lower) > 255) fail(E.ERANGE);
    return lower;
  }

  decryptXattrName(lowerName: string): string | null {
    if (!lowerName.startsWith(XATTR_PREFIX)) return null;
    if (!this.encryptNames) return lowerName;
    try {
      return XATTR_PREFIX + decryptNameString(this.keys.nameKeys, 'xattr', lowerName.slice(XATTR_PREFIX.length));
    } catch {
      return null;
    }
  }

  encryptXattrValue(lowerName: string, value: Buffer): Buffer {
    const nonce = randomBytes(12);
    return Buffer.concat([nonce, gcmSeal(this.valueKey, nonce, value, Buffer.from(lowerName, 'utf8'))]);
  }

  decryptXattrValue(lowerName: string, sealed: Buffer): Buffer {
    if (sealed.length < 28) throw new AuthenticationError('xattr value truncated');
    return gcmOpen(this.valueKey, sealed.subarray(0, 12), sealed.subarray(12), Buffer.from(lowerName, 'utf8'));
  }
}

export function homecryptFormat(keys: MountKeys, opts: { plaintextNames: boolean }): VolumeFormat {
  return {
    name: 'homecrypt-v1',
    names: opts.plaintextNames ? new PlaintextNames(keys) : new EncryptedNames(keys),
    files: new HomecryptFiles(keys),
    xattrs: new Xattrs(keys, !opts.plaintextNames),
  };
}
