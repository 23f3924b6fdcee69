// The journal of `homecrypt ecryptfs migrate` for a Private directory,
// ~/.homecrypt/ecryptfs-migration.json: the step reached and where the eCryptfs
// copy was set aside. Shared by the migration (migrate.ts), which writes and
// resumes it, and by `setup --undo` (migration-kept.ts), which removes it with
// the key store once the migration it records is undone.
import { join } from 'node:path';
import { HomecryptError, RefusedError } from '../../errors.js';
import type { UserAccount } from '../../os/users.js';
import { readJournalJson } from '../../ecryptfs/journal-file.js';

export type PrivateStep = 'aside' | 'setup' | 'copied' | 'done';
export interface PrivateJournal {
  version: 1;
  step: PrivateStep;
  aside: string;
  startedAt: string;
}

export const PRIVATE_JOURNAL_NAME = 'ecryptfs-migration.json';
export const PRIVATE_ASIDE_NAME = '.Private.ecryptfs';

export function privateJournalPath(user: UserAccount): string {
  return join(user.home, '.homecrypt', PRIVATE_JOURNAL_NAME);
}

export function privateAsidePath(user: UserAccount): string {
  return join(user.home, PRIVATE_ASIDE_NAME);
}

/** The steps after which every entry was copied and verified: the homecrypt volume holds the data (a home migration's journal names them alike). */
export function copyFinished(j: { step: string }): boolean {
  return j.step === 'copied' || j.step === 'done';
}

/** The journal read as root (O_NOFOLLOW, the user's regular file, small), or null when there is none. */
export function readPrivateJournal(user: UserAccount): PrivateJournal | null {
  const p = privateJournalPath(user);
  const j = readJournalJson(p, user.uid);
  return j === null ? null : checkPrivateJournal(j, user, p);
}

/** What was parsed from `where`, checked to be a journal of this build naming the one place the copy is set aside. */
export function checkPrivateJournal(parsed: unknown, user: UserAccount, where: string): PrivateJournal {
  const j = parsed as PrivateJournal | null;
  if (j?.version !== 1 || !['aside', 'setup', 'copied', 'done'].includes(j.step) || typeof j.aside !== 'string') {
    throw new HomecryptError(`${where}: not a migration journal this build understands`);
  }
  // The journal lives in the user's home, so the user can edit it; it may only
  // ever name the one place the migration moves the eCryptfs copy to.
  if (j.aside !== privateAsidePath(user)) {
    throw new RefusedError(`${where} names ${JSON.stringify(j.aside)}, not ${privateAsidePath(user)}; move the journal away`);
  }
  return j;
}

export function privateJournalBytes(j: PrivateJournal): Buffer {
  return Buffer.from(`${JSON.stringify(j, null, 2)}\n`);
}
