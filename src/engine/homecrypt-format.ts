// homecrypt's own on-disk format (v1) behind the VolumeFormat seam: file
// headers with per-file content keys, authenticated 4 KiB blocks
// (content-cipher.ts), SIV names with the long-name scheme, encrypted symlink
// targets and xattrs.
import { randomBytes } from 'node:crypto';
import { AuthenticationError, CorruptFileError, KeyNotAvailableError, UnsupportedFormatError } from '../errors.js';
import { gcmOpen, gcmSeal } from '../crypto/aead.js';
import { blockGcm } from '../crypto/gcm-blocks.js';
import { secretsEqual } from '../crypto/constant-time.js';
import {
  FILE_HEADER_AAD_BYTES,
  FILE_HEADER_BYTES,
  FILE_ID_BYTES,
  FLAG_SPARSE,
  encodeFileHeader,
  headerAad,
  parseFileHeader,
  type FileFormatVersion,
} from '../format/file-header.js';
import { BLOCK_OVERHEAD, LAYOUT_V1, LAYOUT_V2, type BlockLayout } from '../format/block-offsets.js';
import { WriteJournal, hasRecord, recoveredView } from './write-journal.js';
import { sealBlockInto } from '../format/content.js';
import { RECORD_AT, RECORD_MAGIC } from '../format/write-record.js';
import { BlockCipher, type SparseFlag } from './content-cipher.js';
import { bytesOfName, nameFromBytes } from '../format/name-bytes.js';
import { NAME_MAX_BYTES, decryptNameString, encryptNameString, decodeName, encodeName, sealedPlainLength, sivSeal, sivOpen } from '../format/names.js';
import { LOWER_NAME_MAX, checkSidecar, isLongEntry, isSidecar, longEntryName, sidecarNameOf } from '../format/long-names.js';
import { DEFAULT_KEYSTORE_NAME, VOLUME_CONFIG_NAME, type VolumeVersion } from '../format/volume-config.js';
import type { DirContext, DirStateCodec, EncryptedName, FileCipher, FileCodec, LowerIO, NameCodec, VolumeFormat, XattrCodec } from './volume-format.js';
import { DIR_IV_NAME, MKDIR_TEMP_PREFIX, newDirIv, openDirIv, sealDirIv } from '../format/dir-iv.js';
import type { LoadedKey, MountKeys } from './mount-keys.js';
import { E, fail } from './errno.js';
import { hkdfSha256 } from '../crypto/hkdf.js';
import { RandomPool } from '../crypto/random-pool.js';
import { FileKeyCache } from './file-key-cache.js';
import { NameMemo } from './name-memo.js';
import { hmacCtr } from '../crypto/hmac-ctr.js';

/** A new file's ID, content key and wrap nonce (random-pool.ts). */
const fresh = new RandomPool();

/** The header and the slot's magic, read at each open (requests run one at a time on the JS thread). */
const HEAD_SCRATCH = Buffer.alloc(RECORD_AT + RECORD_MAGIC.length);

class HomecryptFiles implements FileCodec {
  readonly sizeNeedsHeader = false;
  private readonly layout: BlockLayout;
  /** Keys of the headers authenticated so far: a file opened again is not unwrapped again (file-key-cache.ts). */
  private readonly opened = new FileKeyCache();
  constructor(
    private readonly keys: MountKeys,
    private readonly version: FileFormatVersion,
  ) {
    this.layout = version === 2 ? LAYOUT_V2 : LAYOUT_V1;
  }

  plaintextSizeOf(lowerSize: number): number {
    return this.layout.plaintextSizeOf(lowerSize);
  }

  wellFormed(lowerSize: number): boolean {
    return this.layout.isWellFormedLowerSize(lowerSize);
  }

  create(): { bytes: Buffer; tail?: { at: number; bytes: Buffer }; cipher: FileCipher } {
    const k = this.keys.current();
    const fileId = fresh.take(FILE_ID_BYTES);
    const contentKey = fresh.take(32);
    const header = sealHeader(k, fileId, contentKey, 0, this.version);
    const empty = Buffer.alloc(BLOCK_OVERHEAD);
    sealBlockInto(contentKey, fileId, 0, true, Buffer.alloc(0), empty, 0);
    const cipher = this.cipher(k, fileId, contentKey);
    // format 2: the record slot between header and block 0 stays a hole until a write needs it
    if (this.layout.body > FILE_HEADER_BYTES) return { bytes: header, tail: { at: this.layout.body, bytes: empty }, cipher };
    return { bytes: Buffer.concat([header, empty]), cipher };
  }

  private cipher(k: LoadedKey, fileId: Buffer, contentKey: Buffer): BlockCipher {
    const journal = this.version === 2 ? new WriteJournal(contentKey, fileId, this.layout.body) : undefined;
    return new BlockCipher(k.keyId, contentKey, fileId, new HeaderSparseFlag(k, fileId, contentKey, this.version), this.layout, journal);
  }

  /** The header's key, when it authenticates as a header of this volume's file version. */
  private unlock(io: LowerIO, head: Buffer = io.pread(0, FILE_HEADER_BYTES)): { k: LoadedKey; fileId: Buffer; contentKey: Buffer } {
    const known = this.opened.get(head);
    const kk = known && this.keys.get(known.keyId);
    if (kk) return { k: kk, fileId: known.fileId, contentKey: known.contentKey };
    const h = parseFileHeader(head, io.lowerPath);
    if (h.version !== this.version) {
      throw new UnsupportedFormatError(io.lowerPath, `a format-${h.version ?? 1} file in a format-${this.version} volume`);
    }
    const k = this.keys.get(h.keyId);
    if (!k) throw new KeyNotAvailableError(`${io.lowerPath}: its mount key ${h.keyId} is not loaded`);
    const contentKey = unwrapContentKey(k, head, h.wrapNonce, h.wrappedKey);
    if (!contentKey) throw new CorruptFileError(io.lowerPath, 'file header failed authentication');
    this.opened.set(head, { keyId: k.keyId, fileId: h.fileId, contentKey });
    return { k, fileId: h.fileId, contentKey };
  }

  open(io: LowerIO): FileCipher {
    return this.openWith(io, this.unlock(io));
  }

  /**
   * open() in one read of the header and the slot's magic (format 2), when
   * the slot holds no record; null when it holds one (or something like
   * one): the caller then asks hasPendingWrite, recovers and opens as
   * before. A file opened at rest costs one pread here instead of two.
   */
  openAtRest(io: LowerIO): FileCipher | null {
    const head = HEAD_SCRATCH.subarray(0, this.version === 2 ? RECORD_AT + RECORD_MAGIC.length : FILE_HEADER_BYTES);
    const got = io.preadInto(head, 0);
    if (this.version === 2 && got === head.length) {
      if (head.subarray(RECORD_AT).equals(RECORD_MAGIC)) return null;
      io.slotEmpty = true; // as hasRecord would say: a small write then needs no record
    }
    // parseFileHeader copies what it keeps: the scratch is free again once it returns
    return this.openWith(io, this.unlock(io, head.subarray(0, Math.min(got, FILE_HEADER_BYTES))));
  }

  private openWith(io: LowerIO, { k, fileId, contentKey }: { k: LoadedKey; fileId: Buffer; contentKey: Buffer }): FileCipher {
    const lowerSize = io.size();
    // a file cut inside its first block (or, format 2, anywhere off a block
    // boundary) never passes for a shorter one; fsck says the same
    if (lowerSize < this.layout.body + BLOCK_OVERHEAD || (this.version === 2 && !this.wellFormed(lowerSize))) {
      throw new CorruptFileError(io.lowerPath, `size ${lowerSize} is not that of a whole file (truncated or torn)`);
    }
    return this.cipher(k, fileId, contentKey);
  }

  // a handle that wrote empties the slot when it closes (BlockCipher.release),
  // so opening a file at rest costs one 4-byte read here
  hasPendingWrite(io: LowerIO): boolean {
    if (this.version !== 2 || !hasRecord(io)) return false;
    const { fileId, contentKey } = this.unlock(io);
    return new WriteJournal(contentKey, fileId, this.layout.body).pending(io) !== null;
  }

  recover(io: LowerIO): boolean {
    const { fileId, contentKey } = this.unlock(io);
    return new WriteJournal(contentKey, fileId, this.layout.body).recover(io);
  }

  recoveredView(io: LowerIO): LowerIO {
    const { fileId, contentKey } = this.unlock(io);
    const r = new WriteJournal(contentKey, fileId, this.layout.body).pending(io);
    return r ? recoveredView(io, r) : io;
  }
}

/** A header with a fresh wrap of `contentKey` (the wrap's AAD covers the flags). */
function sealHeader(k: LoadedKey, fileId: Buffer, contentKey: Buffer, flags: number, version: FileFormatVersion): Buffer {
  const nonce = fresh.take(12);
  const wrapped = Buffer.alloc(48);
  blockGcm().seal(k.wrapKey, nonce, headerAad(fileId, k.keyId, flags, version), contentKey, wrapped, 0);
  return encodeFileHeader({ fileId, keyId: k.keyId, flags, version, wrapNonce: nonce, wrappedKey: wrapped });
}

/**
 * The content key of the header `head` (parsed, not yet authenticated), or
 * null when the wrap fails. The AAD is the header's own bytes 0..31 as read
 * (docs/FORMAT-FILES.md), which parseFileHeader has checked field by field:
 * the same bytes headerAad() would rebuild from the parsed fields, without
 * the rebuilding at every open.
 */
function unwrapContentKey(k: LoadedKey, head: Buffer, nonce: Buffer, wrapped: Buffer): Buffer | null {
  const contentKey = Buffer.alloc(32);
  return blockGcm().open(k.wrapKey, nonce, head.subarray(0, FILE_HEADER_AAD_BYTES), wrapped.subarray(0, 32), wrapped.subarray(32), contentKey, 0)
    ? contentKey
    : null;
}

/**
 * The header's FLAG_SPARSE, read from the lower file each time it matters
 * (another handle on the same file may have changed it) and believed only
 * when the header authenticates as this file's.
 */
class HeaderSparseFlag implements SparseFlag {
  constructor(
    private readonly k: LoadedKey,
    private readonly fileId: Buffer,
    private readonly contentKey: Buffer,
    private readonly version: FileFormatVersion,
  ) {}

  get(io: LowerIO): boolean {
    const head = io.pread(0, FILE_HEADER_BYTES);
    const h = parseFileHeader(head, io.lowerPath);
    if (!((h.flags ?? 0) & FLAG_SPARSE)) return false;
    const key =
      h.keyId === this.k.keyId && h.fileId.equals(this.fileId) && h.version === this.version ? unwrapContentKey(this.k, head, h.wrapNonce, h.wrappedKey) : null;
    if (!key || !secretsEqual(key, this.contentKey)) throw new CorruptFileError(io.lowerPath, 'file header failed authentication');
    return true;
  }

  /**
   * Rewrites the header only when the flag changes, so a file is re-sealed
   * once when it gets its first hole (a bit set by hand without the wrap key
   * is not trusted: the header then fails at get() and at every open).
   */
  set(io: LowerIO, on: boolean): void {
    if (((io.pread(6, 2).readUInt16BE(0) & FLAG_SPARSE) !== 0) === on) return;
    io.pwrite(sealHeader(this.k, this.fileId, this.contentKey, on ? FLAG_SPARSE : 0, this.version), 0);
  }
}

/**
 * Encrypted names: SIV per component, long names through sidecars. Format 2
 * (`bound`) seals each name with its directory's IV (src/format/dir-iv.ts).
 */
class EncryptedNames implements NameCodec {
  /** Lower names of plain names, and plain names of lower names (name-memo.ts). */
  private readonly enc = new NameMemo();
  private readonly dec = new NameMemo();
  readonly dirState?: DirStateCodec;
  constructor(
    private readonly keys: MountKeys,
    bound: boolean,
  ) {
    // names use HMAC and AES-CTR from libcrypto: loaded and self-tested now, as the
    // volume opens, not inside the mount's first listing
    hmacCtr();
    if (bound) {
      this.dirState = {
        fileName: DIR_IV_NAME,
        tempPrefix: MKDIR_TEMP_PREFIX,
        create: () => {
          const iv = newDirIv();
          return { iv, content: sealDirIv(keys.nameKeys, iv) };
        },
        contentOf: (iv) => sealDirIv(keys.nameKeys, iv),
        open: (content, where) => openDirIv(keys.nameKeys, content, where),
        looksSealed: (lowerName) => isLongEntry(lowerName) || decodeName(lowerName) !== null,
      };
    }
  }

  /** The directory's IV (format 2) or undefined (format 1). */
  private ivOf(dir: DirContext): Buffer | undefined {
    if (!this.dirState) return undefined;
    if (!dir.dirIV) throw new Error("a format-2 name needs its directory's IV");
    return dir.dirIV();
  }

  encryptName(name: string, dir: DirContext): EncryptedName {
    // a UTF-16 unit is at most 3 UTF-8 bytes (an escaped byte 1): only a long name needs counting
    if (name.length * 3 > NAME_MAX_BYTES && bytesOfName(name).length > NAME_MAX_BYTES) fail(E.ENAMETOOLONG);
    const iv = this.ivOf(dir);
    let full = this.enc.get(iv, name);
    if (full === undefined) {
      full = iv ? encryptNameString(this.keys.nameKeys, 'dirname', name, iv) : encryptNameString(this.keys.nameKeys, 'name', name);
      this.enc.set(iv, name, full);
    }
    if (full.length <= LOWER_NAME_MAX) return { lowerName: full };
    const entry = longEntryName(full);
    return { lowerName: entry, sidecar: { name: sidecarNameOf(entry), content: Buffer.from(full, 'ascii') } };
  }

  decryptName(lowerName: string, dir: DirContext): string | null {
    if (dir.lowerDir === '' && (lowerName === VOLUME_CONFIG_NAME || lowerName === DEFAULT_KEYSTORE_NAME)) return null;
    if (isSidecar(lowerName)) return null;
    if (this.dirState && (lowerName === DIR_IV_NAME || lowerName.startsWith(MKDIR_TEMP_PREFIX))) return null;
    const iv = this.ivOf(dir);
    const cached = this.dec.get(iv, lowerName);
    if (cached !== undefined) return cached;
    let full = lowerName;
    if (isLongEntry(lowerName)) {
      const content = dir.readSidecar(sidecarNameOf(lowerName));
      if (!content) throw new AuthenticationError(`long name ${lowerName} has no sidecar`);
      const checked = checkSidecar(lowerName, content);
      if (!checked) throw new AuthenticationError(`sidecar of ${lowerName} does not match its name`);
      full = checked;
    }
    const name = iv ? decryptNameString(this.keys.nameKeys, 'dirname', full, iv) : decryptNameString(this.keys.nameKeys, 'name', full);
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
      throw new AuthenticationError('decrypted name is not a valid file name');
    }
    this.dec.set(iv, lowerName, name);
    // and the way back: a listing is mostly followed by lookups of the names it
    // gave (ls -l, READDIRPLUS), and SIV is deterministic with a canonical
    // encoding (decodeName is strict), so `full` is what encrypting `name` gives
    if (!this.enc.has(iv, name)) this.enc.set(iv, name, full);
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

  targetSize(lowerTargetLength: number): number | null {
    return sealedPlainLength(lowerTargetLength);
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

// Plaintext names: the lower name is the name, byte for byte (one that is not
// UTF-8 too: it stays in its string form down to the lower calls, which hand
// the kernel its bytes), except that names which would read as the volume's
// own files (homecrypt.conf, homecrypt.keys, optionally followed by '~'s) get
// one more '~' in the lower directory.
const RESERVED = /^homecrypt\.(conf|keys)~*$/;
class PlaintextNames implements NameCodec {
  constructor(private readonly keys: MountKeys) {}

  encryptName(name: string): EncryptedName {
    const lower = RESERVED.test(name) ? `${name}~` : name;
    // a UTF-16 unit is at most 3 UTF-8 bytes (an escaped byte 1): only a long name needs counting
    if (lower.length * 3 > NAME_MAX_BYTES && bytesOfName(lower).length > NAME_MAX_BYTES) fail(E.ENAMETOOLONG);
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

  targetSize(lowerTargetLength: number): number | null {
    return sealedPlainLength(lowerTargetLength);
  }
}

// Xattrs of two namespaces, each stored in the lower namespace of the same
// name: user.* (any user, on their own files) and trusted.* (root only: the
// kernel refuses it to others, and only root may change the lower ones).
// Lower name: the namespace + SIV(name after it) on encrypted-name volumes,
// the name itself otherwise. The SIV input of a trusted name starts with
// TRUSTED_MARK (a NUL, which no xattr name holds), so no trusted name
// encrypts like a user name. Value = nonce (12) || AES-256-GCM || tag, AAD =
// the lower xattr name's bytes (namespace included; one that is not UTF-8, on
// a plaintext-names volume, its very bytes).
const XATTR_PREFIX = 'user.';
const TRUSTED_PREFIX = 'trusted.';
const TRUSTED_MARK = '\0trusted.';
class Xattrs implements XattrCodec {
  private readonly valueKey: Buffer;
  constructor(
    private readonly keys: MountKeys,
    private readonly encryptNames: boolean,
  ) {
    this.valueKey = hkdfSha256(Buffer.concat([keys.nameKeys.macKey, keys.nameKeys.encKey]), 'homecrypt xattr values v1');
  }

  encryptXattrName(name: string): string | null {
    const trusted = name.startsWith(TRUSTED_PREFIX);
    if (!trusted && !name.startsWith(XATTR_PREFIX)) return null;
    if (!this.encryptNames) return name;
    const lower = trusted
      ? TRUSTED_PREFIX + encryptNameString(this.keys.nameKeys, 'xattr', TRUSTED_MARK + name.slice(TRUSTED_PREFIX.length))
      : XATTR_PREFIX + encryptNameString(this.keys.nameKeys, 'xattr', name.slice(XATTR_PREFIX.length));
    if (Buffer.byteLength(lower) > 255) fail(E.ERANGE);
    return lower;
  }

  decryptXattrName(lowerName: string): string | null {
    const trusted = lowerName.startsWith(TRUSTED_PREFIX);
    if (!trusted && !lowerName.startsWith(XATTR_PREFIX)) return null;
    if (!this.encryptNames) return lowerName;
    try {
      if (!trusted) {
        const plain = decryptNameString(this.keys.nameKeys, 'xattr', lowerName.slice(XATTR_PREFIX.length));
        return plain.startsWith(TRUSTED_MARK) ? null : XATTR_PREFIX + plain; // a trusted name moved here: not ours
      }
      const plain = decryptNameString(this.keys.nameKeys, 'xattr', lowerName.slice(TRUSTED_PREFIX.length));
      return plain.startsWith(TRUSTED_MARK) ? TRUSTED_PREFIX + plain.slice(TRUSTED_MARK.length) : null;
    } catch {
      return null;
    }
  }

  encryptXattrValue(lowerName: string, value: Buffer): Buffer {
    const nonce = randomBytes(12);
    return Buffer.concat([nonce, gcmSeal(this.valueKey, nonce, value, bytesOfName(lowerName))]);
  }

  decryptXattrValue(lowerName: string, sealed: Buffer): Buffer {
    if (sealed.length < 28) throw new AuthenticationError('xattr value truncated');
    return gcmOpen(this.valueKey, sealed.subarray(0, 12), sealed.subarray(12), bytesOfName(lowerName));
  }
}

/** `version`: the volume's format version (homecrypt.conf); 1 when not given (fixtures, unit tests). */
export function homecryptFormat(keys: MountKeys, opts: { plaintextNames: boolean; version?: VolumeVersion }): VolumeFormat {
  const version = opts.version ?? 1;
  return {
    name: `homecrypt-v${version}`,
    formatVersion: version,
    // names bound to their directory from format 2 on (plaintext names have no directory state)
    names: opts.plaintextNames ? new PlaintextNames(keys) : new EncryptedNames(keys, version >= 2),
    // contents with a write record slot from format 2 on (crash-safe)
    files: new HomecryptFiles(keys, version),
    xattrs: new Xattrs(keys, !opts.plaintextNames),
  };
}
