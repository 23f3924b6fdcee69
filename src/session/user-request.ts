// The closed set of requests root sends the user worker, and what each answers:
// apart from user-ops.ts (which carries them out) so that the worker's client,
// which lower-dir.ts and user-ops.ts themselves use, can name them without an
// import cycle.
import type { CopyProgress } from '../ecryptfs/migrate-copy.js';
import type { MoveProgress, TreeSummary } from './migrate-tree.js';

export type UserRequest =
  /** a directory with this mode (an existing one of the user's is kept, its mode set) */
  | { op: 'mkdir'; path: string; mode: number }
  /** payload: the bytes; replaced atomically (write, fsync, rename) */
  | { op: 'writeFile'; path: string; mode: number }
  /** payload: the mount key; a new engine lower directory naming keyStore */
  | { op: 'initLower'; lower: string; keyStore: string; plaintextNames?: boolean }
  /** the file or tree, gone (absent is fine) */
  | { op: 'remove'; path: string }
  /** the file (never a directory: unlink(2)), gone (absent is fine) */
  | { op: 'unlink'; path: string }
  /** the directory, if it is empty */
  | { op: 'rmdirIfEmpty'; path: string }
  /** everything inside the directory gone, the directory kept (its parent may be root's) */
  | { op: 'emptyDir'; path: string }
  | { op: 'survey'; dir: string }
  /** progress lines while it runs; `src` is removed once empty */
  | { op: 'move'; src: string; dst: string; removeSrc?: boolean }
  /** `to` (an empty directory) replaced by `from`, then given `mode` */
  | { op: 'replaceDir'; from: string; to: string; mode: number }
  /** rename(2) of an entry (never over an existing one) */
  | { op: 'rename'; from: string; to: string }
  /** payload: the eCryptfs mount passphrase (passBytes) then the mount key; `ecryptfs migrate`'s copy, progress lines while it runs */
  | { op: 'ecryptfsCopy'; from: string; to: string; passBytes: number; failAfterEntries?: number };

export type UserOpResult = null | TreeSummary | MoveProgress | CopyProgress;
