// What a --home setup stopped at once (a second Ctrl-C, a crash) can leave:
// /home/.homecrypt/U with a key store and an empty volume but no record yet,
// and a recovery key nobody saw. Setup writes a marker first, root's file
// beside the records naming that folder by inode, and removes it once the
// record exists. A rerun removes the folder only when the marker names it and
// it holds nothing but what setup makes before the home is touched; any other
// folder there may be the only copy of someone's data (an account forgotten
// with setup --forget) and is left alone, unless it is empty (removeIfEmpty:
// what a run killed before it wrote anything there leaves).
import { closeSync, lstatSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { openDirAt, openTrustedDir, readdirFd, rmdirAt, withFd } from '../os/dir-fd.js';
import { isPrivateSetupMarker, readSetupMarker, writeMarker } from './setup-marker.js';

function inodeOf(path: string): { dev: string; ino: string } {
  const st = lstatSync(path, { bigint: true });
  return { dev: st.dev.toString(), ino: st.ino.toString() };
}

/**
 * Before setup makes `base` (found absent; only root can make it), then again
 * right after with its inode: so a crash between the two still names it.
 */
export function writeSetupMarker(user: { name: string; uid: number }, base: string, made: boolean): void {
  writeMarker({ user: user.name, uid: user.uid, base, ...(made ? inodeOf(base) : {}) });
}

// ecryptfs migrate's journal (session/ecryptfs/migrate-home.ts), written before its record
const ECRYPTFS_JOURNAL = 'ecryptfs-migration.json';
// what setup writes before the record: the key store, the volume's config and root IV, their temp files
const FRESH_TOP = new Set(['homecrypt.keys', 'lower']);
const FRESH_LOWER = new Set(['homecrypt.conf', 'homecrypt.diriv']);
const TEMP = /^\.(homecrypt\.(?:keys|conf|diriv))\.tmp-[0-9a-f]+$/;
const isTempOf = (name: string, names: Set<string>) => names.has(TEMP.exec(name)?.[1] ?? '');

function isDirAt(fd: number, name: string): boolean {
  try {
    closeSync(openDirAt(fd, name));
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || code === 'ELOOP') return false;
    throw err;
  }
}

/** Names in `base` beyond what setup makes before the record, read by descriptor (the folder is the user's). */
function unexpectedEntries(base: string): string[] {
  return withFd(openTrustedDir(dirname(base)), (rfd) =>
    withFd(openDirAt(rfd, basename(base), base), (bfd) => {
      const odd: string[] = [];
      for (const name of readdirFd(bfd)) {
        if (name === 'lower' && isDirAt(bfd, name)) {
          withFd(openDirAt(bfd, name, `${base}/lower`), (lfd) => {
            for (const n of readdirFd(lfd)) if ((!FRESH_LOWER.has(n) && !isTempOf(n, FRESH_LOWER)) || isDirAt(lfd, n)) odd.push(`lower/${n}`);
          });
        } else if ((!FRESH_TOP.has(name) && !isTempOf(name, FRESH_TOP)) || name === 'lower' || isDirAt(bfd, name)) {
          odd.push(name);
        }
      }
      return odd;
    }),
  );
}

export type Leftover = { kind: 'own' } | { kind: 'ecryptfs-migration' } | { kind: 'unknown'; why: string };

/**
 * What `base` (there, with no record naming it) is: what an interrupted setup
 * of `user` left before the home was touched (then it holds no data), the
 * start of an eCryptfs migration (its journal), or unknown.
 */
export function judgeLeftover(user: { name: string; uid: number } | null, base: string): Leftover {
  const odd = unexpectedEntries(base);
  if (odd.includes(ECRYPTFS_JOURNAL)) return { kind: 'ecryptfs-migration' };
  const found = user ? readSetupMarker(user.name) : null;
  const m = found && !isPrivateSetupMarker(found) ? found : null;
  if (!m || m.uid !== user!.uid || m.base !== base) return { kind: 'unknown', why: 'no interrupted setup of this account made it' };
  const now = inodeOf(base);
  if (m.ino !== undefined && (now.dev !== m.dev || now.ino !== m.ino)) return { kind: 'unknown', why: 'it is not the folder the interrupted setup made' };
  if (odd.length)
    return { kind: 'unknown', why: `it holds more than an interrupted setup leaves: ${odd.slice(0, 5).join(', ')}${odd.length > 5 ? ', …' : ''}` };
  return { kind: 'own' };
}

/**
 * `base` removed if it is an empty folder: what a run killed between making
 * it and writing anything in it leaves (setup --home before its marker names
 * the inode, ecryptfs migrate before its journal). Only root makes entries in
 * /home/.homecrypt, and an empty folder holds nobody's data. rmdir by
 * descriptor: a symlink or a folder with anything in it is left as it is.
 */
export function removeIfEmpty(base: string): boolean {
  return withFd(openTrustedDir(dirname(base)), (rfd) => {
    try {
      rmdirAt(rfd, basename(base), base);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') return false;
      throw err;
    }
  });
}

/** What setup and migrate say when removeIfEmpty took `base`. */
export const removedEmptyNote = (base: string): string => `removed the empty ${base}, left by a run stopped before it wrote anything there`;
