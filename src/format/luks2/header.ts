// One LUKS2 header copy = binary header + JSON area (hdr_size bytes), and the
// choice between the two copies: both valid → the higher seqid; one valid →
// that one (the caller warns and may repair); none → a clear error naming why
// each copy was rejected.
import { BINARY_HEADER_BYTES } from './layout.js';
import { HeaderCopyError, computeChecksum, parseBinaryHeader, writeBinaryHeader, type BinaryHeader } from './binary-header.js';
import { MetadataError, parseJsonArea, serializeMetadata, type Metadata } from './metadata.js';
import { secretsEqual } from '../../crypto/constant-time.js';

export interface HeaderCopy {
  binary: BinaryHeader;
  metadata: Metadata;
}

/** Parses and verifies a whole copy found at byte `offset` of the device. */
export function parseHeaderCopy(copy: Buffer, offset: number): HeaderCopy {
  const binary = parseBinaryHeader(copy);
  if (copy.length < binary.hdrSize) throw new HeaderCopyError('truncated header copy');
  const whole = copy.subarray(0, binary.hdrSize);
  if (binary.hdrOffset !== offset) throw new HeaderCopyError(`header says it is at ${binary.hdrOffset}, found at ${offset}`);
  if ((offset === 0) !== (binary.kind === 'primary')) throw new HeaderCopyError(`${binary.kind} magic at offset ${offset}`);
  const want = computeChecksum(whole, binary.checksumAlg);
  if (!secretsEqual(want, binary.checksum)) throw new HeaderCopyError('checksum mismatch');
  let metadata: Metadata;
  try {
    metadata = parseJsonArea(whole.subarray(BINARY_HEADER_BYTES), binary.hdrSize);
  } catch (e) {
    if (e instanceof MetadataError) throw new HeaderCopyError(`metadata: ${e.message}`);
    throw e;
  }
  return { binary, metadata };
}

export type CopyResult = { ok: true; copy: HeaderCopy } | { ok: false; reason: string };

export function tryParseHeaderCopy(copy: Buffer | null, offset: number): CopyResult {
  if (!copy) return { ok: false, reason: 'not found' };
  try {
    return { ok: true, copy: parseHeaderCopy(copy, offset) };
  } catch (e) {
    if (e instanceof HeaderCopyError) return { ok: false, reason: e.message };
    throw e;
  }
}

export interface ChosenHeader {
  header: HeaderCopy;
  /** which copies need rewriting, and why (empty when both are good and equal) */
  damaged: { which: 'primary' | 'secondary'; reason: string }[];
}

/** Returns null when neither copy is usable. */
export function chooseHeader(primary: CopyResult, secondary: CopyResult): ChosenHeader | null {
  if (primary.ok && secondary.ok) {
    const p = primary.copy.binary.seqid;
    const s = secondary.copy.binary.seqid;
    if (p === s) return { header: primary.copy, damaged: [] };
    return p > s
      ? { header: primary.copy, damaged: [{ which: 'secondary', reason: 'older than the primary (interrupted update)' }] }
      : { header: secondary.copy, damaged: [{ which: 'primary', reason: 'older than the secondary (interrupted update)' }] };
  }
  if (primary.ok) return { header: primary.copy, damaged: [{ which: 'secondary', reason: (secondary as { reason: string }).reason }] };
  if (secondary.ok) return { header: secondary.copy, damaged: [{ which: 'primary', reason: (primary as { reason: string }).reason }] };
  return null;
}

/** Both copies of a header with `metadata`, sequence number `seqid`. */
export function buildHeaderCopies(
  base: Omit<BinaryHeader, 'kind' | 'checksum' | 'hdrOffset' | 'seqid'>,
  metadata: Metadata,
  seqid: bigint,
): { primary: Buffer; secondary: Buffer } {
  const json = serializeMetadata(metadata);
  const make = (kind: 'primary' | 'secondary'): Buffer => {
    const buf = Buffer.alloc(base.hdrSize);
    json.copy(buf, BINARY_HEADER_BYTES);
    writeBinaryHeader(buf, { ...base, kind, seqid, hdrOffset: kind === 'primary' ? 0 : base.hdrSize });
    return buf;
  };
  return { primary: make('primary'), secondary: make('secondary') };
}
