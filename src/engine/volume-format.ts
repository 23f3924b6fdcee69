// The seam between the engine's FUSE operations (format-agnostic, filesystem.ts)
// and an on-disk format: homecrypt's own (homecrypt-format.ts) or the kernel
// eCryptfs format (src/ecryptfs/). The operations layer does all lower-directory
// I/O and POSIX bookkeeping; a format only turns names and bytes around.
//
// What an implementer provides (`VolumeFormat`):
// - `names`: NameCodec. Deterministic: the same plaintext name in the same
//   directory context must always give the same lower name (lookups encrypt,
//   they never search). `encryptName` throws FuseError(ENAMETOOLONG) for a name
//   that cannot be stored; when the lower name would be too long it may return
//   a `sidecar` (a file beside the entry holding the full encrypted name; the
//   engine creates it before the entry and removes it after). `decryptName`
//   returns null for lower entries that are not user files (volume config,
//   sidecars, foreign files) and throws AuthenticationError for a name that
//   fails authentication. Symlink targets go through encrypt/decryptTarget.
// - `files`: FileCodec. `create()` gives the complete lower bytes of a new,
//   empty file (header + whatever the format needs) and its FileCipher;
//   `open(io)` reads and authenticates the header and returns the FileCipher
//   (throws AuthenticationError / CorruptFileError / KeyNotAvailableError).
//   A FileCipher maps plaintext ranges onto lower bytes through `io` alone
//   (read-modify-write of partial blocks included) and must leave the lower
//   file valid after every call; `plaintextSize` turns a lower size into the
//   plaintext size (stat/readdir call it without opening the file when
//   `sizeNeedsHeader` is false).
// - `xattrs` (optional): encrypts user xattr names and values; without it
//   the engine answers EOPNOTSUPP for xattrs.
// Everything is synchronous: the engine answers FUSE requests on the JS
// thread, and synchronous handlers are what makes each request atomic.

/** Positioned I/O on one open lower file. */
export interface LowerIO {
  /** Reads up to `length` bytes at `offset`; a short result means EOF. */
  pread(offset: number, length: number): Buffer;
  /** Reads into `target` (all of it, unless EOF comes first); returns the bytes read. */
  preadInto(target: Buffer, offset: number): number;
  pwrite(data: Buffer, offset: number): void;
  ftruncate(length: number): void;
  /** The lower file's current size in bytes. */
  size(): number;
  /** The lower path, for log lines and errors. */
  readonly lowerPath: string;
  /**
   * Optional: reserves [offset, offset+length) and queues `write` to run just
   * after the kernel has its reply (engine/after-reply.ts); false when the
   * caller must write now. Throws ENOSPC and the like, with nothing changed.
   */
  writeAfterReply?(offset: number, length: number, write: () => void): boolean;
  /**
   * Optional: runs `change` (bookkeeping of the format, not a user's write)
   * and puts the lower file's access and modification times back as they were.
   */
  keepingTimes?(change: () => void): void;
  /** Optional: finishes a queued write (and throws its error) before the file is touched otherwise. */
  settle?(): void;
  /**
   * Optional: the lower file's own SEEK_DATA/SEEK_HOLE from lower offset
   * `offset`; -1 where it says ENXIO (no data at or after it).
   */
  seek?(offset: number, whence: SeekWhence): number;
  /** Optional: allocates [offset, offset+length) of the lower file, its size unchanged (fallocate KEEP_SIZE). */
  reserve?(offset: number, length: number): void;
  /** Optional: frees [offset, offset+length) of the lower file, which then reads as zeros (PUNCH_HOLE). */
  punch?(offset: number, length: number): void;
  /** Optional: a hint that [offset, offset+length) will be read next (the lower read starts now, unwaited). */
  prefetch?(offset: number, length: number): void;
  /**
   * Optional (formats with a write record slot): true when the slot is known
   * to hold no record, false when it may hold one, undefined when nobody has
   * looked. The engine keeps it per lower inode (lower-sizes.ts), so every
   * handle of a file sees what the others did to the slot; the format sets it
   * as it fills and empties the slot (write-journal.ts).
   */
  slotEmpty?: boolean;
  /**
   * Optional: `bytes`, just written at `at`, are now the lower file's last
   * bytes (its final block): kept for the next append, which then needs no
   * read of them (cachedTail). Any other change past `at` forgets them.
   */
  keepTail?(at: number, bytes: Buffer): void;
  /** Optional: fills `into` with the lower file's last `into.length` bytes at `at` if they are kept (keepTail); else false. */
  cachedTail?(at: number, into: Buffer): boolean;
}

export type SeekWhence = 'data' | 'hole';

export interface FileCipher {
  /** Plaintext size of the file whose lower size is `lowerSize`. */
  plaintextSize(lowerSize: number): number;
  /** Reads plaintext [offset, offset+length) clipped at EOF. */
  read(io: LowerIO, offset: number, length: number): Buffer;
  /** Optional fast path: reads plaintext at `offset` into `target`; returns the bytes read. */
  readInto?(io: LowerIO, offset: number, target: Buffer): number;
  /** Writes plaintext at `offset`, extending (and zero-filling) as needed. */
  write(io: LowerIO, offset: number, data: Buffer): void;
  /** Sets the plaintext size (up: zero-filled, authenticated; down: cut). */
  truncate(io: LowerIO, size: number): void;
  /** Key ID of the mount key this file is under (for fsck and status). */
  readonly keyId: string;
  /** Authenticates the whole file (fsck); optional, else fsck reads it all. */
  verify?(io: LowerIO): void;
  /** Optional: the handle closes (its lower file is still open). */
  release?(io: LowerIO): void;
  /** The largest plaintext size the format can hold (larger: EFBIG); optional. */
  readonly maxSize?: number;
  /**
   * SEEK_DATA / SEEK_HOLE from plaintext `offset` (throws ENXIO at or past
   * EOF). Optional: without it the whole file is data.
   */
  seek?(io: LowerIO, offset: number, whence: SeekWhence): number;
  /** fallocate's default mode (grows the file unless keepSize) and KEEP_SIZE; optional (EOPNOTSUPP). */
  allocate?(io: LowerIO, offset: number, length: number, keepSize: boolean): void;
  /** fallocate PUNCH_HOLE|KEEP_SIZE: the range reads as zeros; optional (EOPNOTSUPP). */
  punchHole?(io: LowerIO, offset: number, length: number): void;
}

export interface FileCodec {
  /** True when the plaintext size cannot be told from the lower size alone. */
  readonly sizeNeedsHeader: boolean;
  /** Plaintext size from the lower size (when !sizeNeedsHeader). */
  plaintextSizeOf(lowerSize: number): number;
  /**
   * Plaintext size of a closed file when `sizeNeedsHeader` (eCryptfs keeps the
   * size in the header): reads what it needs from `lowerPath`. Optional.
   */
  plaintextSizeOfFile?(lowerPath: string, lowerSize: number): number;
  /**
   * A new empty file: its lower bytes (at 0, then `tail` at its offset, with
   * a hole between) and its cipher.
   */
  create(): { bytes: Buffer; tail?: { at: number; bytes: Buffer }; cipher: FileCipher };
  /** Authenticates the header of an existing lower file. */
  open(io: LowerIO): FileCipher;
  /** Optional: true when the lower size is one a whole file can have (fsck). */
  wellFormed?(lowerSize: number): boolean;
  /**
   * Optional: open() of a file known to hold no write record, in fewer reads;
   * null when it may hold one (the caller then asks hasPendingWrite, recovers
   * and calls open).
   */
  openAtRest?(io: LowerIO): FileCipher | null;
  /** Optional: true when the file holds a write a crash cut short (one short read when it does not). */
  hasPendingWrite?(io: LowerIO): boolean;
  /** Optional: finishes or undoes a write a crash cut short (`io` writable); true when it did. */
  recover?(io: LowerIO): boolean;
  /** Optional: the file as recover() would leave it, changing nothing (fsck). */
  recoveredView?(io: LowerIO): LowerIO;
}

export interface DirContext {
  /** The lower directory's path relative to the lower root ('' for the root). */
  readonly lowerDir: string;
  /** Reads a sidecar file in this lower directory; null when absent. */
  readSidecar(name: string): Buffer | null;
  /**
   * The directory's IV (formats whose names are bound to their directory,
   * NameCodec.dirState): read once and cached by the engine; throws
   * CorruptFileError when the directory's state file is missing or bad.
   */
  dirIV?(): Buffer;
}

/**
 * Per-directory state of a format whose names are bound to their directory
 * (homecrypt format 2): a file in every lower directory, the root included,
 * made with the directory (under a temporary name first, so a directory never
 * has a name without it) and removed with it.
 */
export interface DirStateCodec {
  /** The state file's name (outside the encrypted-name alphabet; decryptName hides it). */
  readonly fileName: string;
  /** Prefix of a directory being made; decryptName hides such entries, fsck reports them. */
  readonly tempPrefix: string;
  /** A new directory's IV and its state file's content. */
  create(): { iv: Buffer; content: Buffer };
  /** The state file's content for `iv` (what create() gave with it). */
  contentOf(iv: Buffer): Buffer;
  /** The IV in a state file's content (null: missing); throws CorruptFileError. */
  open(content: Buffer | null, where: string): Buffer;
  /**
   * Whether a lower name has the form of a sealed name (a directory whose
   * such names all fail has a state file that is not its own; foreign files
   * dropped in by a sync client do not count).
   */
  looksSealed(lowerName: string): boolean;
}

export interface EncryptedName {
  lowerName: string;
  /** Present when the name needs a sidecar file beside the entry. */
  sidecar?: { name: string; content: Buffer };
}

export interface NameCodec {
  encryptName(name: string, dir: DirContext): EncryptedName;
  decryptName(lowerName: string, dir: DirContext): string | null;
  /** The sidecar that belongs to `lowerName`, if any (to remove with it). */
  sidecarOf(lowerName: string): string | null;
  encryptTarget(target: string): string;
  decryptTarget(lowerTarget: string): string;
  /**
   * The plaintext target's length in bytes from the lower target's length
   * (the lower symlink's size), where the format makes it exact; null for a
   * length none of its targets has. Absent: the engine reads the link, which
   * moves the lower link's atime on a relatime filesystem (pjdfstest
   * utimensat/05 sees a symlink's atime change after a mere lstat).
   */
  targetSize?(lowerTargetLength: number): number | null;
  /** Present when names are bound to their directory (DirContext.dirIV). */
  readonly dirState?: DirStateCodec;
}

export interface XattrCodec {
  /** Lower xattr name for a user xattr name (null: not stored, answer EOPNOTSUPP). */
  encryptXattrName(name: string): string | null;
  /** Plaintext name for a lower xattr name; null when not ours (hidden). */
  decryptXattrName(lowerName: string): string | null;
  encryptXattrValue(lowerName: string, value: Buffer): Buffer;
  decryptXattrValue(lowerName: string, sealed: Buffer): Buffer;
}

export interface VolumeFormat {
  /** For logs and status: 'homecrypt-v1', 'homecrypt-v2', 'ecryptfs', … */
  readonly name: string;
  /** homecrypt volumes: the volume format version (1 or 2); absent for eCryptfs. */
  readonly formatVersion?: 1 | 2;
  readonly names: NameCodec;
  readonly files: FileCodec;
  readonly xattrs?: XattrCodec;
}
