// The engine, driven through its CLI and always as the user: the mount daemon
// must run with the user's uid, gid and groups, in its own session, holding no
// descriptor of the PAM process and no secret in argv or environment (the key
// comes from the user's keyring; a passphrase, when needed, through stdin).
import { closeSync, openSync, readFileSync, unlinkSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
 * Mounts as the user with the key already in their keyring, detached from us.
 * The daemon's output goes to a file, never to our pipes: pam_exec waits for
 * EOF on its stdout, which a daemon holding it would never give.
 */
export async function mountAsUser(user: UserAccount, lower: string, mountPoint: string, keyStore: string, timeoutMs = 30_000): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'homecrypt-mount-'));
  const logFile = join(dir, 'out');
  const fd = openSync(logFile, 'w+', 0o600);
  try {
    const argv = cli(['mount', lower, mountPoint, '--keystore', keyStore]);
    const asRoot = process.getuid?.() === 0;
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(asRoot ? 'setpriv' : argv[0]!,
        asRoot ? ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', ...argv] : argv.slice(1),
        { env: loginEnvironment(user), cwd: '/', detached: true, stdio: ['ignore', fd, fd] });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', (e) => { clearTimeout(timer); reject(e); });
      child.on('exit', (c) => { clearTimeout(timer); resolve(c); });
      child.unref();
    });
    if (code !== 0 || !isFuseMountedAt(mountPoint)) {
      const out = readFileSync(logFile, 'utf8');
      throw new EngineCommandError(`homecrypt mount failed: ${lastLine(out) || `exit ${code}`}`);
    }
  } finally {
    closeSync(fd);
    try { unlinkSync(logFile); rmdirSync(dir); } catch { /* best effort */ }
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
