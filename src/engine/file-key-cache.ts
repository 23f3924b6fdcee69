// The content keys of file headers already authenticated while the volume is
// mounted, so that opening a file again does not unwrap its key again (an
// AES-GCM open under the mount key's wrap key per OPEN: `git add` reads every
// file, then `git status` and a build read them again).
//
// Why it is safe (docs/SECURITY.md, "Keys held while mounted"): an entry is
// found only for a header byte for byte equal to one whose unwrap succeeded,
// and those 92 bytes are every input of the unwrap (magic, version, flags,
// file ID, key ID, wrap nonce, wrapped key and its tag; the wrap key is the
// one the key ID names, looked up again at each open). The unwrap is a
// function of them, so the cache returns exactly what it would, and a header
// that differs in any bit (edited, rolled back to another wrap, a sparse flag
// set) misses and is authenticated afresh. Nothing is keyed on the lower
// inode or path, which an attacker who can write the lower directory
// controls. The keys held are ones the daemon could unwrap again at any time
// with the wrap key it holds anyway.
import { FILE_HEADER_BYTES, FILE_ID_BYTES } from '../format/file-header.js';

/** Headers kept (each ~200 bytes with its key and the map's entry); then the cache starts over. */
const LIMIT = 8192;

interface Entry {
  /** The whole authenticated header. */
  header: Buffer;
  keyId: string;
  fileId: Buffer;
  contentKey: Buffer;
}

export interface OpenedKey {
  keyId: string;
  fileId: Buffer;
  contentKey: Buffer;
}

export class FileKeyCache {
  private readonly byFileId = new Map<string, Entry>();

  constructor(private readonly limit = LIMIT) {}

  /** The key of `header` (its first 92 bytes) if the same bytes were authenticated before; else null. */
  get(header: Buffer): OpenedKey | null {
    if (header.length < FILE_HEADER_BYTES) return null;
    const e = this.byFileId.get(header.toString('latin1', 8, 8 + FILE_ID_BYTES));
    if (!e || !e.header.equals(header.subarray(0, FILE_HEADER_BYTES))) return null;
    return e;
  }

  /** Remembers the key `header` was just authenticated to wrap (a header of the same file ID before it is replaced). */
  set(header: Buffer, key: OpenedKey): void {
    if (header.length < FILE_HEADER_BYTES) return;
    if (this.byFileId.size >= this.limit) this.byFileId.clear();
    this.byFileId.set(header.toString('latin1', 8, 8 + FILE_ID_BYTES), {
      header: Buffer.from(header.subarray(0, FILE_HEADER_BYTES)),
      keyId: key.keyId,
      fileId: key.fileId,
      contentKey: key.contentKey,
    });
  }

  /** Headers held (for tests). */
  get size(): number {
    return this.byFileId.size;
  }
}
