// Processes: who is running as a user (setup refuses to move a home under a
// running session), and the one way homecrypt runs a command (no shell; a
// secret only on stdin): as itself, or as a user the way a login would.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { UserAccount } from './users.js';

export interface ProcessInfo {
  pid: number;
  comm: string;
}

/**
 * Processes whose real or effective uid is `uid`, zombies left out: a process
 * that has exited runs nothing and holds no file, mount or lock, though its
 * pid stays listed until its parent reaps it. A mount daemon's parent is gone
 * (it is reparented to init), and how soon init reaps is init's affair (a
 * sandbox's init measured here reaps in batches, 1-2 s late; a container's
 * may never).
 */
export function processesOf(uid: number): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry}/status`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    if (exited(status)) continue;
    const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    if (!m || (Number(m[1]) !== uid && Number(m[2]) !== uid)) continue;
    const comm = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?';
    found.push({ pid: Number(entry), comm });
  }
  return found;
}

/**
 * Whether /proc/PID/status describes a process that has exited and waits to
 * be reaped. Its state is then Z (or X), but so is the state of a leader
 * thread that ended alone (pthread_exit in main) while its other threads run
 * on, holding the process's files and working directory: that one still runs
 * (its Threads count says so).
 */
export function exited(status: string): boolean {
  if (!/^State:\s+[ZX]/m.test(status)) return false;
  const threads = /^Threads:\s+(\d+)/m.exec(status);
  return !threads || Number(threads[1]) <= 1;
}

/** A process's arguments ([] when it is gone or unreadable). */
export function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * When a process started, in clock ticks since boot (field 22 of
 * /proc/PID/stat), or null when it is gone or a zombie: with the pid, it names
 * one process even after the pid is reused.
 */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return fields[19] ?? null; // field 22 counted from pid; these start at field 3 (state)
  } catch {
    return null;
  }
}

/** Pids of running processes whose argv satisfies `match`. */
export function processesWhere(match: (argv: string[]) => boolean): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = argvOf(Number(entry));
    if (argv.length && match(argv) && processStartTime(Number(entry)) !== null) found.push(Number(entry));
  }
  return found;
}

export interface RunAsUserOptions {
  /** Written to the child's stdin then closed (a secret goes here, never in argv/env). */
  input?: Buffer;
  timeoutMs?: number;
  /** New session, not killed with us: for daemons that outlive the caller. */
  detached?: boolean;
  cwd?: string;
  /** Called with each chunk of stdout (progress lines). */
  onStdout?: (chunk: Buffer) => void;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment a login gives a user: nothing of ours (no secrets, no PAM items). */
export function loginEnvironment(user: UserAccount): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    SHELL: user.shell,
    LANG: 'C.UTF-8',
  };
}

export interface RunOptions extends RunAsUserOptions {
  /** Default: ours. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs argv (a program and its arguments, no shell) and resolves with its exit
 * and output once its pipes close; rejects only when it cannot start (its
 * error's code is ENOENT when the program is not installed).
 */
export function runCommand(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  return start(argv, opts, 'close');
}

/** runCommand, blocking: for the few callers that are synchronous. */
export function runCommandSync(argv: string[], opts: { input?: Buffer; env?: NodeJS.ProcessEnv } = {}): RunResult {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    env: opts.env,
    input: opts.input,
    encoding: 'utf8',
    stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs argv as the user (uid, gid and supplementary groups via setpriv
 * --init-groups). Resolves on the child's exit, not on the close of its pipes,
 * because a daemon it forks may keep them open.
 */
export function runAsUser(user: UserAccount, argv: string[], opts: RunAsUserOptions = {}): Promise<RunResult> {
  const asRoot = process.getuid?.() === 0;
  const full = asRoot ? ['setpriv', '--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', ...argv] : argv;
  return start(full, { ...opts, env: loginEnvironment(user), cwd: opts.cwd ?? '/' }, 'exit');
}

/**
 * What root keeps of a child's stdout or stderr: its last bytes, at most this
 * many. A user's worker can print without end (it runs as the user, who may
 * ptrace it); its result is its last line, which the tail keeps.
 */
export const OUTPUT_KEPT_BYTES = 16 << 20;

/** The last OUTPUT_KEPT_BYTES (or so: whole chunks) of a stream. */
class OutputTail {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  push(c: Buffer): void {
    this.chunks.push(c);
    this.bytes += c.length;
    while (this.bytes > OUTPUT_KEPT_BYTES && this.chunks.length > 1) this.bytes -= this.chunks.shift()!.length;
    if (this.bytes > OUTPUT_KEPT_BYTES) {
      const only = this.chunks[0]!;
      this.chunks[0] = only.subarray(only.length - OUTPUT_KEPT_BYTES);
      this.bytes = OUTPUT_KEPT_BYTES;
    }
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

function start(argv: string[], opts: RunOptions, settleOn: 'exit' | 'close'): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: opts.env,
      cwd: opts.cwd,
      detached: opts.detached ?? false,
      stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const out = new OutputTail();
    const err = new OutputTail();
    child.stdout!.on('data', (c: Buffer) => {
      out.push(c);
      opts.onStdout?.(c);
    });
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
      }, opts.timeoutMs);
    }
    const result = (code: number | null, signal: NodeJS.Signals | null): RunResult => ({
      code,
      signal,
      stdout: out.text(),
      stderr: err.text(),
    });
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    if (settleOn === 'close') {
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        resolve(result(code, signal));
      });
    } else {
      child.on('exit', (code, signal) => {
        if (timer) clearTimeout(timer);
        // give already-written output a moment, then let go of pipes a daemon may hold
        setImmediate(() => {
          child.stdout!.destroy();
          child.stderr!.destroy();
          if (opts.detached) child.unref();
          resolve(result(code, signal));
        });
      });
    }
    if (opts.input) {
      child.stdin!.on('error', () => {
        /* child exited before reading: reported by its exit code */
      });
      child.stdin!.end(opts.input);
    }
  });
}
