// Reads the target's account database directly (not the host's: getpwnam on
// the host would answer for the wrong system).
import { existsSync, readFileSync } from 'node:fs';
import type { InTarget } from './in-target.js';

export interface TargetUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export function targetUsers(target: InTarget): TargetUser[] {
  const p = target.path('/etc/passwd');
  if (!existsSync(p)) return [];
  const users: TargetUser[] = [];
  for (const line of readFileSync(p, 'utf8').split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !f[0]) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    users.push({ name: f[0], uid, gid, home: f[5], shell: f[6] });
  }
  return users;
}

export function targetUser(target: InTarget, name: string): TargetUser | null {
  return targetUsers(target).find((u) => u.name === name) ?? null;
}

/** The first regular account (uid 1000-59999), as Debian's installer creates it. */
export function firstRegularUser(target: InTarget): TargetUser | null {
  return (
    targetUsers(target)
      .filter((u) => u.uid >= 1000 && u.uid < 60000)
      .sort((a, b) => a.uid - b.uid)[0] ?? null
  );
}
