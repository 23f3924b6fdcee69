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

/**
 * Held as strings and a key of its own: no Buffer of the caller's (a
 * read's scratch, a pooled slice) is kept. A small slice of Node's Buffer
 * pool keeps its whole 8 KiB chunk alive, so entries made of such slices
 * pinned a chunk for nearly every file a pass opened (md5 of 4,409 files:
 * 0.8 MB of pool and 2.3 MB of heap more; docs/BENCHMARKS.md, "Session 8:
 * md5 row").
 */
interface Entry {
  /** The whole authenticated header, its bytes as latin1 characters. */
  header: string;
  keyId: string;
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
    const id = header.toString('latin1', 8, 8 + FILE_ID_BYTES);
    const e = this.byFileId.get(id);
    if (!e || e.header !== header.toString('latin1', 0, FILE_HEADER_BYTES)) return null;
    return { keyId: e.keyId, fileId: Buffer.from(id, 'latin1'), contentKey: e.contentKey };
  }

  /** Remembers the key `header` was just authenticated to wrap (a header of the same file ID before it is replaced). */
  set(header: Buffer, key: OpenedKey): void {
    if (header.length < FILE_HEADER_BYTES) return;
    if (this.byFileId.size >= this.limit) this.byFileId.clear();
    const contentKey = Buffer.alloc(key.contentKey.length);
    key.contentKey.copy(contentKey);
    this.byFileId.set(header.toString('latin1', 8, 8 + FILE_ID_BYTES), {
      header: header.toString('latin1', 0, FILE_HEADER_BYTES),
      keyId: key.keyId,
      contentKey,
    });
  }

  /** Headers held (for tests). */
  get size(): number {
    return this.byFileId.size;
  }
}
