// The race harness of issue #13: root-owned canaries, and the swapper
// (swapper.py) running as the test user, replacing watched names with
// symlinks to them at the moment they appear or are opened. A test runs a
// root command many times under the swapper and then checks, with
// expectCanariesUnchanged, that root never acted through one of the links.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { TestUser } from './users.js';

export const SWAPPER = fileURLToPath(new URL('./swapper.py', import.meta.url));

export interface Canaries {
  /** a root-owned file (0644) */
  file: string;
  /** a root-owned directory (0755) holding one root-owned file */
  dir: string;
  root: string;
  /** owner, mode, content and listing of everything, for comparison */
  snapshot(): string;
  remove(): void;
}

export function makeCanaries(): Canaries {
  const root = mkdtempSync('/tmp/hc-canary-');
  chmodSync(root, 0o755);
  const file = join(root, 'canary-file');
  writeFileSync(file, `canary ${randomBytes(8).toString('hex')}\n`, { mode: 0o644 });
  const dir = join(root, 'canary-dir');
  mkdirSync(dir, { mode: 0o755 });
  writeFileSync(join(dir, 'inside'), `inside ${randomBytes(8).toString('hex')}\n`, { mode: 0o644 });
  for (const p of [root, file, dir, join(dir, 'inside')]) chownSync(p, 0, 0);
  const describe = (p: string): string => {
    if (!existsSync(p)) return `${p}: missing`;
    const st = lstatSync(p);
    const kind = st.isDirectory()
      ? `dir [${readdirSync(p).sort().join(',')}]`
      : `file ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`;
    return `${p}: ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)} ${kind}`;
  };
  return {
    file,
    dir,
    root,
    snapshot: () => [root, file, dir, join(dir, 'inside')].map(describe).join('\n'),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

export interface SwapperOptions {
  watch: string[];
  /** names (basename) to swap */
  match: string;
  events?: ('create' | 'open' | 'access')[];
  /** also watch directories below, and those created later */
  recursive?: boolean;
  /** swap only once this path was seen mounted and then not (to aim at what a command does after unmounting) */
  afterUnmount?: string;
  /** swap the watched directory that holds the matching entry, not the entry */
  swapWatched?: boolean;
}

export interface Swapper {
  /** stops it; resolves with how many swaps it made */
  stop(): Promise<number>;
  child: ChildProcess;
}

/** Starts the swapper as the user; resolves once its watches are in place. */
export function startSwapper(user: TestUser, canaries: Canaries, o: SwapperOptions): Promise<Swapper> {
  const args = [
    '--reuid',
    String(user.uid),
    '--regid',
    String(user.gid),
    '--init-groups',
    '--',
    'python3',
    SWAPPER,
    '--match',
    o.match,
    '--file-canary',
    canaries.file,
    '--dir-canary',
    canaries.dir,
    '--events',
    (o.events ?? ['create', 'open']).join(','),
    ...(o.recursive ? ['--recursive'] : []),
    ...(o.afterUnmount ? ['--after-unmount', o.afterUnmount] : []),
    ...(o.swapWatched ? ['--swap-watched'] : []),
    ...o.watch.flatMap((w) => ['--watch', w]),
  ];
  const child = spawn('setpriv', args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: '/', env: { PATH: '/usr/bin:/bin', HOME: user.home } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`swapper did not start: ${err}`)), 20_000);
    const poll = setInterval(() => {
      if (!out.includes('ready\n')) return;
      clearInterval(poll);
      clearTimeout(timer);
      resolve({
        child,
        stop: async () => {
          child.kill('SIGTERM');
          // swapper.py exits from its SIGTERM handler, which runs only between system calls: one
          // blocked in a request to a FUSE mount would keep the test waiting without end
          const late = await Promise.race([exited.then(() => false), sleep(STOP_GRACE_MS).then(() => true)]);
          if (late) {
            console.warn(`swapper still running ${STOP_GRACE_MS} ms after SIGTERM; killing it:\n${processSnapshot()}`);
            child.kill('SIGKILL');
            await exited;
          }
          const m = /swaps (\d+)/.exec(out);
          if (m) return Number(m[1]);
          // ended by something else (most likely another test's pkill of a recycled uid): each swap it
          // made is still on record as a "swap PATH" line of its stderr
          const made = (err.match(/^swap /gm) ?? []).length;
          console.warn(`swapper ended without its count (${child.signalCode ?? child.exitCode}); ${made} swaps on record`);
          return made;
        },
      });
    }, 20);
    child.on('exit', (code) => {
      if (!out.includes('ready\n')) {
        clearInterval(poll);
        clearTimeout(timer);
        reject(new Error(`swapper exited ${code}: ${err}`));
      }
    });
  });
}

/**
 * Runs a raced test's `run(i)` for i = 0 … runs−1, then again (i = runs,
 * runs+1, …; `extra` more at most) while no swap has landed: a root command
 * that is quick on an idle machine can be done before the swapper moves, and
 * a test of what root does under a swap must see one. `run` returns its
 * run's swaps (the caller checks the canaries after each); the total is
 * returned for the caller's `swaps > 0`.
 */
export async function racedRuns(runs: number, run: (i: number) => Promise<number>, extra = 4): Promise<number> {
  let swaps = 0;
  for (let i = 0; i < runs || (swaps === 0 && i < runs + extra); i++) {
    // a run takes seconds; one that hangs until the test's timeout would otherwise say nothing of where
    const watchdog = setTimeout(() => console.warn(`raced run ${i} still going after ${SLOW_RUN_MS / 1000} s:\n${processSnapshot()}`), SLOW_RUN_MS);
    try {
      swaps += await run(i);
    } finally {
      clearTimeout(watchdog);
    }
  }
  return swaps;
}

const STOP_GRACE_MS = 10_000;
const SLOW_RUN_MS = 120_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every process but the kernel's, with what it waits in: what a hang report needs. */
function processSnapshot(): string {
  const r = spawnSync('ps', ['-eo', 'pid,ppid,user:12,stat,wchan:28,etime,args'], { encoding: 'utf8' });
  if (!r.stdout) return r.stderr;
  return r.stdout
    .split('\n')
    .filter((line) => !/^\s*\d+\s+[02]\s/.test(line) || /^\s*1\s/.test(line)) // not kthreadd's children
    .map((line) => line.slice(0, 240))
    .join('\n');
}

/**
 * Runs `body` while the started swapper `sw` watches, and returns its swaps.
 * The swapper is stopped when `body` throws too (a failed assertion must not
 * leave it running under the next test); the error is then thrown.
 */
export async function swapsDuring(sw: Swapper, body: () => Promise<void> | void): Promise<number> {
  try {
    await body();
  } catch (err) {
    await sw.stop();
    throw err;
  }
  return sw.stop();
}

/** A raced command's outcome: 'ok', or 'refused: ' and its error, which must say something (never a crash without a message). */
export async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    const m = (err as Error).message;
    expect(m, 'a refusal must say why').toMatch(/\w{3,}/);
    return `refused: ${m}`;
  }
}
