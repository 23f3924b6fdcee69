// One eCryptfs lower file, read and written through positioned I/O: 4096-byte
// CBC extents after the header, the plaintext size kept in the header's first 8
// bytes (as the kernel does on every size change). The size is re-read from the
// header on each call, so several handles on one file stay consistent. A path
// is opened by its bytes (format/name-bytes.ts: names need not be UTF-8).
import { closeSync, fsyncSync, openSync, constants } from 'node:fs';
import { CorruptFileError } from '../errors.js';
import { type AesKeyBytes, EXTENT_SIZE } from '../format/ecryptfs/constants.js';
import { decryptExtent, encryptExtent, lowerSizeFor, rootIv } from '../format/ecryptfs/extent-cipher.js';
import { HEADER_READ_BYTES, buildFileHeader, fileKeyFromHeader, parseFileHeader } from '../format/ecryptfs/ecryptfs-header.js';
import { randomKey } from '../crypto/random.js';
import { bytesOfName } from '../format/name-bytes.js';
import type { FileCipher, LowerIO } from '../engine/volume-format.js';
import { FdLowerIO } from '../engine/fd-lower-io.js';
import type { EcryptfsKeys } from './keys.js';

const ZERO = Buffer.alloc(EXTENT_SIZE);

export class EcryptfsCipher implements FileCipher {
  private lastIo: LowerIO | null = null;

  constructor(
    readonly keyId: string,
    private readonly fek: Buffer,
    private readonly headerSize: number,
    io: LowerIO | null,
  ) {
    this.root = rootIv(fek);
    this.lastIo = io;
  }

  private readonly root: Buffer;

  /** Parses the header of `io` and unwraps its file key with one of `keys`. */
  static open(io: LowerIO, keys: EcryptfsKeys): EcryptfsCipher {
    const h = parseFileHeader(io.pread(0, HEADER_READ_BYTES), io.lowerPath);
    const fek = fileKeyFromHeader(h, keys.byKeySig, io.lowerPath);
    const lower = io.size();
    if (lower < h.headerSize) throw new CorruptFileError(io.lowerPath, `lower file (${lower} bytes) shorter than its header (${h.headerSize})`);
    const sig = h.keys.find((k) => keys.byKeySig.has(k.sig))!.sig;
    return new EcryptfsCipher(sig, fek, h.headerSize, io);
  }

  /** A new empty file's header bytes and its cipher. */
  static create(keys: EcryptfsKeys, keyBytes: AesKeyBytes): { bytes: Buffer; cipher: EcryptfsCipher } {
    const fek = randomKey(keyBytes);
    const bytes = buildFileHeader({
      fileSize: 0,
      fileKey: fek,
      passphraseKey: keys.byKeySig.get(keys.sig)!,
      sig: keys.sig,
      salt: keys.salt,
      encryptFilenames: !!keys.fnek,
    });
    return { bytes, cipher: new EcryptfsCipher(keys.sig, fek, bytes.length, null) };
  }

  private sizeOf(io: LowerIO): number {
    this.lastIo = io;
    const b = io.pread(0, 8);
    if (b.length < 8) throw new CorruptFileError(io.lowerPath, 'header truncated');
    const n = b.readBigUInt64BE(0);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptFileError(io.lowerPath, `implausible file size ${n}`);
    return Number(n);
  }

  private setSize(io: LowerIO, size: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(size));
    io.pwrite(b, 0);
  }

  plaintextSize(lowerSize: number): number {
    if (this.lastIo) return this.sizeOf(this.lastIo);
    return lowerSize <= this.headerSize ? 0 : lowerSize - this.headerSize;
  }

  private readExtent(io: LowerIO, n: number, size: number): Buffer {
    const c = io.pread(this.headerSize + n * EXTENT_SIZE, EXTENT_SIZE);
    if (c.length !== EXTENT_SIZE) {
      throw new CorruptFileError(io.lowerPath, `extent ${n} missing or truncated (the header says ${size} bytes)`);
    }
    return decryptExtent(this.fek, this.root, n, c);
  }

  private writeExtent(io: LowerIO, n: number, plain: Buffer): void {
    io.pwrite(encryptExtent(this.fek, this.root, n, plain), this.headerSize + n * EXTENT_SIZE);
  }

  read(io: LowerIO, offset: number, length: number): Buffer {
    const size = this.sizeOf(io);
    if (offset >= size || length <= 0) return Buffer.alloc(0);
    const end = Math.min(size, offset + length);
    const out = Buffer.alloc(end - offset);
    for (let n = Math.floor(offset / EXTENT_SIZE); n * EXTENT_SIZE < end; n++) {
      const ext = this.readExtent(io, n, size);
      const s = Math.max(offset, n * EXTENT_SIZE),
        e = Math.min(end, (n + 1) * EXTENT_SIZE);
      ext.copy(out, s - offset, s - n * EXTENT_SIZE, e - n * EXTENT_SIZE);
    }
    return out;
  }

  write(io: LowerIO, offset: number, data: Buffer): void {
    if (data.length === 0) return;
    let size = this.sizeOf(io);
    // a write past the end first fills the gap with encrypted zeros, as the kernel does
    if (offset > size) {
      this.truncate(io, offset);
      size = offset;
    }
    const end = offset + data.length;
    for (let n = Math.floor(offset / EXTENT_SIZE); n * EXTENT_SIZE < end; n++) {
      const base = n * EXTENT_SIZE;
      const s = Math.max(offset, base),
        e = Math.min(end, base + EXTENT_SIZE);
      const whole = s === base && e === base + EXTENT_SIZE;
      const ext = whole || base >= size ? Buffer.alloc(EXTENT_SIZE) : this.readExtent(io, n, size);
      if (!whole && base < size && size < base + EXTENT_SIZE) ext.fill(0, size - base);
      data.copy(ext, s - base, s - offset, e - offset);
      this.writeExtent(io, n, ext);
    }
    if (end > size) this.setSize(io, end);
  }

  truncate(io: LowerIO, newSize: number): void {
    const size = this.sizeOf(io);
    if (newSize < size) {
      if (newSize % EXTENT_SIZE !== 0) {
        const n = Math.floor(newSize / EXTENT_SIZE);
        const ext = this.readExtent(io, n, size);
        ext.fill(0, newSize % EXTENT_SIZE);
        this.writeExtent(io, n, ext);
      }
      io.ftruncate(lowerSizeFor(newSize, this.headerSize));
      this.setSize(io, newSize);
    } else if (newSize > size) {
      this.reserveGap(io, size, newSize);
      let n = Math.floor(size / EXTENT_SIZE);
      if (size % EXTENT_SIZE !== 0) {
        const ext = this.readExtent(io, n, size);
        ext.fill(0, size % EXTENT_SIZE);
        this.writeExtent(io, n, ext);
        n++;
      }
      for (; n * EXTENT_SIZE < newSize; n++) this.writeExtent(io, n, ZERO);
      this.setSize(io, newSize);
    }
  }

  /**
   * eCryptfs has no holes: a lower hole would decrypt to garbage (the kernel's
   * eCryptfs writes every extent of a gap too), so growing writes the whole
   * gap. Its space is reserved first, so a gap larger than the free space (or
   * than the lower filesystem's largest file) fails at once, with nothing
   * written, instead of filling the disk. Without fallocate on the lower
   * filesystem the gap is written unreserved, as before.
   */
  private reserveGap(io: LowerIO, size: number, newSize: number): void {
    const from = this.headerSize + Math.floor(size / EXTENT_SIZE) * EXTENT_SIZE;
    try {
      io.reserve?.(from, lowerSizeFor(newSize, this.headerSize) - from);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
    }
  }

  wipe(): void {
    this.fek.fill(0);
  }
}

/** An open lower file with its cipher, for reading or writing without a mount. */
export class EcryptfsFile {
  private constructor(
    private readonly io: FdLowerIO,
    private readonly cipher: EcryptfsCipher,
  ) {}

  static open(path: string, keys: EcryptfsKeys, writable: boolean): EcryptfsFile {
    const fd = openSync(bytesOfName(path), (writable ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NOFOLLOW);
    const io = new FdLowerIO(fd, path);
    try {
      return new EcryptfsFile(io, EcryptfsCipher.open(io, keys));
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  static create(path: string, keys: EcryptfsKeys, keyBytes: AesKeyBytes, mode = 0o600): EcryptfsFile {
    const fd = openSync(bytesOfName(path), constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    const io = new FdLowerIO(fd, path);
    try {
      const { bytes, cipher } = EcryptfsCipher.create(keys, keyBytes);
      io.pwrite(bytes, 0);
      return new EcryptfsFile(io, cipher);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  get size(): number {
    return this.cipher.plaintextSize(this.io.size());
  }

  read(pos: number, len: number): Buffer {
    return this.cipher.read(this.io, pos, len);
  }

  readAll(): Buffer {
    return this.read(0, this.size);
  }

  write(pos: number, data: Buffer): void {
    this.cipher.write(this.io, pos, data);
  }

  truncate(size: number): void {
    this.cipher.truncate(this.io, size);
  }

  fsync(): void {
    fsyncSync(this.io.fd);
  }

  close(): void {
    this.cipher.wipe();
    closeSync(this.io.fd);
  }
}
