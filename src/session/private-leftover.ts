// What a --private setup stopped at once (SIGKILL, a second Ctrl-C, a crash)
// can leave in the user's home before its record: the key store, ~/.Private
// with a volume config and root IV (or a part of them), the folders
// ~/.homecrypt and ~/Private, and a recovery key nobody saw. Its marker
// (setup-marker.ts), written before the user worker makes any of it, names
// the key store by its hash and the volume by its key ID, and says which
// folders were absent. Root reads the home by descriptor, never through a
// link (the home is the user's to change); what is proven the interrupted
// setup's is then removed as the user, file by file (no recursive removal),
// and a folder only when it is empty. Anything else may be the user's data
// and stays: setup is refused while it is there.
import { constants as fsc } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { parseVolumeConfig } from '../format/volume-config.js';
import { fstatFd, openDirAt, openHomeDir, readdirFd, withFd } from '../os/dir-fd.js';
import { lstatatSync } from '../os/lower-fs-calls.js';
import { readSmallFileAt } from '../os/small-file.js';
import type { UserAccount } from '../os/users.js';
import { isPrivateSetupMarker, readSetupMarker, type PrivateSetupMarker } from './setup-marker.js';
import { layoutFor } from './user-layout.js';
import type { WorkerStep } from './user-worker-client.js';

export type PrivateLeftover =
  /**
   * what is `left` is the interrupted setup's; `steps` (as the user) remove it.
   * `mountPointInUse`: ~/Private holds files (the user's: kept, and setup is
   * refused until they are moved away, as for any setup)
   */
  { kind: 'own'; left: string[]; steps: WorkerStep[]; ecryptfsMigration: boolean; mountPointInUse: boolean } | { kind: 'unknown'; left: string[]; why: string };

const KEYS = 'homecrypt.keys';
const CONFIG = 'homecrypt.conf';
const DIR_IV = 'homecrypt.diriv';
// the temp file of an atomic write (os/atomic-file.ts) that a kill cut short
const TEMP = /^\.(homecrypt\.(?:keys|conf|diriv))\.tmp-[0-9a-f]+$/;
const tempOf = (name: string) => TEMP.exec(name)?.[1];
// ecryptfs migrate's journal (session/ecryptfs/migrate.ts), in ~/.homecrypt before its setup starts
const ECRYPTFS_JOURNAL = 'ecryptfs-migration.json';
const MAX_KEY_STORE_BYTES = 64 * 1024;
const MAX_CONFIG_BYTES = 64 * 1024;

class NotOurs extends Error {}

/** The marker of a --private setup of this very account (its uid and home), or null. */
export function privateSetupMarkerOf(user: UserAccount): PrivateSetupMarker | null {
  const m = readSetupMarker(user.name);
  return isPrivateSetupMarker(m) && m.uid === user.uid && m.home === user.home ? m : null;
}

/** What an interrupted --private setup of `user` left, or null when no marker says one was stopped. */
export function privateLeftoverOf(user: UserAccount): PrivateLeftover | null {
  const m = privateSetupMarkerOf(user);
  return m ? judgePrivateLeftover(user, m) : null;
}

function openDirIfThere(fd: number, name: string, what: string): number | null {
  try {
    return openDirAt(fd, name, what);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw new NotOurs(`${what} is not a directory`);
    throw err;
  }
}

function isOwnedFile(fd: number, name: string, uid: number): boolean {
  const st = lstatatSync(fd, name);
  return (st.mode & fsc.S_IFMT) === fsc.S_IFREG && st.uid === uid;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export function judgePrivateLeftover(user: UserAccount, m: PrivateSetupMarker): PrivateLeftover {
  const layout = layoutFor(user, 'private');
  const left: string[] = [];
  const files: string[] = [];
  let ecryptfsMigration = false;
  let mountPointInUse = false;
  try {
    // the home's parent must be root's (/home): the home itself is opened in it, never through a link
    const home = openHomeDir(user.home);
    withFd(home, (hfd) => {
      if (fstatFd(hfd).uid !== user.uid) throw new NotOurs(`${user.home} does not belong to ${user.name}`);
      const kfd = openDirIfThere(hfd, basename(layout.keyDir), layout.keyDir);
      if (kfd !== null) {
        withFd(kfd, () => {
          const names = readdirFd(kfd);
          // a folder setup made is named for all it holds
          if (m.madeKeyDir) left.push(layout.keyDir);
          else if (names.includes(KEYS)) left.push(layout.keyStore);
          for (const name of names) {
            if (name === ECRYPTFS_JOURNAL) ecryptfsMigration = true;
            if (name === KEYS) {
              let bytes: Buffer;
              try {
                bytes = readSmallFileAt(kfd, name, MAX_KEY_STORE_BYTES, layout.keyStore, { owner: user.uid });
              } catch (err) {
                throw new NotOurs(`${layout.keyStore}: ${(err as Error).message}`);
              }
              if (sha256(bytes) !== m.keyStoreSha256) throw new NotOurs(`${layout.keyStore} is not the key store the interrupted setup wrote`);
              files.push(layout.keyStore);
            } else if (tempOf(name) === KEYS && isOwnedFile(kfd, name, user.uid)) {
              files.push(join(layout.keyDir, name));
            }
            // any other name there is the user's (an eCryptfs migration's journal, say): kept
          }
        });
      }
      const lfd = openDirIfThere(hfd, basename(layout.lower), layout.lower);
      if (lfd !== null) {
        withFd(lfd, () => {
          left.push(layout.lower);
          if (fstatFd(lfd).uid !== user.uid) throw new NotOurs(`${layout.lower} does not belong to ${user.name}`);
          const odd: string[] = [];
          for (const name of readdirFd(lfd)) {
            const ours = name === CONFIG || name === DIR_IV || (tempOf(name) !== undefined && tempOf(name) !== KEYS);
            if (!ours || !isOwnedFile(lfd, name, user.uid)) odd.push(name);
            else if (name === CONFIG) checkConfig(lfd, user, m, layout.lower, layout.keyStore);
            files.push(join(layout.lower, name));
          }
          if (odd.length)
            throw new NotOurs(`${layout.lower} holds more than an interrupted setup leaves: ${odd.slice(0, 5).join(', ')}${odd.length > 5 ? ', …' : ''}`);
        });
      }
      const mfd = openDirIfThere(hfd, basename(layout.mountPoint), layout.mountPoint);
      if (mfd !== null) {
        mountPointInUse = withFd(mfd, () => readdirFd(mfd).length > 0);
        if (m.madeMountPoint && !mountPointInUse) left.push(layout.mountPoint);
      }
    });
  } catch (err) {
    if (err instanceof NotOurs) return { kind: 'unknown', left, why: err.message };
    return { kind: 'unknown', left, why: `it could not be checked: ${(err as Error).message}` };
  }
  // files first, then the folders, each only if empty: whatever the user put there stays
  const steps: WorkerStep[] = files.map((path) => ({ req: { op: 'unlink', path } }));
  steps.push({ req: { op: 'rmdirIfEmpty', path: layout.lower } });
  if (m.madeKeyDir) steps.push({ req: { op: 'rmdirIfEmpty', path: layout.keyDir } });
  if (m.madeMountPoint) steps.push({ req: { op: 'rmdirIfEmpty', path: layout.mountPoint } });
  return { kind: 'own', left, steps, ecryptfsMigration, mountPointInUse };
}

/** The volume config must be the one made for the marker's key: its only key ID, naming this key store. */
function checkConfig(lfd: number, user: UserAccount, m: PrivateSetupMarker, lower: string, keyStore: string): void {
  const where = `${lower}/${CONFIG}`;
  let ok = false;
  try {
    const c = parseVolumeConfig(readSmallFileAt(lfd, CONFIG, MAX_CONFIG_BYTES, where, { owner: user.uid }), where);
    ok = c.currentKeyId === m.keyId && c.nameKeyId === m.keyId && c.keyIds.length === 1 && c.keystore === keyStore;
  } catch {
    /* unreadable or not a config: not the one setup wrote */
  }
  if (!ok) throw new NotOurs(`${where} is not the volume config the interrupted setup wrote`);
}
