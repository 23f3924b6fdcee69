// Reads a whole fixture tree through the engine's operations (no mount):
// each path's type and the sha256 and size of files, or a symlink's target.
import { createHash } from 'node:crypto';
import type { EncryptedFilesystem } from '../../src/engine/filesystem.js';

export type DecodedEntry = { type: string; sha256?: string; size?: number; target?: string };

export function decodeTree(fs: EncryptedFilesystem): Record<string, DecodedEntry> {
  const seen: Record<string, DecodedEntry> = {};
  const walk = (p: string) => {
    for (const { name } of fs.readdir(p)) {
      if (name === '.' || name === '..') continue;
      const child = p === '/' ? `/${name}` : `${p}/${name}`;
      const st = fs.getattr(child);
      const type = st.mode & 0o170000;
      if (type === 0o040000) {
        seen[child] = { type: 'dir' };
        walk(child);
      } else if (type === 0o120000) seen[child] = { type: 'symlink', target: fs.readlink(child) };
      else {
        const fh = fs.open(child, 0);
        const buf = Buffer.alloc(st.size + 10);
        const n = fs.read(child, fh, buf, 0);
        fs.release(child, fh);
        if (n !== st.size) throw new Error(`${child}: read ${n} bytes of ${st.size}`);
        seen[child] = { type: 'file', sha256: createHash('sha256').update(buf.subarray(0, n)).digest('hex'), size: n };
      }
    }
  };
  walk('/');
  return seen;
}
