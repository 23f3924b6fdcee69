// Local accounts as the system's name service sees them (getent, id), so NSS
// sources beyond /etc/passwd work too.
import { execFileSync } from 'node:child_process';
import { UsageError } from '../errors.js';

export interface UserAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

// POSIX portable user names plus what useradd accepts; keeps names safe to use
// in paths (/etc/homecrypt/users/<name>.json) and in PAM environments.
const USER_NAME = /^[a-z_][a-z0-9_.-]{0,31}\$?$/i;

export function isValidUserName(name: string): boolean {
  return USER_NAME.test(name) && name !== '.' && name !== '..';
}

/** Looks a user up by name; a clear UsageError when there is none. */
export function lookupUser(name: string): UserAccount {
  if (!isValidUserName(name)) throw new UsageError(`not a valid user name: ${JSON.stringify(name)}`);
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    throw new UsageError(`no such user: ${name}`);
  }
  return parsePasswdLine(line.split('\n')[0] ?? '', name);
}

export function parsePasswdLine(line: string, name: string): UserAccount {
  const f = line.split(':');
  if (f.length < 7 || f[0] !== name) throw new UsageError(`no such user: ${name}`);
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || !f[5]!.startsWith('/')) {
    throw new UsageError(`the account entry of ${name} is malformed`);
  }
  return { name, uid, gid, home: f[5]!, shell: f[6]! };
}

/** Supplementary group IDs of a user (what initgroups would set). */
export function groupsOf(name: string): number[] {
  try {
    const out = execFileSync('id', ['-G', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out
      .trim()
      .split(/\s+/)
      .map(Number)
      .filter((n) => Number.isInteger(n));
  } catch {
    return [];
  }
}

/** The name of the account with `uid`, or "uid N" when the name service knows none (for messages). */
export function userNameOf(uid: number): string {
  try {
    const line = execFileSync('getent', ['passwd', String(uid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const name = line.split(':')[0];
    if (name) return name;
  } catch {
    /* none */
  }
  return `uid ${uid}`;
}
