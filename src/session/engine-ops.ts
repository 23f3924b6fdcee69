// The engine, driven through its CLI and always as the user: the mount daemon
// must run with the user's uid, gid and groups, in its own session, holding no
// descriptor of the PAM process and no secret in argv or environment (the key
// comes from the user's keyring; a passphrase, when needed, through stdin).
import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { HomecryptError } from '../errors.js';
import { isFuseMountedAt } from '../os/mounts.js';
import { loginEnvironment, runAsUser } from '../os/processes.js';
import type { UserAccount } from '../os/users.js';

/** bin/homecrypt of this installation (dist/session/ → ../../bin). */
export const HOMECRYPT_BIN = fileURLToPath(new URL('../../bin/homecrypt', import.meta.url));

function cli(args: string[]): string[] {
  return [process.execPath, HOMECRYPT_BIN, ...args];
}

export class EngineCommandError extends HomecryptError {}

function lastLine(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean);
  return (lines[lines.length - 1] ?? '').replace(/^homecrypt: /, '');
}

/**
 * What a failed `homecrypt mount` said last: its error line, with the hint
 * the CLI prints on the line after it (run-program.ts), so that the login's
 * log says what failed, not only what to do about it.
 */
export function lastError(text: string): string {
  const lines = text.trim().split('\n').filter(Boolean);
  const last = lines[lines.length - 1] ?? '';
  const before = lines[lines.length - 2];
  if (last.startsWith('hint: ') && before?.startsWith('homecrypt: ')) return `${before.slice('homecrypt: '.length)} (${last})`;
  return last.replace(/^homecrypt: /, '');
}

/**
 * False when the mount is stale: its daemon died (killed, crashed) and every
 * access gives ENOTCONN, or ECONNABORTED while the dead daemon's last
 * descriptors are still closing. Checked as the user: root cannot enter the
 * mount.
 */
export async function mountIsAlive(user: UserAccount, mountPoint: string): Promise<boolean> {
  const r = await runAsUser(user, ['stat', '-c', '%i', '--', mountPoint], { timeoutMs: 10_000 });
  return !(r.code !== 0 && /not connected|connection abort/i.test(r.stderr));
}

export const MOUNT_LOG_DIR = '/run/homecrypt/log';
/** what a mount log keeps of earlier mounts: each one appends to it, and /run is RAM */
export const MOUNT_LOG_KEEP = 64 * 1024;

/**
 * Opens the daemon's log for appending, first cut to its last MOUNT_LOG_KEEP
 * bytes. Root's own folder, and no symlink followed all the same.
 */
export function openMountLog(file: string): number {
  const { O_RDWR, O_APPEND, O_CREAT, O_NOFOLLOW } = constants;
  const fd = openSync(file, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600);
  try {
    const size = fstatSync(fd).size;
    if (size > MOUNT_LOG_KEEP) {
      const tail = Buffer.alloc(MOUNT_LOG_KEEP);
      const n = readSync(fd, tail, 0, MOUNT_LOG_KEEP, size - MOUNT_LOG_KEEP);
      ftruncateSync(fd, 0);
      writeSync(fd, tail, 0, n); // O_APPEND: at the new end, as a daemon still writing there does
    }
    return fd;
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Mounts as the user with the key already in their keyring. The process that
 * mounts is the daemon itself (`homecrypt mount --foreground`, a new session,
 * not waited for): one program start less than a daemonizing mount, which a
 * login feels. Its output goes to a root-only log file, never to our pipes:
 * pam_exec waits for EOF on its stdout, which a daemon holding it would never
 * give. Ready means: the FUSE mount is in the mount table.
 */
export async function mountAsUser(user: UserAccount, lower: string, mountPoint: string, keyStore: string, timeoutMs = 30_000): Promise<void> {
  mkdirSync(MOUNT_LOG_DIR, { recursive: true, mode: 0o700 });
  const logFile = join(MOUNT_LOG_DIR, `${user.name}.log`);
  const fd = openMountLog(logFile);
  const logStart = fstatSync(fd).size;
  try {
    const argv = cli(['mount', lower, mountPoint, '--keystore', keyStore, '--foreground']);
    const asRoot = process.getuid?.() === 0;
    const child = spawn(
      asRoot ? 'setpriv' : argv[0]!,
      asRoot ? ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', ...argv] : argv.slice(1),
      { env: loginEnvironment(user), cwd: '/', detached: true, stdio: ['ignore', fd, fd] },
    );
    let exited: number | null | undefined;
    let spawnError: Error | undefined;
    child.on('exit', (code) => {
      exited = code;
    });
    child.on('error', (e) => {
      spawnError = e;
    });
    const end = Date.now() + timeoutMs;
    while (!isFuseMountedAt(mountPoint)) {
      if (spawnError) throw new EngineCommandError(`homecrypt mount could not start: ${spawnError.message}`);
      if (exited !== undefined || Date.now() > end) {
        if (exited === undefined) child.kill('SIGKILL');
        const out = readLogSince(logFile, logStart);
        throw new EngineCommandError(
          `mounting ${mountPoint} failed: ${lastError(out) || (exited === undefined ? `not ready after ${timeoutMs / 1000} s` : `exit ${exited}`)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    child.unref();
  } finally {
    closeSync(fd);
  }
}

/** At most the last 64 KiB written since `offset`: the daemon (the user) decides how long the log is. */
function readLogSince(file: string, offset: number): string {
  const MAX = 64 * 1024;
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const from = Math.max(offset, size - MAX);
    const buf = Buffer.alloc(Math.max(0, size - from));
    const n = readSync(fd, buf, 0, buf.length, from);
    return buf.subarray(0, n).toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Unmounts the user's mount AS THE USER (fusermount checks the mount is
 * theirs): root unmounting a path inside a home could be pointed, through a
 * symlink swapped in at the right moment, at any other mount. A busy mount
 * (a process still inside) is detached lazily; its daemon exits when released.
 */
export async function unmountAsUser(user: UserAccount, mountPoint: string): Promise<'unmounted' | 'detached' | 'not-mounted'> {
  if (!isFuseMountedAt(mountPoint)) return 'not-mounted';
  const plain = await runAsUser(user, ['fusermount', '-u', '--', mountPoint], { timeoutMs: 30_000 });
  if (plain.code === 0 || !isFuseMountedAt(mountPoint)) return 'unmounted';
  const lazy = await runAsUser(user, ['fusermount', '-u', '-z', '--', mountPoint], { timeoutMs: 30_000 });
  if (lazy.code === 0 || !isFuseMountedAt(mountPoint)) return 'detached';
  throw new EngineCommandError(`cannot unmount ${mountPoint}: ${lastLine(lazy.stderr || plain.stderr)}`);
}
