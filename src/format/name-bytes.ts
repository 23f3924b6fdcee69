// Linux file names are bytes, not text; inside homecrypt a name travels as a
// JS string. A name that is valid UTF-8 is its decoded text; each byte of one
// that is not becomes the lone surrogate U+DC80..U+DCFF ("surrogateescape",
// as Python does). Valid UTF-8 never decodes to a lone surrogate, so the
// mapping is one-to-one and every name comes back byte-exact.

/** Length of the valid UTF-8 sequence at b[i], or 0 if there is none. */
function sequenceAt(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  let n: number;
  let min: number;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    min = 0x10000;
  } else return 0;
  if (i + n > b.length) return 0;
  let cp = c & (0xff >> (n + 1));
  for (let k = 1; k < n; k++) {
    const x = b[i + k]!;
    if ((x & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (x & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

/** The string for name bytes `b` (see above). */
export function nameFromBytes(b: Buffer): string {
  const s = b.toString('utf8');
  if (!s.includes('\ufffd')) return s;
  let out = '';
  for (let i = 0; i < b.length;) {
    const n = sequenceAt(b, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + b[i]!);
      i++;
    } else {
      out += b.toString('utf8', i, i + n);
      i += n;
    }
  }
  return out;
}

const SURROGATE = /[\ud800-\udfff]/;

/** The bytes of name `s` (the inverse of nameFromBytes). */
export function bytesOfName(s: string): Buffer {
  if (!SURROGATE.test(s)) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc80 || c > 0xdcff) continue;
    // an escaped byte (a low surrogate after a high one would be a pair, but
    // U+DC80..U+DCFF after a high surrogate does not come from nameFromBytes)
    if (i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff) continue;
    parts.push(Buffer.from(s.slice(run, i), 'utf8'), Buffer.of(c - 0xdc00));
    run = i + 1;
  }
  parts.push(Buffer.from(s.slice(run), 'utf8'));
  return Buffer.concat(parts);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether `s` stands for bytes that are not UTF-8 (a UTF-8 path string cannot carry it). */
export function hasEscapedBytes(s: string): boolean {
  return SURROGATE.test(s) && LONE_SURROGATE.test(s);
}
