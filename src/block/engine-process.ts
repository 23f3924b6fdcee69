// Starting and stopping the userspace engine daemon. The volume key goes to
// it on a pipe; readiness comes back on another (fd 3), so `block open`
// returns only once the FUSE file is being served. Its FUSE directory is its one
// argument (nothing secret), so an engine whose record was lost is still found.
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HomecryptError, InterruptedError } from '../errors.js';
import { processesWhere } from '../os/processes.js';
import type { EngineConfig } from './engine-main.js';

const ENGINE_MAIN = fileURLToPath(new URL('./engine-main.js', import.meta.url));

/**
 * Starts the engine; `onSpawn` gets its pid at once (before it is ready), so
 * the caller can record it before anything can interrupt.
 */
export async function startEngine(config: EngineConfig, key: Buffer, logFile: string, onSpawn: (pid: number) => void = () => undefined): Promise<number> {
  const logFd = openSync(logFile, 'a', 0o600);
  const child = spawn(process.execPath, [ENGINE_MAIN, config.fuseDir], {
    detached: true,
    cwd: '/', // never hold the caller's working directory busy
    stdio: ['pipe', 'ignore', logFd, 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: 'C',
      // benchmarks only: 0 turns the kernel's writeback cache off (docs/BENCHMARKS.md)
      ...(process.env.HOMECRYPT_BLOCK_WRITEBACK ? { HOMECRYPT_BLOCK_WRITEBACK: process.env.HOMECRYPT_BLOCK_WRITEBACK } : {}),
      // benchmarks only: 1 keeps the sector cipher on Node's crypto (no libcrypto XTS)
      ...(process.env.HOMECRYPT_NODE_CRYPTO ? { HOMECRYPT_NODE_CRYPTO: process.env.HOMECRYPT_NODE_CRYPTO } : {}),
    },
  });
  closeSync(logFd);
  if (child.pid) onSpawn(child.pid);
  const status = child.stdio[3] as NodeJS.ReadableStream;
  const answer = new Promise<string>((res) => {
    let text = '';
    status.on('data', (d: Buffer) => {
      text += d.toString();
    });
    status.on('end', () => res(text.trim()));
    status.on('error', () => res(text.trim()));
    child.on('exit', (code) => res(text.trim() || `exited with status ${code}`));
  });
  const killedBy = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
  // an engine gone before it read its key (stopped by a Ctrl-C's undo, or crashed) fails this write
  // with EPIPE: its exit above is what reports it; unheard, the error crashed `block open` (exit 1)
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(Buffer.concat([Buffer.from(`${JSON.stringify(config)}\n`), key]));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const line = await answer;
  clearTimeout(timer);
  if (line !== 'ready') {
    child.kill('SIGKILL');
    // the user's Ctrl-C reached the engine too (between its fork and its setsid it is still in our
    // process group): the interruption is the reason, whether or not our own handler has run yet
    if ((await killedBy) === 'SIGINT') throw new InterruptedError();
    throw new HomecryptError(`the userspace engine did not start: ${line.replace(/^error /, '')} (log: ${logFile})`);
  }
  child.unref();
  (child.stdio[3] as unknown as { destroy(): void }).destroy();
  return child.pid!;
}

/** True when `pid` is a running homecrypt engine (not a recycled pid). */
export function engineAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmd.includes('engine-main.js')) return false;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** Engines (any homecrypt build's engine-main.js) started for `fuseDir`, whether or not a record names them. */
export function enginesFor(fuseDir: string): number[] {
  return processesWhere((argv) => (argv[1] ?? '').endsWith('/engine-main.js') && argv[2] === fuseDir);
}

/** SIGTERM, then wait up to `ms` for it to go; SIGKILL after that. */
export async function stopEngine(pid: number, ms = 10_000): Promise<void> {
  if (!engineAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const t0 = Date.now();
  while (engineAlive(pid) && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 50));
  if (engineAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
