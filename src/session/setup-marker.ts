// The marker a setup writes beside the records (root's, 0600) before it makes
// anything, and removes once the user's record exists: a setup stopped at
// once (a second Ctrl-C, a crash, SIGKILL) leaves it, and it says what that
// setup made, so a rerun and `doctor` can tell its leftovers from what
// someone else put there. What it names per mode: setup-leftover.ts (--home:
// the folder in /home/.homecrypt by inode), private-leftover.ts (--private:
// the key store by its hash, the volume by its key ID, which folders it made).
import { lstatSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../os/atomic-file.js';
import { isValidUserName } from '../os/users.js';
import { recordDir } from './user-record.js';

export interface HomeSetupMarker {
  user: string;
  uid: number;
  base: string;
  /** the folder's inode, once made; absent while it is being made */
  dev?: string;
  ino?: string;
}

export interface PrivateSetupMarker {
  user: string;
  uid: number;
  mode: 'private';
  /** the home the layout was taken from (an account moved since names other paths) */
  home: string;
  /** the mount key's ID: the volume config it writes names it */
  keyId: string;
  /** sha256 (hex) of the key store bytes it writes */
  keyStoreSha256: string;
  /** whether ~/.homecrypt and ~/Private were absent, so setup makes them */
  madeKeyDir: boolean;
  madeMountPoint: boolean;
}

export type SetupMarker = HomeSetupMarker | PrivateSetupMarker;

const SUFFIX = '.setup-marker';

export function setupMarkerPath(user: string): string {
  if (!isValidUserName(user)) throw new RangeError(`not a valid user name: ${user}`);
  // no ".json": record listings never take it for a user's record
  return join(recordDir(), `${user}${SUFFIX}`);
}

export function writeMarker(marker: SetupMarker): void {
  mkdirSync(recordDir(), { recursive: true, mode: 0o755 }); // the first user's setup comes before any record
  writeFileAtomic(setupMarkerPath(marker.user), Buffer.from(`${JSON.stringify(marker)}\n`), { mode: 0o600 });
}

/** The marker, and the temp file of a write a crash cut short (root's folder: names are safe here). */
export function removeSetupMarker(user: string): void {
  const file = setupMarkerPath(user);
  let temps: string[] = [];
  try {
    temps = readdirSync(dirname(file)).filter((n) => n.startsWith(`.${basename(file)}.tmp-`));
  } catch {
    /* no record folder: no marker either */
  }
  for (const path of [file, ...temps.map((n) => join(dirname(file), n))]) {
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  }
}

const isString = (v: unknown): v is string => typeof v === 'string';

function isHomeMarker(m: Record<string, unknown>): boolean {
  return m.mode === undefined && isString(m.base) && ((m.dev === undefined && m.ino === undefined) || (isString(m.dev) && isString(m.ino)));
}

function isPrivateMarker(m: Record<string, unknown>): boolean {
  return (
    m.mode === 'private' &&
    isString(m.home) &&
    isString(m.keyId) &&
    isString(m.keyStoreSha256) &&
    /^[0-9a-f]{64}$/.test(m.keyStoreSha256) &&
    typeof m.madeKeyDir === 'boolean' &&
    typeof m.madeMountPoint === 'boolean'
  );
}

/** The marker of `user`, or null when there is none (or it is not root's, or not of a shape written here). */
export function readSetupMarker(user: string): SetupMarker | null {
  const file = setupMarkerPath(user);
  try {
    const st = lstatSync(file);
    if (!st.isFile() || st.uid !== 0 || (st.mode & 0o022) !== 0) return null;
    const m = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return null;
    const o = m as Record<string, unknown>;
    if (o.user !== user || typeof o.uid !== 'number') return null;
    return isHomeMarker(o) || isPrivateMarker(o) ? (o as unknown as SetupMarker) : null;
  } catch {
    return null;
  }
}

export function isPrivateSetupMarker(m: SetupMarker | null): m is PrivateSetupMarker {
  return (m as PrivateSetupMarker | null)?.mode === 'private';
}

/** The users with a marker in the record folder. */
export function setupMarkerUsers(): string[] {
  let names: string[];
  try {
    names = readdirSync(recordDir());
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith(SUFFIX))
    .map((n) => n.slice(0, -SUFFIX.length))
    .filter(isValidUserName)
    .sort();
}
