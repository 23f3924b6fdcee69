// A file name or path as a `const char *` argument of a libc call. koffi
// writes a JS string as UTF-8 and turns a lone surrogate into U+FFFD, so a
// name that carries bytes that are not UTF-8 (each one a lone surrogate,
// src/format/name-bytes.ts) would reach the kernel as another name: such a
// name goes as its very bytes, NUL-terminated. Any other string goes as it is
// (koffi's own conversion, no allocation), which is every name of a volume
// whose names are UTF-8 or encrypted.
import { bytesOfName, hasEscapedBytes } from '../format/name-bytes.js';

const NUL = Buffer.of(0);

export function cName(s: string): string | Buffer {
  return hasEscapedBytes(s) ? Buffer.concat([bytesOfName(s), NUL]) : s;
}
