// Shared steps of the login scenarios: a homecrypt user set up through the real
// CLI, and what "unlocked" and "locked" mean, checked against the kernel.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { asUser, type TestUser } from '../helpers/users.js';
import { until } from '../helpers/wait.js';

export const BIN = new URL('../../bin/homecrypt', import.meta.url).pathname;

export function homecrypt(args: string[], input?: string, extraFds?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', timeout: 120_000 });
  void extraFds;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `homecrypt setup --user U --home` run as a crash or a second Ctrl-C would
 * meet it: detached (its own process group, so its user workers too), the
 * password on its stdin, and sent `signal` the moment `when()` holds (polled
 * every 2 ms, for a minute at most). After SIGKILL it has exited when this
 * resolves; after SIGSTOP the caller looks around and kills it.
 */
export async function setupHomeStoppedWhen(
  u: TestUser,
  when: () => boolean,
  signal: 'SIGKILL' | 'SIGSTOP' = 'SIGKILL',
  kdfTime = '0.05',
): Promise<ChildProcess> {
  const run = spawn(process.execPath, [BIN, 'setup', '--user', u.name, '--home', '--passphrase-fd', '0', '--kdf-time', kdfTime], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const exited = new Promise((r) => run.on('exit', r));
  run.stdin!.end(`${u.password}\n`);
  const deadline = Date.now() + 60_000;
  while (!when() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  process.kill(-run.pid!, signal);
  if (signal === 'SIGKILL') await exited;
  return run;
}

/** homecrypt setup for the user, with the login password on stdin (fd 0). */
export function setupUser(u: TestUser, mode: 'home' | 'private'): { keyId: string; recoveryKey: string; stdout: string; stderr: string } {
  const r = homecrypt(['setup', '--user', u.name, `--${mode}`, '--passphrase-fd', '0', '--kdf-time', '0.05'], `${u.password}\n`);
  if (r.code !== 0) throw new Error(`setup failed (${r.code}): ${r.stderr}`);
  const rec = JSON.parse(readFileSync(`/etc/homecrypt/users/${u.name}.json`, 'utf8')) as { keyId: string };
  const m = /^\s+([0-9A-Z]{5}(?:-[0-9A-Z]{5})+)\s*$/m.exec(r.stdout);
  return { keyId: rec.keyId, recoveryKey: m?.[1] ?? '', stdout: r.stdout, stderr: r.stderr };
}

/** The pids of the user's mount daemons (`homecrypt mount`, running as the user). */
export function mountDaemonsOf(u: TestUser): number[] {
  return spawnSync('pgrep', ['-u', String(u.uid), '-f', 'homecrypt mount'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)
    .map(Number);
}

export function isMounted(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === path && /\s-\sfuse/.test(l));
}

/** What the user's own keyring holds (as the kernel shows it to the user). */
export function userKeys(u: TestUser): string {
  return asUser(u, 'keyctl show @u').stdout;
}

/** A login's steps are slower than an engine's: a longer deadline, checked every 100 ms. */
export function waitFor(what: string, cond: () => boolean, ms = 40_000): Promise<void> {
  return until(what, cond, ms, 100);
}

/** Every regular file under dir, recursively. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** True when no lower file name or content contains `plain`. */
export function lowerHidesText(lower: string, plain: string): boolean {
  for (const f of filesUnder(lower)) {
    if (f.includes(plain)) return false;
    if (readFileSync(f).includes(Buffer.from(plain))) return false;
  }
  return true;
}

/** What the hook logged about `user` (/var/log/homecrypt.log; syslog gets the same lines). */
export function hookLog(user: string): string {
  try {
    return readFileSync('/var/log/homecrypt.log', 'utf8')
      .split('\n')
      .filter((l) => l.includes(` ${user}: `))
      .join('\n');
  } catch {
    return '';
  }
}

/** The whole hook log (to check that no secret ever reaches it). */
export function wholeHookLog(): string {
  try {
    return readFileSync('/var/log/homecrypt.log', 'utf8');
  } catch {
    return '';
  }
}
