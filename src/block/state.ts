// What is open: one small JSON record per open volume under
// /run/homecrypt/block/ (0700, records 0600), written atomically. `close`,
// `status` and stale-mount cleanup after a crash read them. A record is written
// before anything is opened (`opening` names the process doing it), so an open
// that was interrupted or killed leaves something `close` and `open` find.
// Opens take the directory's lock (.lock) while they check and record.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../os/atomic-file.js';
import { RefusedError, UsageError } from '../errors.js';
import { withFileLock } from '../os/flock.js';
import { processStartTime } from '../os/processes.js';

export const STATE_VERSION = 1;

export interface OpenVolumeRecord {
  version: number;
  name: string;
  backend: 'userspace' | 'dm-crypt';
  /** the image or device, as a real path */
  source: string;
  uuid: string;
  /** the block device holding the plaintext: /dev/loopN or /dev/mapper/NAME */
  device: string;
  mountpoint: string | null;
  /** userspace: the engine daemon's pid and its FUSE mount */
  pid?: number;
  fuseDir?: string;
  openedAt: string;
  /** the source's identity when it was opened (Device deviceIdentity) */
  identity?: string[];
  /** while the open is under way: the process doing it (pid and start time) */
  opening?: { pid: number; start: string };
}

/** This process, as `opening` names it. */
export function thisOpener(): { pid: number; start: string } {
  return { pid: process.pid, start: processStartTime(process.pid) ?? '?' };
}

/** Whether the open a record is in the middle of is still going on (its process lives). */
export function openerAlive(r: OpenVolumeRecord): boolean {
  return !!r.opening && processStartTime(r.opening.pid) === r.opening.start;
}

export function stateDir(): string {
  return process.env.HOMECRYPT_BLOCK_STATE_DIR ?? '/run/homecrypt/block';
}

export function checkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    throw new UsageError(`invalid volume name '${name.slice(0, 70)}': use letters, digits, '_', '-', '.' (at most 64)`);
  }
}

export function ensureStateDir(): string {
  const dir = stateDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}

export function recordPath(name: string): string {
  checkName(name);
  return join(stateDir(), `${name}.json`);
}

export function writeRecord(r: OpenVolumeRecord): void {
  ensureStateDir();
  writeFileAtomic(recordPath(r.name), Buffer.from(`${JSON.stringify(r, null, 2)}\n`), { mode: 0o600 });
}

export function readRecord(name: string): OpenVolumeRecord | null {
  const p = recordPath(name);
  if (!existsSync(p)) return null;
  try {
    const r = JSON.parse(readFileSync(p, 'utf8')) as OpenVolumeRecord;
    if (r.version !== STATE_VERSION || r.name !== name) return null;
    return r;
  } catch {
    return null; // a torn or foreign record: treated as absent, and replaced
  }
}

export function removeRecord(name: string): void {
  try {
    unlinkSync(recordPath(name));
  } catch {
    /* gone */
  }
}

export function listRecords(): OpenVolumeRecord[] {
  const dir = stateDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
    .map((f) => {
      try {
        return readRecord(f.slice(0, -5));
      } catch {
        return null;
      }
    })
    .filter((r): r is OpenVolumeRecord => r !== null)
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Runs `fn` holding the state directory's lock (flock of .lock), so two opens
 * cannot both find a volume free and both open it. Held only while checking and
 * recording, never while an engine starts or a passphrase is asked.
 */
export async function withStateLock<T>(fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const lockPath = join(ensureStateDir(), '.lock');
  return withFileLock(lockPath, timeoutMs, () => new RefusedError(`another block open or close has held ${lockPath} for ${timeoutMs / 1000} s; try again`), fn);
}
