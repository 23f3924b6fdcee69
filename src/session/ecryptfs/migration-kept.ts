// What `setup --undo` of a Private directory does with what `ecryptfs migrate`
// left beside it. The migration's journal (~/.homecrypt/ecryptfs-migration.json)
// is homecrypt's: once the volume it filled is undone it describes nothing, and
// kept it made a later migrate say "already migrated" of a user who no longer
// uses homecrypt (and `migrate --remove-ecryptfs` delete the eCryptfs copy while
// saying it migrated), so it goes with the key store. The eCryptfs copy set
// aside (~/.Private.ecryptfs) and ~/.ecryptfs are the user's data and settings:
// undo never removes them, and says they are there and why.
//
// The home is the user's to change while root looks: it is read by descriptor
// (opened in its root-owned parent, never through a link), the journal opened
// O_NOFOLLOW and checked to be the user's; the removal runs as the user.
// Of a migrated encrypted home, undo keeps and names /home/.ecryptfs/U the
// same way (homeMigrationLeftByUndo), and doctor names either kept copy
// while homecrypt is set up.
import { join } from 'node:path';
import { openDirAt, openHomeDir, withFd } from '../../os/dir-fd.js';
import { lstatatSync } from '../../os/lower-fs-calls.js';
import { readSmallFileAt } from '../../os/small-file.js';
import type { UserAccount } from '../../os/users.js';
import type { WorkerStep } from '../user-worker-client.js';
import { keptHomeCopy } from './home-journal.js';
import { PRIVATE_ASIDE_NAME, PRIVATE_JOURNAL_NAME, checkPrivateJournal, copyFinished, privateJournalPath, type PrivateJournal } from './private-journal.js';

export interface MigrationLeft {
  /** as the user, before ~/.homecrypt is removed if empty: the journal of a migration whose copy finished, unlinked */
  steps: WorkerStep[];
  /** what stays: the eCryptfs copy and ~/.ecryptfs, and a journal undo cannot vouch for */
  kept: string[];
  /** for people: what stays, why, and what to do with it */
  notes: string[];
}

const MAX_JOURNAL_BYTES = 64 * 1024;

const codeOf = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** lstat of `name` in the open directory: whether there is an entry (of any type) so named. */
function present(dirFd: number, name: string): boolean {
  try {
    lstatatSync(dirFd, name);
    return true;
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return false;
    throw err;
  }
}

/** The journal in ~/.homecrypt (open as kfd): null when absent, else what it says or why it cannot be read. */
function journalIn(kfd: number, user: UserAccount): { journal: PrivateJournal } | { unreadable: string } | null {
  const where = privateJournalPath(user);
  let bytes: Buffer;
  try {
    bytes = readSmallFileAt(kfd, PRIVATE_JOURNAL_NAME, MAX_JOURNAL_BYTES, where, { owner: user.uid });
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return null;
    return { unreadable: (err as Error).message };
  }
  try {
    return { journal: checkPrivateJournal(JSON.parse(bytes.toString('utf8')), user, where) };
  } catch (err) {
    // a parse failure never quotes what was read
    return { unreadable: err instanceof SyntaxError ? `${where}: not valid JSON` : (err as Error).message };
  }
}

/** What undo removes (as the user) and keeps of an eCryptfs migration of `user`'s Private directory. */
export function migrationLeftByUndo(user: UserAccount, mountPoint: string): MigrationLeft {
  const left: MigrationLeft = { steps: [], kept: [], notes: [] };
  const journalPath = privateJournalPath(user);
  let home: number;
  try {
    home = openHomeDir(user.home);
  } catch (err) {
    left.notes.push(`${user.home} could not be checked for what an eCryptfs migration left (${(err as Error).message})`);
    return left;
  }
  withFd(home, (hfd) => {
    let kfd: number | null = null;
    try {
      kfd = openDirAt(hfd, '.homecrypt', join(user.home, '.homecrypt'));
    } catch {
      /* no folder (or not one): no journal of ours */
    }
    const found = kfd === null ? null : withFd(kfd, () => journalIn(kfd, user));
    const aside = join(user.home, PRIVATE_ASIDE_NAME);
    const settings = join(user.home, '.ecryptfs');
    const asideThere = present(hfd, PRIVATE_ASIDE_NAME);
    const finished = found !== null && 'journal' in found && copyFinished(found.journal);
    if (finished) {
      left.steps.push({ req: { op: 'unlink', path: journalPath } });
    } else if (found && 'journal' in found) {
      left.kept.push(journalPath);
      left.notes.push(
        `kept ${journalPath}: it records an eCryptfs migration that did not finish copying (step ${found.journal.step})` +
          (asideThere ? `, so ${aside} may hold files ${mountPoint} does not: look inside both before removing either` : ''),
      );
    } else if (found) {
      left.kept.push(journalPath);
      left.notes.push(`kept ${journalPath}, which undo cannot read as an eCryptfs migration journal (${found.unreadable}); look at it, then remove it`);
    }
    if (asideThere) {
      const copy = [aside, ...(present(hfd, '.ecryptfs') ? [settings] : [])];
      left.kept.push(...copy);
      left.notes.push(
        `kept ${copy.join(' and ')}: the eCryptfs copy that homecrypt ecryptfs migrate set aside (${user.name}'s Private directory as it was migrated, still encrypted` +
          `${copy.length > 1 ? ', and its eCryptfs settings' : ''}). homecrypt does not use ${copy.length > 1 ? 'them' : 'it'}` +
          // without the journal of the migration just undone, what the copy holds is not known to be in the mount point
          `${finished ? `, and ${mountPoint} holds the same files in the clear, with the changes made since` : ''}. Once ${copy.length > 1 ? 'they are' : 'it is'} no longer needed, remove ${copy.length > 1 ? 'them' : 'it'} as ${user.name}: ` +
          `runuser -u ${user.name} -- rm -rf -- ${copy.join(' ')}`,
      );
    }
  });
  return left;
}

/**
 * What undo of a migrated encrypted home keeps: the eCryptfs folder the
 * migration left (/home/.ecryptfs/U, root's journal names it). Read before the
 * journal goes with the user's folder in /home/.homecrypt; the folder itself
 * stays, named, as the Private directory's copy above.
 */
export function homeMigrationLeftByUndo(user: UserAccount, mountPoint: string): MigrationLeft {
  const copy = keptHomeCopy(user);
  if (!copy) return { steps: [], kept: [], notes: [] };
  return {
    steps: [],
    kept: [copy],
    notes: [
      `kept ${copy}: the eCryptfs copy that homecrypt ecryptfs migrate set aside (${user.name}'s home as it was migrated, still encrypted, with its eCryptfs settings). ` +
        `homecrypt does not use it, and ${mountPoint} holds the same files in the clear, with the changes made since. Once it is no longer needed, remove it: rm -rf -- ${copy}`,
    ],
  };
}

/**
 * The eCryptfs copy a finished migration of `user`'s Private directory kept
 * (~/.Private.ecryptfs: migrate without --remove-ecryptfs), while it is
 * there; else null (none, not finished, or the home or journal unreadable:
 * migrate itself says why). Read as undo reads it: by descriptor.
 */
export function keptPrivateCopy(user: UserAccount): string | null {
  try {
    return withFd(openHomeDir(user.home), (hfd) => {
      if (!present(hfd, PRIVATE_ASIDE_NAME)) return null;
      const kfd = openDirAt(hfd, '.homecrypt', join(user.home, '.homecrypt'));
      const found = withFd(kfd, () => journalIn(kfd, user));
      return found && 'journal' in found && copyFinished(found.journal) ? join(user.home, PRIVATE_ASIDE_NAME) : null;
    });
  } catch {
    return null;
  }
}
