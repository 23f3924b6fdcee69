// The journal of `homecrypt ecryptfs migrate` for an encrypted home,
// /home/.homecrypt/U/ecryptfs-migration.json (root's, in root's folder): the
// step reached and the eCryptfs folder the migration copies from and, with
// --remove-ecryptfs, deletes. Shared by the migration (migrate-home.ts), which
// writes and resumes it, and by doctor and `setup --undo`, which name the
// eCryptfs copy a finished migration kept.
import { existsSync } from 'node:fs';
import { entryExists } from '../../os/entry-exists.js';
import { basename, dirname, join } from 'node:path';
import { HomecryptError } from '../../errors.js';
import { writeFileAtomic } from '../../os/atomic-file.js';
import type { UserAccount } from '../../os/users.js';
import { readJournalJson } from '../../ecryptfs/journal-file.js';
import { layoutFor, type Layout } from '../user-layout.js';
import { copyFinished } from './private-journal.js';

export type HomeStep = 'start' | 'setup' | 'copied' | 'done';
export interface HomeJournal {
  version: 1;
  step: HomeStep;
  /** the eCryptfs lower directory (/home/.ecryptfs/U/.Private) */
  lower: string;
  /** /home/.ecryptfs/U: what --remove-ecryptfs deletes */
  ecryptfsDir: string;
  /** the wrapped-passphrase file */
  wrapped: string;
  startedAt: string;
}

const STEPS: HomeStep[] = ['start', 'setup', 'copied', 'done'];

export function journalPath(layout: Layout): string {
  return join(layout.base!, 'ecryptfs-migration.json');
}

export function readJournal(layout: Layout): HomeJournal | null {
  const p = journalPath(layout);
  // root deletes what the journal names: only a journal root wrote counts
  const j = readJournalJson(p, 0) as HomeJournal | null;
  if (j === null) return null;
  const abs = (v: unknown) => typeof v === 'string' && v.startsWith('/') && !v.split('/').includes('..');
  if (
    j?.version !== 1 ||
    !STEPS.includes(j.step) ||
    !abs(j.lower) ||
    !abs(j.ecryptfsDir) ||
    !abs(j.wrapped) ||
    dirname(j.lower) !== j.ecryptfsDir ||
    basename(j.lower) !== '.Private'
  ) {
    throw new HomecryptError(`${p}: not a migration journal this build understands`);
  }
  return j;
}

export function writeJournal(layout: Layout, j: HomeJournal): void {
  writeFileAtomic(journalPath(layout), Buffer.from(`${JSON.stringify(j, null, 2)}\n`), { mode: 0o600, uid: 0, gid: 0 });
}

/** True when an encrypted-home migration of `user` has a journal. */
export function homeMigrationUnderWay(user: UserAccount): boolean {
  return existsSync(journalPath(layoutFor(user, 'home')));
}

/**
 * The eCryptfs folder a finished home migration kept (no --remove-ecryptfs),
 * while it is there; else null (none, not finished, or a journal this build
 * cannot read: migrate itself says why).
 */
export function keptHomeCopy(user: UserAccount): string | null {
  let j: HomeJournal | null;
  try {
    j = readJournal(layoutFor(user, 'home'));
  } catch {
    return null;
  }
  return j && copyFinished(j) && entryExists(j.ecryptfsDir) ? j.ecryptfsDir : null;
}
