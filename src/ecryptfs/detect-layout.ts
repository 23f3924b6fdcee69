// What an eCryptfs lower directory was mounted with, told from its contents
// alone: encrypted names or not (the FNEK prefix), the cipher key size (the
// tag 3 cipher code in file headers), the filename key's size and signature
// (the tag 70 packet), and the file key signatures in use. Paths go to Node by
// their bytes (format/name-bytes.ts), so a plaintext name that is not UTF-8
// is looked at too.
import { closeSync, constants as fsc, fstatSync, lstatSync, openSync, readSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bytesOfName, nameFromBytes } from '../format/name-bytes.js';
import { type AesKeyBytes, FNEK_PREFIX, keyBytesForCipherCode } from '../format/ecryptfs/constants.js';
import { decodeFromFilename } from '../format/ecryptfs/filename.js';
import { HEADER_READ_BYTES, parseFileHeader } from '../format/ecryptfs/ecryptfs-header.js';
import { decodePacketLength } from '../format/ecryptfs/packet-length.js';

export interface LowerLayout {
  /** null when no entry tells (an empty lower directory) */
  encryptedNames: boolean | null;
  keyBytes: AesKeyBytes | null;
  fnekKeyBytes: AesKeyBytes | null;
  fnekSig: string | null;
  fileKeySigs: string[];
}

// root runs this on a user's lower (adopt, migrate): an entry swapped after
// its lstat for a link, a fifo or a device is not followed, waited on or read
const HEAD_FLAGS = fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;

function readHead(path: string): Buffer | null {
  try {
    const fd = openSync(bytesOfName(path), HEAD_FLAGS);
    try {
      if (!fstatSync(fd).isFile()) return null;
      const b = Buffer.alloc(HEADER_READ_BYTES);
      return b.subarray(0, readSync(fd, b, 0, b.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}

/** Looks at up to `limit` entries, breadth first. */
export function detectLayout(lower: string, limit = 200): LowerLayout {
  const out: LowerLayout = { encryptedNames: null, keyBytes: null, fnekKeyBytes: null, fnekSig: null, fileKeySigs: [] };
  const queue = [lower];
  let seen = 0;
  while (queue.length && seen < limit) {
    const dir = queue.shift()!;
    let names: string[];
    try {
      names = readdirSync(bytesOfName(dir), { encoding: 'buffer' }).map(nameFromBytes);
    } catch {
      continue;
    }
    for (const name of names) {
      if (++seen > limit) break;
      const enc = name.startsWith(FNEK_PREFIX);
      if (enc) {
        out.encryptedNames = true;
        if (!out.fnekSig) {
          const p = decodeFromFilename(name.slice(FNEK_PREFIX.length));
          const len = p && p[0] === 0x46 ? decodePacketLength(p, 1) : null;
          if (p && len && p.length >= 1 + len.size + 9) {
            out.fnekSig = p.subarray(1 + len.size, 1 + len.size + 8).toString('hex');
            out.fnekKeyBytes = keyBytesForCipherCode(p[1 + len.size + 8]);
          }
        }
      }
      const path = join(dir, name);
      let st;
      try {
        st = lstatSync(bytesOfName(path));
      } catch {
        continue;
      }
      if (st.isDirectory()) queue.push(path);
      else if (st.isFile() && st.size > 0) {
        const head = readHead(path);
        if (!head) continue;
        try {
          const h = parseFileHeader(head, path);
          if (out.encryptedNames === null) out.encryptedNames = enc;
          for (const k of h.keys) {
            if (!out.fileKeySigs.includes(k.sig)) out.fileKeySigs.push(k.sig);
            out.keyBytes ??= k.keyBytes;
          }
        } catch {
          /* not an eCryptfs file: no evidence */
        }
      }
    }
  }
  return out;
}
