// eCryptfs' OpenPGP-style packet lengths: one octet below 192, two octets up to
// 8383; five-octet lengths (0xff) are refused by the kernel, and so here.

export interface DecodedLength {
  length: number;
  size: number;
}

/** Returns null when the length octets are malformed or run past `end`. */
export function decodePacketLength(buf: Buffer, off: number, end = buf.length): DecodedLength | null {
  if (off >= end) return null;
  const b0 = buf[off];
  if (b0 < 192) return { length: b0, size: 1 };
  if (b0 < 224) {
    if (off + 1 >= end) return null;
    return { length: (b0 - 192) * 256 + buf[off + 1] + 192, size: 2 };
  }
  return null;
}

export function encodePacketLength(length: number): Buffer {
  if (length < 0) throw new RangeError('negative packet length');
  if (length < 192) return Buffer.from([length]);
  // the kernel writes two octets for anything below 65536, but only values up to
  // 8383 round-trip through its own parser; nothing eCryptfs writes comes close
  if (length <= 8383) return Buffer.from([Math.floor((length - 192) / 256) + 192, (length - 192) % 256]);
  throw new RangeError(`packet length ${length} not representable`);
}
