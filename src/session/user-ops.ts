// The file work root needs done in a user's folders, as a closed set of typed
// requests that the user worker (src/cli/user-worker-main.ts) carries out
// *as that user*: uid, gids, no capabilities. The kernel's own permission
// checks then guard every path, so a user who swaps a name for a symlink at
// the right moment only redirects work they could have done themselves.
// Secrets (a mount key) arrive as the request's payload on the pipe, never
// in argv or the environment.
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { RefusedError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../os/atomic-file.js';
import { createLower } from './lower-dir.js';
import { moveTree, surveyTree, type MoveProgress } from './migrate-tree.js';
import type { UserOpResult, UserRequest } from './user-request.js';
import type { CopyProgress } from '../ecryptfs/migrate-copy.js';

function mkdirMode(path: string, mode: number): void {
  try {
    mkdirSync(path, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const st = lstatSync(path);
    if (!st.isDirectory()) throw new RefusedError(`${path} exists and is not a directory`);
  }
  chmodSync(path, mode);
}

function unlinkIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function rmdirIfEmpty(path: string): void {
  try {
    if (readdirSync(path).length === 0) rmdirSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

// names as bytes: a --plaintext-names lower dir may hold names that are not
// UTF-8, which a string listing would turn into names that do not exist
// (rmSync's own recursion below the top already works on bytes)
function emptyDir(path: string): void {
  let names: Buffer[];
  try {
    names = readdirSync(path, { encoding: 'buffer' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const dir = Buffer.from(`${path}/`);
  for (const name of names) rmSync(Buffer.concat([dir, name]), { recursive: true, force: true });
}

/** Carries out one request in this process (which runs as the user). */
export function runUserRequest(req: UserRequest, payload: Buffer, onProgress: (p: MoveProgress) => void): UserOpResult | Promise<UserOpResult> {
  switch (req.op) {
    case 'mkdir':
      mkdirMode(req.path, req.mode);
      return null;
    case 'writeFile':
      writeFileAtomic(req.path, payload, { mode: req.mode });
      return null;
    case 'initLower':
      createLower(req.lower, req.keyStore, payload, { plaintextNames: req.plaintextNames });
      return null;
    case 'remove':
      rmSync(req.path, { recursive: true, force: true });
      return null;
    case 'unlink':
      unlinkIfThere(req.path);
      return null;
    case 'rmdirIfEmpty':
      rmdirIfEmpty(req.path);
      return null;
    case 'emptyDir':
      emptyDir(req.path);
      return null;
    case 'survey':
      return surveyTree(req.dir);
    case 'move': {
      const done = moveTree(req.src, req.dst, onProgress);
      if (req.removeSrc) rmdirSync(req.src);
      return done;
    }
    case 'replaceDir':
      rmdirSync(req.to);
      renameSync(req.from, req.to);
      chmodSync(req.to, req.mode);
      return null;
    case 'rename':
      if (existsSync(req.to)) throw new RefusedError(`${req.to} already exists; move it away first`);
      renameSync(req.from, req.to);
      return null;
    case 'ecryptfsCopy':
      return ecryptfsCopy(req, payload, onProgress);
    default:
      throw new UsageError(`unknown user request ${JSON.stringify((req as { op?: unknown }).op)}`);
  }
}

// loaded only for this request: every other worker (a login's re-wrap) starts without the engine
async function ecryptfsCopy(req: Extract<UserRequest, { op: 'ecryptfsCopy' }>, payload: Buffer, onProgress: (p: MoveProgress) => void): Promise<CopyProgress> {
  const { copyAll } = await import('../ecryptfs/migrate-copy.js');
  const { openEcryptfs } = await import('../ecryptfs/ecryptfs-mount.js');
  const { wipeKeys } = await import('../ecryptfs/keys.js');
  const ec = openEcryptfs(req.from, payload.subarray(0, req.passBytes));
  try {
    return copyAll(
      ec,
      req.to,
      {
        failAfterEntries: req.failAfterEntries,
        onProgress: (d, t) => onProgress({ files: d.entries, bytes: d.bytes, total: { files: t.entries, bytes: t.bytes } }),
      },
      { mountKey: Buffer.from(payload.subarray(req.passBytes)) },
    );
  } finally {
    wipeKeys(ec.keys);
  }
}
