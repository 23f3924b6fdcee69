// Root's side of the user worker: sends typed requests (src/session/user-ops.ts)
// to `homecrypt user-worker` started as the user (setpriv: the user's uid, gid
// and groups; the kernel drops every capability with uid 0), and reads its
// answers. Requests are one JSON line on stdin followed by their payloads
// (a mount key, key-store bytes): secrets travel on the pipe only.
import { HomecryptError, RefusedError, UnsafePermissionsError, UsageError } from '../errors.js';
import type { AtomicWriter } from '../os/atomic-file.js';
import { runAsUser } from '../os/processes.js';
import type { UserAccount } from '../os/users.js';
import { HOMECRYPT_BIN } from './engine-ops.js';
import type { MoveProgress } from './migrate-tree.js';
import type { UserOpResult, UserRequest } from './user-request.js';

/** What the worker prints, one JSON object a line. */
export type WorkerLine = { progress: MoveProgress } | { result: UserOpResult } | { error: { name: string; message: string; code?: string } };

/** The request header the worker reads first: each request and its payload's length. */
export interface WorkerInput {
  requests: { req: UserRequest; payloadBytes: number }[];
}

/** A failure inside the worker, with the errno code when it was one (so callers can map ENOSPC etc.). */
export class UserWorkerError extends HomecryptError {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

// a Map, not an object literal: a name like "__proto__" or "constructor" must not find anything
const kinds = new Map<string, new (m: string) => HomecryptError>([
  ['RefusedError', RefusedError],
  ['UsageError', UsageError],
  ['UnsafePermissionsError', UnsafePermissionsError],
]);

export function rebuild(e: { name: string; message: string; code?: string }, user: UserAccount): HomecryptError {
  const Kind = kinds.get(e.name);
  if (Kind) return new Kind(e.message);
  return new UserWorkerError(`as ${user.name}: ${e.message}`, e.code);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * One line of the worker's output, or null when it is none of ours. The worker
 * runs as the user, who may ptrace it and print anything: a line that is not
 * an object of the expected shape is skipped, never trusted and never thrown
 * on (this runs in a stream handler of a root process, where a throw kills it).
 */
export function parseWorkerLine(line: string): WorkerLine | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isObject(v)) return null;
  if ('result' in v) return v.result === null || isObject(v.result) ? { result: v.result as UserOpResult } : null;
  if ('progress' in v) return isObject(v.progress) ? { progress: v.progress as unknown as MoveProgress } : null;
  if ('error' in v && isObject(v.error)) {
    const { name, message, code } = v.error;
    if (typeof name !== 'string' || typeof message !== 'string') return null;
    return { error: { name, message, ...(typeof code === 'string' ? { code } : {}) } };
  }
  return null;
}

export interface UserWorker {
  /** Runs one request as the user; resolves with its result. */
  run(req: UserRequest, payload?: Buffer, opts?: RunOptions): Promise<UserOpResult>;
  /** Runs requests in order in one worker, stopping at the first failure. */
  runAll(reqs: WorkerStep[], opts?: RunOptions): Promise<UserOpResult[]>;
  /** An AtomicWriter that writes as the user (key stores root changes for them). */
  writer: AtomicWriter;
}

export type WorkerStep = { req: UserRequest; payload?: Buffer };

/**
 * An AtomicWriter that only records the write as a worker step, so a caller
 * can send it with other steps in one worker (each worker is a process start).
 */
export function stagedWrites(): { writer: AtomicWriter; steps: WorkerStep[] } {
  const steps: WorkerStep[] = [];
  return {
    steps,
    writer: async (path, data, mode) => {
      steps.push({ req: { op: 'writeFile', path, mode }, payload: Buffer.from(data) });
    },
  };
}

export interface RunOptions {
  onProgress?: (p: MoveProgress) => void;
  /** kill the worker after this long (a user's FUSE mount could stall it forever) */
  timeoutMs?: number;
}

/** The default for short requests: generous on a loaded machine, finite for a login. */
const SHORT_TIMEOUT_MS = 60_000;

/** The longest line root reads from a worker (its results are a few hundred bytes). */
const MAX_LINE = 1 << 20;

export function userWorker(user: UserAccount): UserWorker {
  const runAll = async (reqs: WorkerStep[], opts: RunOptions = {}): Promise<UserOpResult[]> => {
    const header: WorkerInput = { requests: reqs.map((r) => ({ req: r.req, payloadBytes: r.payload?.length ?? 0 })) };
    const input = Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), ...reqs.map((r) => r.payload ?? Buffer.alloc(0))]);
    const results: UserOpResult[] = [];
    let failure: HomecryptError | null = null;
    let pending = '';
    try {
      const r = await runAsUser(user, [process.execPath, HOMECRYPT_BIN, 'user-worker'], {
        input,
        timeoutMs: opts.timeoutMs,
        onStdout: (chunk) => {
          pending += chunk.toString('utf8');
          let i: number;
          while ((i = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, i);
            pending = pending.slice(i + 1);
            const msg = parseWorkerLine(line);
            if (!msg) continue;
            if ('progress' in msg) opts.onProgress?.(msg.progress);
            else if ('result' in msg && results.length < reqs.length) results.push(msg.result);
            else if ('error' in msg) failure = rebuild(msg.error, user);
          }
          // the worker runs as the user: a line without end is dropped, not kept by root
          if (pending.length > MAX_LINE) {
            pending = '';
            failure ??= new UserWorkerError(`work as ${user.name} failed: the worker printed a line over ${MAX_LINE} bytes`);
          }
        },
      });
      if (failure) throw failure;
      if (r.code !== 0 || results.length !== reqs.length) {
        const why = r.signal
          ? `killed by ${r.signal}${opts.timeoutMs ? ` (time limit ${opts.timeoutMs / 1000} s)` : ''}`
          : (r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`);
        throw new UserWorkerError(`work as ${user.name} (${reqs.map((q) => q.req.op).join(', ')}) failed: ${why}`);
      }
      return results;
    } finally {
      input.fill(0); // it held the payloads (a mount key)
    }
  };
  return {
    runAll,
    run: async (req, payload, opts) => (await runAll([{ req, payload }], opts))[0]!,
    writer: async (path, data, mode) => {
      await runAll([{ req: { op: 'writeFile', path, mode }, payload: data }], { timeoutMs: SHORT_TIMEOUT_MS });
    },
  };
}
