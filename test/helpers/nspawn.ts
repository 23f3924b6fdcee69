// A booted Debian for login tests: `systemd-nspawn -b` of a throwaway copy
// (overlayfs) of a cached debootstrap root, so systemd is PID 1 with logind,
// pam_systemd and user@UID.service, as on a real machine. It shares the host's
// network (its sshd listens on a loopback port only) and the host's kernel
// keyring (same user namespace: give its users uids of their own), and has
// /dev/fuse bound in. The copy survives a poweroff: `boot()` again is a reboot.
//
// nspawn's default seccomp filter makes every keyring call fail with EPERM
// inside the container; the filter is widened for them (see boot()).
// No machined here (systemd is not PID 1 on the host): nspawn runs with
// --register=no --keep-unit, and commands enter the container with nsenter.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedDebootstrapRoot, type DebootstrapSpec, type RunResult } from './debootstrap.js';

export function nspawnAbsentReason(): string | null {
  if (process.getuid?.() !== 0) return 'not running as root';
  if (spawnSync('systemd-nspawn', ['--version'], { stdio: 'ignore' }).status !== 0)
    return 'systemd-nspawn is not installed (Debian systemd-container; ./run installs it)';
  if (spawnSync('nsenter', ['--version'], { stdio: 'ignore' }).status !== 0) return 'nsenter is not installed (util-linux)';
  return null;
}

export class BootedContainer {
  readonly root: string;
  readonly name: string;
  private readonly base: string;
  private child: ChildProcess | null = null;
  private leader = 0;
  private exited: Promise<number> = Promise.resolve(0);

  private constructor(base: string, cached: string) {
    this.base = base;
    this.root = join(base, 'root');
    this.name = `hc-${base
      .slice(-6)
      .toLowerCase()
      .replace(/[^a-z0-9]/g, 'x')}`;
    for (const d of ['root', 'upper', 'work']) mkdirSync(join(base, d));
    const r = spawnSync(
      'mount',
      ['-t', 'overlay', 'overlay', '-o', `lowerdir=${cached},upperdir=${join(base, 'upper')},workdir=${join(base, 'work')}`, this.root],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`overlay mount failed: ${r.stderr}`);
  }

  /** A fresh copy of the cached root of `spec` (built on first use), not yet booted. */
  static create(spec: DebootstrapSpec): BootedContainer {
    const cached = cachedDebootstrapRoot(spec);
    BootedContainer.removeStale();
    const base = mkdtempSync('/tmp/homecrypt-nspawn-');
    writeFileSync(join(base, 'owner.pid'), `${process.pid}\n`);
    return new BootedContainer(base, cached);
  }

  private static removeStale(): void {
    for (const n of readdirSync('/tmp').filter((x) => x.startsWith('homecrypt-nspawn-'))) {
      const base = join('/tmp', n);
      let pid: number;
      try {
        pid = Number(readFileSync(join(base, 'owner.pid'), 'utf8'));
      } catch {
        continue;
      }
      if (pid > 0 && spawnSync('kill', ['-0', String(pid)]).status === 0) continue;
      spawnSync('umount', ['-l', join(base, 'root')], { stdio: 'ignore' });
      rmSync(base, { recursive: true, force: true });
    }
  }

  /** Host path of a path inside the container. */
  path(inside: string): string {
    return join(this.root, inside);
  }

  /** Boots (or boots again after a poweroff) and waits until systemd says the system runs. */
  async boot(timeoutMs = 240_000): Promise<string> {
    const log = openSync(join(this.base, 'console.log'), 'a');
    const child = spawn(
      'systemd-nspawn',
      [
        '-q',
        '-D',
        this.root,
        '-b',
        '--register=no',
        '--keep-unit',
        `--machine=${this.name}`,
        '--bind=/dev/fuse',
        // nspawn's seccomp filter refuses the keyring calls (EPERM: keyrings are not
        // namespaced); a booted machine has no such filter, and logins need them
        '--system-call-filter=add_key keyctl request_key',
      ],
      { stdio: ['ignore', log, log], env: { ...process.env, SYSTEMD_LOG_LEVEL: 'info' } },
    );
    closeSync(log);
    this.child = child;
    this.exited = new Promise((res) => child.on('exit', (code, sig) => res(code ?? (sig ? 128 : -1))));
    const end = Date.now() + timeoutMs;
    while (Date.now() < end && !this.leader) {
      if (child.exitCode !== null) throw new Error(`systemd-nspawn exited ${child.exitCode}:\n${this.consoleTail()}`);
      this.leader = this.findLeader(child.pid!);
      if (!this.leader) await new Promise((r) => setTimeout(r, 200));
    }
    if (!this.leader) throw new Error(`the container's systemd did not start:\n${this.consoleTail()}`);
    let state = '';
    while (Date.now() < end) {
      state = this.sh('systemctl is-system-running').stdout.trim();
      if (state === 'running' || state === 'degraded') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    return state;
  }

  /** PID (on the host) of the container's PID 1: the process named systemd below nspawn. */
  private findLeader(nspawnPid: number): number {
    const below = (pid: number): number[] => {
      try {
        return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    const queue = below(nspawnPid);
    while (queue.length) {
      const p = queue.shift()!;
      try {
        if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'systemd') return p;
      } catch {
        /* gone */
      }
      queue.push(...below(p));
    }
    return 0;
  }

  consoleTail(lines = 40): string {
    try {
      return readFileSync(join(this.base, 'console.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** A shell command inside the booted container, as root (nsenter into its namespaces). */
  sh(command: string, opts: { input?: string; timeoutMs?: number } = {}): RunResult {
    const r = spawnSync('nsenter', ['-t', String(this.leader), '-m', '-u', '-i', '-n', '-p', '--', '/bin/sh', '-c', command], {
      input: opts.input,
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 << 20,
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        HOME: '/root',
        LANG: 'C.UTF-8',
        DEBIAN_FRONTEND: 'noninteractive',
        TERM: 'dumb',
      },
    });
    return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
  }

  must(command: string, opts: { input?: string; timeoutMs?: number } = {}): string {
    const r = this.sh(command, opts);
    if (r.code !== 0) throw new Error(`in the container: \`${command}\` exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  /** `systemctl poweroff` inside, and waits for nspawn to exit (a clean shutdown, or the reason). */
  async poweroff(timeoutMs = 180_000): Promise<number> {
    if (!this.child || this.child.exitCode !== null) return this.child?.exitCode ?? 0;
    this.sh('systemctl poweroff --no-block');
    const t = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(t);
    this.leader = 0;
    return code;
  }

  /** Stops the container if it runs, and removes the copy. */
  async dispose(): Promise<void> {
    await this.poweroff(60_000).catch(() => undefined);
    const root = this.root;
    const below = () =>
      readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4])
        .filter((p) => p && (p === root || p.startsWith(`${root}/`)))
        .sort((a, b) => b.length - a.length);
    for (const m of below()) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    if (below().length === 0) rmSync(this.base, { recursive: true, force: true });
  }
}
