// The target root the installer suite installs into: the debootstrap root the
// package suite also uses (the same list, HOMECRYPT_TARGET_PACKAGES, so one
// cached root serves both), as a throwaway overlay per test file. Accounts in
// the target get uids far from the host's and from each other's (each file has
// its own range), because kernel keyrings are per uid, not per chroot.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll } from 'vitest';
import { ChrootSession, debootstrapAbsentReason } from '../helpers/debootstrap.js';
import { HOMECRYPT_TARGET_PACKAGES } from '../helpers/debootstrap-roots.js';

const REPO = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..');

/**
 * A frozen copy of this checkout's build (bin, dist, pam, systemd, package
 * files; node_modules linked), so the installer copies one stable build even
 * while the shared tree is being recompiled, as it would be on an install medium.
 */
function freezeBuild(): string {
  const dir = mkdtempSync('/tmp/homecrypt-installer-build-');
  for (const part of ['bin', 'dist', 'pam', 'systemd', 'package.json', 'package-lock.json']) {
    if (existsSync(join(REPO, part))) cpSync(join(REPO, part), join(dir, part), { recursive: true });
  }
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  // removed after the test file that imported this (a process 'exit' handler
  // never ran: vitest's forks pool ends its workers with a signal, and every
  // run left a copy in /tmp)
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const FROZEN = freezeBuild();
export const HOMECRYPT = join(FROZEN, 'bin/homecrypt');

export { debootstrapAbsentReason };

export function openTarget(uidBase: number): ChrootSession {
  const s = ChrootSession.open({ packages: [...HOMECRYPT_TARGET_PACKAGES] });
  const defs = s.path('/etc/login.defs');
  writeFileSync(
    defs,
    readFileSync(defs, 'utf8')
      .replace(/^UID_MIN\s.*$/m, `UID_MIN ${uidBase}`)
      .replace(/^GID_MIN\s.*$/m, `GID_MIN ${uidBase}`)
      .replace(/^UID_MAX\s.*$/m, `UID_MAX ${uidBase + 900}`)
      .replace(/^GID_MAX\s.*$/m, `GID_MAX ${uidBase + 900}`),
  );
  return s;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs bin/homecrypt on the host, with an optional secret on fd 3. */
export function homecrypt(args: string[], opts: { fd3?: string; timeoutMs?: number; onSpawn?: (pid: number) => void } = {}): Promise<CliResult> {
  return new Promise((res) => {
    const stdio: Array<'pipe' | 'ignore'> = ['ignore', 'pipe', 'pipe'];
    if (opts.fd3 !== undefined) stdio.push('pipe');
    const child = spawn(HOMECRYPT, args, { stdio });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 240_000);
    if (opts.fd3 !== undefined) {
      const fd3 = child.stdio[3] as NodeJS.WritableStream;
      fd3.on('error', () => {
        /* the command may exit before reading it */
      });
      fd3.end(opts.fd3);
    }
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code: code ?? 128, stdout, stderr });
    });
  });
}

/** Host paths of everything mounted at or below `root`. */
export function mountsBelow(root: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p && (p === root || p.startsWith(`${root}/`)));
}
