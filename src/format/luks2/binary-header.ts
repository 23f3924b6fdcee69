// The 4096-byte binary header that starts each of the two LUKS2 header copies,
// and the checksum over the copy (binary header + JSON area). Big-endian fields:
//   0 magic[6] | 6 version u16 | 8 hdr_size u64 | 16 seqid u64 | 24 label[48]
//   72 checksum_alg[32] | 104 salt[64] | 168 uuid[40] | 208 subsystem[48]
//   256 hdr_offset u64 | 264 padding[184] | 448 csum[64] | 512 padding[3584]
import { createHash } from 'node:crypto';
import { BINARY_HEADER_BYTES, LUKS2_VERSION, MAGIC_PRIMARY, MAGIC_SECONDARY, VALID_HEADER_SIZES } from './layout.js';

export interface BinaryHeader {
  kind: 'primary' | 'secondary';
  hdrSize: number;
  seqid: bigint;
  label: string;
  checksumAlg: string;
  salt: Buffer;
  uuid: string;
  subsystem: string;
  hdrOffset: number;
  checksum: Buffer;
}

const OFF = {
  magic: 0,
  version: 6,
  hdrSize: 8,
  seqid: 16,
  label: 24,
  csumAlg: 72,
  salt: 104,
  uuid: 168,
  subsystem: 208,
  hdrOffset: 256,
  csum: 448,
} as const;
const LEN = { label: 48, csumAlg: 32, salt: 64, uuid: 40, subsystem: 48, csum: 64 } as const;

/** Why a copy was rejected; the volume reader reports it per copy. */
export class HeaderCopyError extends Error {}

function cString(buf: Buffer, off: number, len: number, field: string): string {
  const raw = buf.subarray(off, off + len);
  const nul = raw.indexOf(0);
  if (nul < 0) throw new HeaderCopyError(`${field} is not NUL-terminated`);
  const s = raw.subarray(0, nul).toString('latin1');
  if (!/^[\x20-\x7e]*$/.test(s)) throw new HeaderCopyError(`${field} holds non-printable bytes`);
  return s;
}

function putCString(buf: Buffer, off: number, len: number, s: string, field: string): void {
  const b = Buffer.from(s, 'latin1');
  if (b.length >= len) throw new RangeError(`${field} longer than ${len - 1} bytes`);
  buf.fill(0, off, off + len);
  b.copy(buf, off);
}

/** Parses the fixed fields of one copy; does not check the checksum. */
export function parseBinaryHeader(buf: Buffer): BinaryHeader {
  if (buf.length < BINARY_HEADER_BYTES) throw new HeaderCopyError('truncated binary header');
  const magic = buf.subarray(0, 6);
  let kind: BinaryHeader['kind'];
  if (magic.equals(MAGIC_PRIMARY)) kind = 'primary';
  else if (magic.equals(MAGIC_SECONDARY)) kind = 'secondary';
  else throw new HeaderCopyError('no LUKS magic');
  const version = buf.readUInt16BE(OFF.version);
  if (version !== LUKS2_VERSION) throw new HeaderCopyError(`LUKS version ${version}, not 2`);
  const hdrSize = buf.readBigUInt64BE(OFF.hdrSize);
  if (!VALID_HEADER_SIZES.includes(Number(hdrSize))) throw new HeaderCopyError(`invalid header size ${hdrSize}`);
  const hdrOffset = buf.readBigUInt64BE(OFF.hdrOffset);
  if (hdrOffset > BigInt(Number.MAX_SAFE_INTEGER)) throw new HeaderCopyError('header offset out of range');
  return {
    kind,
    hdrSize: Number(hdrSize),
    seqid: buf.readBigUInt64BE(OFF.seqid),
    label: cString(buf, OFF.label, LEN.label, 'label'),
    checksumAlg: cString(buf, OFF.csumAlg, LEN.csumAlg, 'checksum algorithm'),
    salt: Buffer.from(buf.subarray(OFF.salt, OFF.salt + LEN.salt)),
    uuid: cString(buf, OFF.uuid, LEN.uuid, 'uuid'),
    subsystem: cString(buf, OFF.subsystem, LEN.subsystem, 'subsystem'),
    hdrOffset: Number(hdrOffset),
    checksum: Buffer.from(buf.subarray(OFF.csum, OFF.csum + LEN.csum)),
  };
}

const CHECKSUM_ALGS: Record<string, number> = { sha256: 32, sha512: 64, sha1: 20 };

/** The checksum of one whole copy (hdrSize bytes) with its csum field zeroed. */
export function computeChecksum(copy: Buffer, alg: string): Buffer {
  const len = CHECKSUM_ALGS[alg];
  if (!len) throw new HeaderCopyError(`unsupported checksum algorithm '${alg}'`);
  const h = createHash(alg);
  h.update(copy.subarray(0, OFF.csum));
  h.update(Buffer.alloc(LEN.csum));
  h.update(copy.subarray(OFF.csum + LEN.csum));
  const out = Buffer.alloc(LEN.csum);
  h.digest().copy(out);
  return out;
}

/** Serializes a binary header into the first 4096 bytes of `copy` and fills its checksum. */
export function writeBinaryHeader(copy: Buffer, h: Omit<BinaryHeader, 'checksum'>): void {
  copy.fill(0, 0, BINARY_HEADER_BYTES);
  (h.kind === 'primary' ? MAGIC_PRIMARY : MAGIC_SECONDARY).copy(copy, OFF.magic);
  copy.writeUInt16BE(LUKS2_VERSION, OFF.version);
  copy.writeBigUInt64BE(BigInt(h.hdrSize), OFF.hdrSize);
  copy.writeBigUInt64BE(h.seqid, OFF.seqid);
  putCString(copy, OFF.label, LEN.label, h.label, 'label');
  putCString(copy, OFF.csumAlg, LEN.csumAlg, h.checksumAlg, 'checksum algorithm');
  if (h.salt.length !== LEN.salt) throw new RangeError('header salt must be 64 bytes');
  h.salt.copy(copy, OFF.salt);
  putCString(copy, OFF.uuid, LEN.uuid, h.uuid, 'uuid');
  putCString(copy, OFF.subsystem, LEN.subsystem, h.subsystem, 'subsystem');
  copy.writeBigUInt64BE(BigInt(h.hdrOffset), OFF.hdrOffset);
  computeChecksum(copy, h.checksumAlg).copy(copy, OFF.csum);
}
