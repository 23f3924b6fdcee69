// The kernel's view of mounts (/proc/self/mountinfo).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
  /** The super block's options (a FUSE mount's `user_id=UID` names who mounted it). */
  superOptions: string;
}

// mountinfo escapes space, tab, newline and backslash as octal (\040 …)
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    if (left.length < 5 || right.length < 2) continue;
    entries.push({ mountPoint: unescapeMountinfo(left[4]!), fsType: right[0]!, source: unescapeMountinfo(right[1]!), superOptions: right[2] ?? '' });
  }
  return entries;
}

/** The mount whose mount point is exactly `path` (the last one stacked there), or null. */
export function mountAt(path: string): MountEntry | null {
  const want = resolve(path);
  const all = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  let found: MountEntry | null = null;
  for (const e of all) if (e.mountPoint === want) found = e;
  return found;
}

/** Every FUSE mount of this mount namespace. */
export function fuseMounts(): MountEntry[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((e) => e.fsType.startsWith('fuse'));
}

export function isFuseMountedAt(path: string): boolean {
  const m = mountAt(path);
  return m !== null && m.fsType.startsWith('fuse');
}

/** Who mounted a FUSE mount (its `user_id` option), or null when the entry does not say. */
export function fuseMountOwner(m: MountEntry): number | null {
  const id = /(?:^|,)user_id=(\d+)(?:,|$)/.exec(m.superOptions)?.[1];
  return id === undefined ? null : Number(id);
}

/**
 * Whether an access to a FUSE mount failed because its daemon is gone:
 * ENOTCONN once the connection has ended, ECONNABORTED for a request made
 * while a killed daemon's last descriptors were still closing.
 */
export function isDeadConnection(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOTCONN' || code === 'ECONNABORTED';
}
