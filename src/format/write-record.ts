// The write record of a format-2 file (docs/FORMAT-FILES.md, "Format 2"): the
// slot between the header and the blocks holds the one record that puts the
// file back (or forward) to a whole state if the write that follows it in
// the file is cut short by a kill. Sealed with the file's content key, so a
// record torn by a kill (or edited) does not authenticate and is ignored:
// the write it announced had not started.
//
//   0   4  magic "HCW2" (zero: no record)
//   4   4  n, the length of the restored bytes
//   8   8  sizeTo: the lower size to set first
//  16   8  restoreAt: where the n bytes go (restoreAt + n <= sizeTo)
//  24   8  doneAt: lower offset where the write's last tag ends
//  32  16  doneTag: that tag (the write finished iff it is there)
//  48  12  nonce
//  60   n  AES-256-GCM(content key, nonce, bytes, AAD = file ID || bytes 0..47)
//  60+n 16 tag
import { blockGcm } from '../crypto/gcm-blocks.js';
import { NONCE_BYTES, NoncePool } from '../crypto/nonce-pool.js';
import { FILE_HEADER_BYTES } from './file-header.js';

export const RECORD_AT = FILE_HEADER_BYTES;
export const RECORD_MAGIC = Buffer.from('HCW2', 'ascii');
export const RECORD_HEAD_BYTES = 60;
export const RECORD_OVERHEAD = RECORD_HEAD_BYTES + 16;

export interface WriteRecord {
  sizeTo: number;
  restoreAt: number;
  bytes: Buffer;
  doneAt: number;
  doneTag: Buffer;
}

/** The most bytes a record holds when the blocks start at `body`. */
export function recordCapacity(body: number): number {
  return body - RECORD_AT - RECORD_OVERHEAD;
}

function putU64(b: Buffer, v: number, at: number): void {
  b.writeUInt32BE(Math.floor(v / 0x100000000), at);
  b.writeUInt32BE(v >>> 0, at + 4);
}

function getU64(b: Buffer, at: number): number {
  return b.readUInt32BE(at) * 0x100000000 + b.readUInt32BE(at + 4);
}

// Records are sealed one at a time on the JS thread: one AAD buffer serves them all.
const AAD = Buffer.alloc(16 + 48);
function aad(fileId: Buffer, head: Buffer): Buffer {
  fileId.copy(AAD, 0, 0, 16);
  head.copy(AAD, 16, 0, 48);
  return AAD;
}

const nonces = new NoncePool();

/**
 * Encodes `r` into `out` (at least RECORD_OVERHEAD + r.bytes.length bytes)
 * and returns the record's length. The nonce is fresh unless given (vectors).
 */
export function encodeWriteRecordInto(out: Buffer, key: Buffer, fileId: Buffer, r: WriteRecord, nonce?: Buffer): number {
  const len = RECORD_OVERHEAD + r.bytes.length;
  if (out.length < len) throw new RangeError('write record buffer too small');
  RECORD_MAGIC.copy(out, 0);
  out.writeUInt32BE(r.bytes.length, 4);
  putU64(out, r.sizeTo, 8);
  putU64(out, r.restoreAt, 16);
  putU64(out, r.doneAt, 24);
  r.doneTag.copy(out, 32, 0, 16);
  if (nonce) nonce.copy(out, 48, 0, NONCE_BYTES);
  else nonces.next(out, 48);
  blockGcm().seal(key, out.subarray(48, 60), aad(fileId, out), r.bytes, out, RECORD_HEAD_BYTES);
  return len;
}

export function encodeWriteRecord(key: Buffer, fileId: Buffer, r: WriteRecord, nonce?: Buffer): Buffer {
  const out = Buffer.alloc(RECORD_OVERHEAD + r.bytes.length);
  encodeWriteRecordInto(out, key, fileId, r, nonce);
  return out;
}

/** Length of the whole record whose first RECORD_HEAD_BYTES are `head`; 0 when there is none. */
export function writeRecordLength(head: Buffer, capacity: number): number {
  if (head.length < RECORD_HEAD_BYTES || !head.subarray(0, 4).equals(RECORD_MAGIC)) return 0;
  const n = head.readUInt32BE(4);
  return n > capacity ? 0 : RECORD_OVERHEAD + n;
}

/** The record in `buf`, or null when it is absent, torn, or not this file's. */
export function openWriteRecord(key: Buffer, fileId: Buffer, buf: Buffer, body: number): WriteRecord | null {
  const len = writeRecordLength(buf, recordCapacity(body));
  if (len === 0 || buf.length < len) return null;
  const n = len - RECORD_OVERHEAD;
  const bytes = Buffer.alloc(n);
  const ok = blockGcm().open(
    key,
    buf.subarray(48, 60),
    aad(fileId, buf),
    buf.subarray(RECORD_HEAD_BYTES, RECORD_HEAD_BYTES + n),
    buf.subarray(RECORD_HEAD_BYTES + n, len),
    bytes,
    0,
  );
  if (!ok) return null;
  const r = { sizeTo: getU64(buf, 8), restoreAt: getU64(buf, 16), bytes, doneAt: getU64(buf, 24), doneTag: Buffer.from(buf.subarray(32, 48)) };
  // an authentic record always has this shape: anything else is not ours to apply
  if (r.restoreAt < body || r.restoreAt + n > r.sizeTo || r.doneAt < body + 16) return null;
  return r;
}
