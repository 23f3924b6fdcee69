// Helpers for the format-2 name tests: find the lower entry of a mount path,
// run fsck through the CLI, and take a snapshot of a mounted tree.
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { hc, PASS } from '../engine/volume-helper.js';

/**
 * The lower path of mount path `rel` ('a/x'): the engine reports lower inode
 * numbers, so each component is the lower entry with its inode.
 */
export function lowerOf(lower: string, mnt: string, rel: string): string {
  let at = lower;
  let plain = mnt;
  for (const part of rel.split('/')) {
    plain = join(plain, part);
    const ino = lstatSync(plain).ino;
    const hit = readdirSync(at).find((n) => lstatSync(join(at, n)).ino === ino);
    if (!hit) throw new Error(`no lower entry for ${plain}`);
    at = join(at, hit);
  }
  return at;
}

export interface FsckJson {
  ok: boolean;
  files: number;
  dirs: number;
  problems: { lowerPath: string; path?: string; problem: string }[];
}

export function fsck(lower: string): FsckJson {
  const r = hc(['fsck', lower, '--passphrase-fd', '0', '--json'], `${PASS}\n`);
  if (r.code !== 0 && r.code !== 1) throw new Error(`fsck failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as FsckJson;
}

/** Every path of a mounted tree with its type and content hash (or target). */
export function snapshot(mnt: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string) => {
    for (const n of readdirSync(dir).sort()) {
      const p = join(dir, n);
      const r = rel ? `${rel}/${n}` : n;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out[r] = `dir ${(st.mode & 0o7777).toString(8)}`;
        walk(p, r);
      } else if (st.isSymbolicLink()) out[r] = `link ${readlinkSync(p)}`;
      else out[r] = `file ${(st.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk(mnt, '');
  return out;
}

/** The errno code a call fails with ('' when it succeeds). */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
    return '';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}
