// A folder under a --home root (/home/.homecrypt) that no record names: what
// a setup --home stopped at once before its record left (setup-leftover.ts
// tells it from others), an eCryptfs migration stopped likewise, or data of an
// account forgotten with setup --forget. One check, which `homecrypt doctor`
// lists and `homecrypt status` shows for its user.
import { lstatSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import { isValidUserName, lookupUser, type UserAccount } from '../os/users.js';
import type { Finding } from './pam-stack-check.js';
import { judgeLeftover } from './setup-leftover.js';
import { homecryptRoot } from './user-layout.js';
import type { UserRecord } from './user-record.js';

export function accountNamed(name: string): UserAccount | null {
  try {
    return lookupUser(name);
  } catch (e) {
    if (e instanceof UsageError) return null;
    throw e;
  }
}

/** A folder in /home/.homecrypt that no record names: a setup stopped before its record, or data left by --forget. */
function strayFinding(name: string, base: string): Finding {
  const account = isValidUserName(name) ? accountNamed(name) : null;
  let left: ReturnType<typeof judgeLeftover>;
  try {
    left = judgeLeftover(account, base);
  } catch (e) {
    left = { kind: 'unknown', why: (e as Error).message };
  }
  if (left.kind === 'own') {
    return {
      check: 'stray-folder',
      level: 'problem',
      message: `${name}: ${base} was left by a setup --home stopped before it wrote ${name}'s record (the home was not touched; its recovery key was never shown)`,
      fix: `run homecrypt setup --user ${name} --home again (it removes that folder first)`,
    };
  }
  if (left.kind === 'ecryptfs-migration') {
    return {
      check: 'stray-folder',
      level: 'problem',
      message: `${name}: ${base} holds an eCryptfs migration stopped before it wrote ${name}'s record`,
      fix: `run homecrypt ecryptfs migrate --user ${name} again`,
    };
  }
  return {
    check: 'stray-folder',
    level: 'warning',
    message: `${name}: ${base} has no homecrypt record (${left.why}); it may hold encrypted data, e.g. of an account forgotten with setup --forget`,
    fix: `look inside; keep it if it holds data (it opens with its recovery key), else move it away; setup --home of ${name} is refused while it is there`,
  };
}

/**
 * The folders under the --home roots that no record names: /home/.homecrypt
 * and the roots of `records`; given `only`, that user's folder alone, looked
 * for also where setup --home would make it for that account's home.
 */
export function checkStrayFolders(records: UserRecord[], only?: string): Finding[] {
  const known = new Set(records.filter((r) => r.mode === 'home').map((r) => r.keyStore));
  const account = only !== undefined && isValidUserName(only) ? accountNamed(only) : null;
  const roots = new Set([
    homecryptRoot('/home/_'),
    ...(account ? [homecryptRoot(account.home)] : []),
    ...records.filter((r) => r.mode === 'home').map((r) => dirname(dirname(r.keyStore))),
  ]);
  const out: Finding[] = [];
  for (const root of roots) {
    let names: string[];
    try {
      names = readdirSync(root);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      if (only !== undefined && name !== only) continue;
      const base = join(root, name);
      if (known.has(join(base, 'homecrypt.keys')) || !lstatSync(base).isDirectory()) continue;
      out.push(strayFinding(name, base));
    }
  }
  return out;
}
