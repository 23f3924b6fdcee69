// One open eCryptfs lower file: random-access read and write of the plaintext,
// extent by extent, keeping the header's size field current as the kernel does.
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync, constants, fsyncSync } from 'node:fs';
import { CorruptFileError } from '../errors.js';
import { EXTENT_SIZE } from '../format/ecryptfs/constants.js';
import { decryptExtent, encryptExtent, lowerSizeFor, rootIv } from '../format/ecryptfs/extent-cipher.js';
import {
  HEADER_READ_BYTES, buildFileHeader, fileKeyFromHeader, parseFileHeader, setHeaderFileSize,
} from '../format/ecryptfs/file-header.js';
import { randomKey } from '../crypto/random.js';
import type { EcryptfsKeys } from './keys.js';
import type { AesKeyBytes } from '../format/ecryptfs/constants.js';

function readFully(fd: number, len: number, pos: number): Buffer {
  const b = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, b, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got === len ? b : b.subarray(0, got);
}

function writeFully(fd: number, data: Buffer, pos: number): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off, pos + off);
}

export class EcryptfsFile {
  private constructor(
    readonly path: string,
    private fd: number,
    private headerSize: number,
    private fek: Buffer,
    private root: Buffer,
    public size: number,
    private readonly writable: boolean,
  ) {}

  /** Opens an existing lower file; throws CorruptFileError/KeyNotAvailableError naming it. */
  static open(path: string, keys: EcryptfsKeys, writable: boolean): EcryptfsFile {
    const fd = openSync(path, (writable ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NOFOLLOW);
    try {
      const head = readFully(fd, HEADER_READ_BYTES, 0);
      const h = parseFileHeader(head, path);
      const fek = fileKeyFromHeader(h, keys.byKeySig, path);
      const lowerSize = fstatSync(fd).size;
      if (lowerSize < h.headerSize) throw new CorruptFileError(path, `lower file (${lowerSize} bytes) shorter than its header (${h.headerSize})`);
      return new EcryptfsFile(path, fd, h.headerSize, fek, rootIv(fek), h.fileSize, writable);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Creates (or truncates) a lower file with a fresh header and file key. */
  static create(path: string, keys: EcryptfsKeys, keyBytes: AesKeyBytes, mode = 0o600): EcryptfsFile {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
    try {
      const fek = randomKey(keyBytes);
      const header = buildFileHeader({
        fileSize: 0, fileKey: fek, passphraseKey: keys.byKeySig.get(keys.sig)!, sig: keys.sig, salt: keys.salt,
        encryptFilenames: !!keys.fnek,
      });
      writeFully(fd, header, 0);
      return new EcryptfsFile(path, fd, header.length, fek, rootIv(fek), 0, true);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  private readExtent(n: number): Buffer {
    const c = readFully(this.fd, EXTENT_SIZE, this.headerSize + n * EXTENT_SIZE);
    if (c.length !== EXTENT_SIZE) {
      throw new CorruptFileError(this.path, `extent ${n} is missing or truncated (lower file shorter than its size ${this.size} says)`);
    }
    return decryptExtent(this.fek, this.root, n, c);
  }

  private writeExtent(n: number, plain: Buffer): void {
    writeFully(this.fd, encryptExtent(this.fek, this.root, n, plain), this.headerSize + n * EXTENT_SIZE);
  }

  read(pos: number, len: number): Buffer {
    if (pos >= this.size || len <= 0) return Buffer.alloc(0);
    const end = Math.min(this.size, pos + len);
    const out = Buffer.alloc(end - pos);
    for (let n = Math.floor(pos / EXTENT_SIZE); n * EXTENT_SIZE < end; n++) {
      const ext = this.readExtent(n);
      const s = Math.max(pos, n * EXTENT_SIZE), e = Math.min(end, (n + 1) * EXTENT_SIZE);
      ext.copy(out, s - pos, s - n * EXTENT_SIZE, e - n * EXTENT_SIZE);
    }
    return out;
  }

  readAll(): Buffer {
    return this.read(0, this.size);
  }

  write(pos: number, data: Buffer): number {
    if (!this.writable) throw new Error('file opened read-only');
    if (data.length === 0) return 0;
    const end = pos + data.length;
    // a write past the end first fills the gap with encrypted zeros, as the kernel does
    if (pos > this.size) this.truncate(pos);
    for (let n = Math.floor(pos / EXTENT_SIZE); n * EXTENT_SIZE < end; n++) {
      const base = n * EXTENT_SIZE;
      const s = Math.max(pos, base), e = Math.min(end, base + EXTENT_SIZE);
      const whole = s === base && e === base + EXTENT_SIZE;
      const ext = whole || base >= this.size ? Buffer.alloc(EXTENT_SIZE) : this.readExtent(n);
      if (!whole && base < this.size && this.size < base + EXTENT_SIZE) ext.fill(0, this.size - base);
      data.copy(ext, s - base, s - pos, e - pos);
      this.writeExtent(n, ext);
    }
    if (end > this.size) this.setSize(end);
    return data.length;
  }

  truncate(size: number): void {
    if (!this.writable) throw new Error('file opened read-only');
    if (size < this.size) {
      const n = Math.floor(size / EXTENT_SIZE);
      if (size % EXTENT_SIZE !== 0) {
        const ext = this.readExtent(n);
        ext.fill(0, size % EXTENT_SIZE);
        this.writeExtent(n, ext);
      }
      ftruncateSync(this.fd, lowerSizeFor(size, this.headerSize));
      this.setSize(size);
    } else if (size > this.size) {
      let n = Math.floor(this.size / EXTENT_SIZE);
      if (this.size % EXTENT_SIZE !== 0) {
        const ext = this.readExtent(n);
        ext.fill(0, this.size % EXTENT_SIZE);
        this.writeExtent(n, ext);
        n++;
      }
      const zero = Buffer.alloc(EXTENT_SIZE);
      for (; n * EXTENT_SIZE < size; n++) this.writeExtent(n, zero);
      this.setSize(size);
    }
  }

  private setSize(size: number): void {
    this.size = size;
    const b = Buffer.alloc(8);
    setHeaderFileSize(b, size);
    writeFully(this.fd, b, 0);
  }

  fsync(): void {
    fsyncSync(this.fd);
  }

  close(): void {
    this.fek.fill(0);
    closeSync(this.fd);
  }
}
